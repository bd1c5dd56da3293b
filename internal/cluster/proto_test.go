package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// collect parses input fed in pieces of the given sizes (cycled) and
// renders every operation as one line of text.
func collect(input []byte, pieces []int) (string, error) {
	var p parser
	var out bytes.Buffer
	fn := func(o *op) error {
		fmt.Fprintf(&out, "%d %q %q %q %q %q %q %v %v %q %d %q\n", o.kind, o.arg, o.account, o.routeSubject, o.subject, o.reply, o.queue, o.plain, o.clientsOnly, o.queues, o.hdrLen, o.data)
		return nil
	}
	for i := 0; len(input) > 0; i++ {
		n := len(input)
		if len(pieces) > 0 {
			n = min(max(pieces[i%len(pieces)], 1), len(input))
		}
		if err := p.feed(input[:n], fn); err != nil {
			return out.String(), err
		}
		input = input[n:]
	}
	return out.String(), nil
}

func TestParseOps(t *testing.T) {
	var in []byte
	in = append(in, "INFO {\"cluster\":\"c1\"}\r\nPING\r\nPONG\r\n"...)
	in = appendSub(in, true, "$G", "orders.>", "")
	in = appendSub(in, false, "A", "work", "q1")
	in = appendMsg(in, "$G", []byte("orders.1"), []byte("orders.1"), []byte("_INBOX.x"), true, false, []string{"q1", "q2"}, []byte("NATS/1.0\r\n\r\n"), []byte("hello"))
	in = appendMsg(in, "$G", []byte("a"), []byte("a"), nil, false, true, []string{"q"}, nil, nil)
	in = append(in, "ERR go away\r\n"...)
	in = append(in, "RMSG $G b - cp 0 0\r\n\r\n"...)
	in = appendMsg(in, "A", []byte("_INBOX.deliver"), []byte("$KV.b.k"), []byte("$JS.ACK.x"), true, true, nil, []byte("NATS/1.0\r\n\r\n"), []byte("v"))
	in = appendFwd(in, "$G", []byte("$JS.API.STREAM.INFO.KV_b"), []byte("_INBOX.r"), nil, []byte("{}"))
	in = appendFwd(in, "B", []byte("x"), nil, []byte("NATS/1.0\r\n\r\n"), nil)
	in = appendRaft(in, []byte("raft\r\nframe"))
	in = appendRaft(in, nil)
	whole, err := collect(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count([]byte(whole), []byte("\n")); n != 14 {
		t.Fatalf("parsed %d operations:\n%s", n, whole)
	}
	for _, want := range []string{
		`"A" "_INBOX.deliver" "$KV.b.k" "$JS.ACK.x" "" true true [] 12 "NATS/1.0\r\n\r\nv"`,
		`"$G" "$JS.API.STREAM.INFO.KV_b" "$JS.API.STREAM.INFO.KV_b" "_INBOX.r" "" false false [] 0 "{}"`,
		`"" "" "" "" "" false false [] 0 "raft\r\nframe"`,
	} {
		if !bytes.Contains([]byte(whole), []byte(want)) {
			t.Fatalf("missing %s in\n%s", want, whole)
		}
	}
	for _, sizes := range [][]int{{1}, {2, 3}, {7}, {100}} {
		got, err := collect(in, sizes)
		if err != nil || got != whole {
			t.Fatalf("split %v: %v\n%s\nwant\n%s", sizes, err, got, whole)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"HELLO\r\n",
		"RS+ onlyaccount\r\n",
		"RS+ a b c d\r\n",
		"RMSG $G s - p 1\r\n",
		"RMSG $G s - p 5 2\r\nab\r\n",
		"RMSG $G s - x 0 2\r\nab\r\n",
		"RMSG $G s - p 0 2\r\nabcd\r\n",
		"RMSG $G s - p 0 999999999999\r\n",
		"RMSGAS $G r s - p 0\r\n",
		"RMSGAS $G r s - z 0 0\r\n\r\n",
		"RMSG $G s - pp 0 0\r\n\r\n",
		"RMSG $G s - cpc 0 0\r\n\r\n",
		"RMSG $G s - p- 0 0\r\n\r\n",
		"RFWD $G s - 0\r\n",
		"RFWD $G s - 0 2 q\r\nab\r\n",
		"RFWD $G s - 3 2\r\nab\r\n",
		"RFWD $G s - 0 2\r\nabc\r\n",
		"RAFT\r\n",
		"RAFT 1 2\r\nab\r\n",
		"RAFT -1\r\n",
		"RAFT 2\r\nabc\r\n",
	} {
		if _, err := collect([]byte(in), nil); !errors.Is(err, ErrProtocol) {
			t.Errorf("%q: err = %v, want a protocol error", in, err)
		}
	}
}

// FuzzParser feeds arbitrary input whole and split at a second point;
// the parser must never panic and must give the same operations.
func FuzzParser(f *testing.F) {
	f.Add([]byte("PING\r\nRS+ $G foo.* q\r\nRMSG $G foo.bar _R p 0 3 q\r\nabc\r\n"), 3)
	f.Add([]byte("RMSGAS $G _INBOX.d $KV.b.k - p 12 13 q\r\nNATS/1.0\r\n\r\nv\r\n"), 20)
	f.Add([]byte("RFWD $G $JS.API.INFO _INBOX.r 0 2\r\n{}\r\nRAFT 5\r\na\r\nbc\r\n"), 30)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		whole, err1 := collect(in, nil)
		var got string
		var err2 error
		if split > 0 && split < len(in) {
			got, err2 = collect(in, []int{split, len(in)})
		} else {
			got, err2 = whole, err1
		}
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole: %v, split at %d: %v", err1, split, err2)
		}
		if err1 == nil && got != whole {
			t.Fatalf("split at %d changed the operations:\n%s\nwant\n%s", split, got, whole)
		}
	})
}
