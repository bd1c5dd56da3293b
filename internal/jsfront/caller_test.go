package jsfront

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cairn-db/cairn/internal/jsapi"
)

func TestStripCaller(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"NATS/1.0\r\n\r\n", "NATS/1.0\r\n\r\n"},
		{"NATS/1.0\r\nX: y\r\n\r\n", "NATS/1.0\r\nX: y\r\n\r\n"},
		{"NATS/1.0\r\nCairn-Caller: {}\r\n\r\n", "NATS/1.0\r\n\r\n"},
		{"NATS/1.0\r\ncairn-caller: {}\r\nX: y\r\n\r\n", "NATS/1.0\r\nX: y\r\n\r\n"},
		{"NATS/1.0\r\nCAIRN-CALLER:{}\r\nX: y\r\nCairn-Caller: x\r\n\r\n", "NATS/1.0\r\nX: y\r\n\r\n"},
		{"NATS/1.0\r\nCairn-Caller:\r\n\r\n", "NATS/1.0\r\n\r\n"},
		{"NATS/1.0 503 No Responders\r\nCairn-Caller: {}\r\n\r\n", "NATS/1.0 503 No Responders\r\n\r\n"},
		{"NATS/1.0 100 Idle Heartbeat\r\nX: Cairn-Caller: {}\r\n\r\n", "NATS/1.0 100 Idle Heartbeat\r\nX: Cairn-Caller: {}\r\n\r\n"},
		{"NATS/1.0\r\nCairn-Callers: {}\r\n\r\n", "NATS/1.0\r\nCairn-Callers: {}\r\n\r\n"},
		{"NATS/1.0\r\nCairn-Caller: {}", "NATS/1.0"},
		{"Cairn-Caller: {}\r\n\r\n", "\r\n"},
	} {
		if got := stripCaller([]byte(tc.in)); string(got) != tc.want {
			t.Errorf("stripCaller(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// No copy when there is nothing to strip; a copy otherwise.
	in := []byte("NATS/1.0\r\nX: y\r\n\r\n")
	if got := stripCaller(in); &got[0] != &in[0] {
		t.Error("copied a header without Cairn-Caller")
	}
	in = []byte("NATS/1.0\r\nCairn-Caller: {}\r\nX: y\r\n\r\n")
	orig := string(in)
	_ = stripCaller(in)
	if string(in) != orig {
		t.Error("stripCaller changed its argument")
	}
}

func TestWithCaller(t *testing.T) {
	rc := &jsapi.RecordedCaller{AnsweredOn: map[string]bool{"d": true}, SubscribeAll: map[string]bool{"s.>": false}}
	enc, _ := json.Marshal(rc)
	line := "Cairn-Caller: " + string(enc) + "\r\n"
	for _, tc := range []struct {
		in   string
		rc   *jsapi.RecordedCaller
		want string
	}{
		{"", nil, ""},
		{"", rc, "NATS/1.0\r\n" + line + "\r\n"},
		{"NATS/1.0\r\n\r\n", rc, "NATS/1.0\r\n" + line + "\r\n"},
		{"NATS/1.0\r\nX: y\r\n\r\n", rc, "NATS/1.0\r\nX: y\r\n" + line + "\r\n"},
		{"NATS/1.0 408 Request Timeout\r\nX: y\r\n\r\n", rc, "NATS/1.0 408 Request Timeout\r\nX: y\r\n" + line + "\r\n"},
		{"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"x\":true}}\r\nX: y\r\n\r\n", rc, "NATS/1.0\r\nX: y\r\n" + line + "\r\n"},
		{"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"x\":true}}\r\nX: y\r\n\r\n", nil, "NATS/1.0\r\nX: y\r\n\r\n"},
		{"NATS/1.0\r\nX: y\r\n\r\n", nil, "NATS/1.0\r\nX: y\r\n\r\n"},
	} {
		got := withCaller([]byte(tc.in), tc.rc)
		if string(got) != tc.want {
			t.Errorf("withCaller(%q, %v) = %q, want %q", tc.in, tc.rc != nil, got, tc.want)
		}
	}
}

func TestCallerFrom(t *testing.T) {
	allowAll := &jsapi.RecordedCaller{}
	for _, tc := range []struct {
		hdr    string
		want   *jsapi.RecordedCaller // nil: unrestricted
		refuse bool                  // a caller refusing everything
	}{
		{"", nil, false},
		{"NATS/1.0\r\n\r\n", nil, false},
		{"NATS/1.0\r\nX: y\r\n\r\n", nil, false},
		{"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"d\":true}}\r\n\r\n", &jsapi.RecordedCaller{AnsweredOn: map[string]bool{"d": true}}, false},
		{"NATS/1.0\r\ncairn-caller:{\"pub\":{\"p.>\":true}}\r\n\r\n", &jsapi.RecordedCaller{PublishAll: map[string]bool{"p.>": true}}, false},
		{"NATS/1.0\r\nCairn-Caller: {}\r\n\r\n", allowAll, true},
		{"NATS/1.0\r\nCairn-Caller: {garbled\r\n\r\n", nil, true},
		{"NATS/1.0\r\nCairn-Caller: \r\n\r\n", nil, true},
		{"NATS/1.0\r\nCairn-Caller:\r\n\r\n", nil, true},
		{"NATS/1.0\r\nCairn-Caller: null\r\n\r\n", nil, true},
		{"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"d\":1}}\r\n\r\n", nil, true},
		{"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"d\":true}} trailing\r\n\r\n", nil, true},
		{"NATS/1.0\r\nCairn-Caller: [true]\r\n\r\n", nil, true},
	} {
		got := callerFrom([]byte(tc.hdr))
		if tc.refuse {
			if got == nil {
				t.Errorf("callerFrom(%q) = nil, want a caller refusing everything", tc.hdr)
				continue
			}
			for _, q := range []string{"d", "p.>", ">", ""} {
				if got.MayBeAnsweredOn(q) || got.MayPublishAll(q) || got.MaySubscribeAll(q) {
					t.Errorf("callerFrom(%q) allows %q", tc.hdr, q)
				}
			}
			continue
		}
		if tc.want == nil {
			if got != nil {
				t.Errorf("callerFrom(%q) = %#v, want nil", tc.hdr, got)
			}
			continue
		}
		assertCaller(t, got, tc.want)
	}
}

// FuzzCallerHeader: for any header a client sends and any recorded
// caller, the holder decodes exactly that caller from the forwarded
// header, finds none after stripCaller, and keeps every other line of
// the client's header.
func FuzzCallerHeader(f *testing.F) {
	for _, h := range []string{
		"", "NATS/1.0\r\n\r\n", "NATS/1.0\r\nX: y\r\n\r\n", "NATS/1.0\r\n", "NATS/1.0",
		"NATS/1.0\r\nCairn-Caller: {\"ans\":{\"d\":true}}\r\n\r\n",
		"NATS/1.0\r\ncAiRn-CaLlEr:{}\r\nX: y",
		"NATS/1.0 503\r\n\r\n", "\r\n", "\r\r\n\n", "NATS/1.0\r\nX: a\nCairn-Caller: {}\r\n\r\n",
	} {
		f.Add([]byte(h), "d.x", true, "s.>", false)
	}
	f.Fuzz(func(t *testing.T, hdr []byte, ans string, ansOK bool, sub string, subOK bool) {
		stripped := stripCaller(hdr)
		if callerFrom(stripped) != nil {
			t.Fatalf("stripCaller(%q) = %q still carries a caller", hdr, stripped)
		}
		if again := stripCaller(stripped); !bytes.Equal(again, stripped) {
			t.Fatalf("stripCaller not idempotent on %q", hdr)
		}
		if callerFrom(withCaller(hdr, nil)) != nil {
			t.Fatalf("withCaller(%q, nil) carries a caller", hdr)
		}
		if !utf8.ValidString(ans) || !utf8.ValidString(sub) {
			return // JSON carries subjects as UTF-8 (an invalid one is refused, never allowed)
		}
		rc := &jsapi.RecordedCaller{AnsweredOn: map[string]bool{ans: ansOK}, SubscribeAll: map[string]bool{sub: subOK}}
		out := withCaller(hdr, rc)
		got, ok := callerFrom(out).(*jsapi.RecordedCaller)
		if !ok || got == nil {
			t.Fatalf("withCaller(%q) = %q: the holder finds no caller", hdr, out)
		}
		if len(got.AnsweredOn) != 1 || got.AnsweredOn[ans] != ansOK || len(got.SubscribeAll) != 1 || got.SubscribeAll[sub] != subOK || len(got.PublishAll) != 0 {
			t.Fatalf("withCaller(%q) = %q: the holder finds %+v, want %+v", hdr, out, got, rc)
		}
		// The client's other lines are all there, in order.
		var kept []string
		for _, l := range strings.Split(string(out), "\r\n") {
			if !isCallerLine(l) {
				kept = append(kept, l)
			}
		}
		rest := strings.Join(kept, "\r\n")
		if s := strings.TrimRight(string(stripped), "\r\n"); !strings.HasPrefix(rest, s) && len(hdr) > 0 {
			t.Fatalf("withCaller(%q) = %q lost the client's lines %q", hdr, out, s)
		}
	})
}

func isCallerLine(l string) bool {
	return len(l) > len(callerHeader) && strings.EqualFold(l[:len(callerHeader)+1], callerHeader+":")
}
