package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder writes each operation as one line of text.
type recorder struct{ ops []string }

func (r *recorder) Connect(a []byte) error { r.ops = append(r.ops, "CONNECT "+string(a)); return nil }
func (r *recorder) Pub(s, rep, h, p []byte) error {
	if h == nil {
		r.ops = append(r.ops, fmt.Sprintf("PUB %s %q %q", s, rep, p))
	} else {
		r.ops = append(r.ops, fmt.Sprintf("HPUB %s %q %q %q", s, rep, h, p))
	}
	return nil
}
func (r *recorder) Sub(s, q, sid []byte) error {
	r.ops = append(r.ops, fmt.Sprintf("SUB %s %q %s", s, q, sid))
	return nil
}
func (r *recorder) Unsub(sid []byte, max int64) error {
	r.ops = append(r.ops, fmt.Sprintf("UNSUB %s %d", sid, max))
	return nil
}
func (r *recorder) Ping() error { r.ops = append(r.ops, "PING"); return nil }
func (r *recorder) Pong() error { r.ops = append(r.ops, "PONG"); return nil }

func parseAll(t testing.TB, in string, chunks []int) ([]string, error) {
	t.Helper()
	p := NewParser(DefaultMaxControlLine, DefaultMaxPayload)
	p.AllowHeaders(true)
	r := &recorder{}
	b := []byte(in)
	for _, n := range chunks {
		n = min(n, len(b))
		if err := p.Parse(b[:n], r); err != nil {
			return r.ops, err
		}
		b = b[n:]
	}
	err := p.Parse(b, r)
	return r.ops, err
}

func TestParserOperations(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		err  error
	}{
		{"PING\r\nPONG\r\n", []string{"PING", "PONG"}, nil},
		{"ping\npong\n", []string{"PING", "PONG"}, nil},
		{"CONNECT {\"verbose\":false}\r\n", []string{`CONNECT {"verbose":false}`}, nil},
		{"PUB foo 5\r\nhello\r\n", []string{`PUB foo "" "hello"`}, nil},
		{"PUB foo bar 0\r\n\r\n", []string{`PUB foo "bar" ""`}, nil},
		{"pub\tfoo  2\r\nhi\r\n", []string{`PUB foo "" "hi"`}, nil},
		{"HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", []string{`HPUB foo "r" "NATS/1.0\r\n\r\n" "hi"`}, nil},
		{"SUB foo 1\r\nSUB foo q 2\r\n", []string{`SUB foo "" 1`, `SUB foo "q" 2`}, nil},
		{"UNSUB 1\r\nUNSUB 2 5\r\nUNSUB 3 x\r\n", []string{"UNSUB 1 0", "UNSUB 2 5", "UNSUB 3 0"}, nil},
		{"+OK\r\nINFO {}\r\nPING\r\n", []string{"PING"}, nil},
		{"FOO\r\n", nil, ErrUnknownOp},
		{"\r\n", nil, ErrUnknownOp},
		{"MSG foo 1 2\r\nhi\r\n", nil, ErrUnknownOp},
		{"UNSUB\r\n", nil, ErrUnknownOp},
		{"PUB foo\r\n", nil, ErrMalformed},
		{"PUB foo x\r\n", nil, ErrMalformed},
		{"PUB foo -1\r\n", nil, ErrMalformed},
		{"PUB a b c 2\r\n", nil, ErrMalformed},
		{"SUB foo\r\n", nil, ErrMalformed},
		{"SUB a b c d\r\n", nil, ErrMalformed},
		{"HPUB foo 12 10\r\n", nil, ErrMalformed},
		{"PUB foo 3\r\nhi\r\nPING\r\n", nil, ErrMissingPayload},
		{"PUB foo 2000000\r\n", nil, ErrMaxPayload},
		{"PUB " + strings.Repeat("x", 5000) + " 2\r\n", nil, ErrControlLine},
		{strings.Repeat("x", 5000), nil, ErrControlLine},
	}
	for _, c := range cases {
		for _, chunks := range [][]int{nil, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 7, 11}} {
			got, err := parseAll(t, c.in, chunks)
			if !errors.Is(err, c.err) {
				t.Errorf("%q split %v: err %v, want %v", c.in, chunks, err, c.err)
				continue
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) && c.err == nil {
				t.Errorf("%q split %v:\n got %q\nwant %q", c.in, chunks, got, c.want)
			}
		}
	}
}

func TestParserHeadersOff(t *testing.T) {
	p := NewParser(DefaultMaxControlLine, DefaultMaxPayload)
	err := p.Parse([]byte("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), &recorder{})
	if !errors.Is(err, ErrNoHeaders) || ErrText(err) != "" {
		t.Fatalf("err = %v", err)
	}
}

func TestErrText(t *testing.T) {
	if ErrText(ErrControlLine) != "maximum control line exceeded" ||
		ErrText(ErrMaxPayload) != "Maximum Payload Violation" ||
		ErrText(ErrUnknownOp) != "Unknown Protocol Operation" ||
		ErrText(fmt.Errorf("%w: x", ErrMalformed)) != "" {
		t.Fatal("wrong error texts")
	}
}

// FuzzParser feeds arbitrary input whole and split at two points; the
// operations decoded must be the same and nothing may panic.
func FuzzParser(f *testing.F) {
	seeds := []string{
		"CONNECT {}\r\nPING\r\n",
		"PUB foo 5\r\nhello\r\nSUB foo q 1\r\nUNSUB 1 2\r\n",
		"HPUB foo r 22 24\r\nNATS/1.0\r\nA: bcd\r\n\r\nhi\r\n",
		"PUB foo 3\r\nhi\r\n",
		"pub a 0\r\n\r\npong\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint16(3), uint16(9))
	}
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		whole, werr := parseAll(t, string(in), nil)
		i, j := int(a)%(len(in)+1), int(b)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		split, serr := parseAll(t, string(in), []int{i, j - i})
		if (werr == nil) != (serr == nil) || fmt.Sprint(whole) != fmt.Sprint(split) {
			// A control line split across reads is measured as a whole,
			// so the results must agree exactly.
			t.Fatalf("whole %q (%v) != split %q (%v)", whole, werr, split, serr)
		}
	})
}

func TestHeader(t *testing.T) {
	h := (&HeaderBuilder{}).Add("Nats-Stream", "KV_x").Add("Nats-Sequence", "5").Bytes()
	if string(h) != "NATS/1.0\r\nNats-Stream: KV_x\r\nNats-Sequence: 5\r\n\r\n" {
		t.Fatalf("built %q", h)
	}
	if v, ok := HeaderValue(h, "Nats-Sequence"); !ok || v != "5" {
		t.Fatalf("HeaderValue = %q %v", v, ok)
	}
	if _, ok := HeaderValue(h, "Nats-Seq"); ok {
		t.Fatal("prefix matched")
	}
	if !ValidHeader(h) || ValidHeader([]byte("abcdefg")) || ValidHeader([]byte("NATS/1.0\r\nnocolon\r\n\r\n")) {
		t.Fatal("ValidHeader wrong")
	}
	s := NewStatusHeader(404, "Message Not Found").Bytes()
	if code, desc := HeaderStatus(s); code != 404 || desc != "Message Not Found" {
		t.Fatalf("status %d %q", code, desc)
	}
	if code, _ := HeaderStatus(h); code != 0 {
		t.Fatal("status on a plain header")
	}
	m := AppendMsg(nil, []byte("foo"), "1", []byte("r"), s, []byte("x"))
	if string(m) != "HMSG foo 1 r 34 35\r\nNATS/1.0 404 Message Not Found\r\n\r\nx\r\n" {
		t.Fatalf("msg %q", m)
	}
}
