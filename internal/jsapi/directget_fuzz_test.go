package jsapi

import (
	"bytes"
	"fmt"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDirectGet sends fuzzed request bodies to $JS.API.DIRECT.GET.S
// and checks the shape of every answer (corpus in
// testdata/fuzz/FuzzDirectGet; run with `go test -fuzz=FuzzDirectGet
// ./internal/jsapi/`): one message or status, or, for batches, messages
// in ascending sequence whose Nats-Last-Sequence chains them, ending
// with exactly one status, a "204 EOB" whose Nats-Last-Sequence is the
// last message's; a multi_last answer never goes beyond its
// Nats-UpTo-Sequence. No panic, no hang.
func FuzzDirectGet(f *testing.F) {
	_, bus := newFuzzAPI(f)
	for i := range 40 {
		hdr := []byte(nil)
		if i%4 == 0 {
			hdr = []byte("NATS/1.0\r\nK: v\r\n\r\n")
		}
		bus.Publish(fmt.Sprintf("s.k%d.x%d", i%7, i%2), "", hdr, []byte(strings.Repeat("v", i)))
	}
	for _, body := range []string{
		`{"multi_last":["s.>"]}`,
		`{"multi_last":["s.k1.*","s.*.x1","s.k1.x0"],"up_to_seq":20,"batch":3}`,
		`{"multi_last":["s.>"],"seq":30,"up_to_seq":40,"max_bytes":10}`,
		`{"multi_last":["s.>"],"up_to_time":"2000-01-01T00:00:00Z"}`,
		`{"multi_last":["s..>","*"],"no_hdr":true}`,
		`{"multi_last":["s.>"],"up_to_seq":18446744073709551615,"batch":-1}`,
		`{"seq":3,"batch":5,"next_by_subj":"s.k2.*","no_hdr":true}`,
		`{"start_time":"2000-01-01T00:00:00Z","batch":100,"max_bytes":50}`,
		`{"multi_last":[],"seq":1}`,
		`{"multi_last":"s.>"}`,
	} {
		f.Add([]byte(body))
	}
	var n int
	f.Fuzz(func(t *testing.T, body []byte) {
		watchdog := time.AfterFunc(10*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("%q hangs:\n%s", body, buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		n++
		reply := fmt.Sprintf("%s%d", fuzzReplyPrefix, n)
		bus.Publish(directGetPrefix+"S", reply, nil, body)
		bus.mu.Lock()
		answers := bus.replies[reply]
		delete(bus.replies, reply)
		bus.mu.Unlock()
		checkDirectAnswers(t, body, answers)
	})
}

// directAnswer is one message of a direct get answer, as recorded by
// the fuzz bus (header block and payload concatenated).
type directAnswer struct {
	status string
	hdr    textproto.MIMEHeader
}

func parseDirectAnswer(t *testing.T, ans []byte) directAnswer {
	t.Helper()
	if !bytes.HasPrefix(ans, []byte("NATS/1.0")) {
		return directAnswer{} // a bare payload (no_hdr)
	}
	end := bytes.Index(ans, []byte("\r\n\r\n"))
	if end < 0 {
		t.Fatalf("header block not closed: %q", ans)
	}
	first, rest, _ := strings.Cut(string(ans[:end+2]), "\r\n")
	a := directAnswer{status: strings.TrimSpace(strings.TrimPrefix(first, "NATS/1.0")), hdr: textproto.MIMEHeader{}}
	for _, line := range strings.Split(strings.TrimSuffix(rest, "\r\n"), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			a.hdr.Add(k, strings.TrimSpace(v))
		}
	}
	return a
}

func checkDirectAnswers(t *testing.T, body []byte, answers [][]byte) {
	t.Helper()
	if len(answers) == 0 {
		t.Fatalf("%q: no answer", body)
	}
	uint64Of := func(a directAnswer, key string) (uint64, bool) {
		v, err := strconv.ParseUint(a.hdr.Get(key), 10, 64)
		return v, err == nil
	}
	var prev uint64
	bare := false // no_hdr messages: nothing to chain
	for i, raw := range answers {
		a := parseDirectAnswer(t, raw)
		last := i == len(answers)-1
		if a.status != "" {
			if !last {
				t.Fatalf("%q: status %q before the end of the answer", body, a.status)
			}
			if len(answers) > 1 && !strings.HasPrefix(a.status, "204") {
				t.Fatalf("%q: %d messages then status %q", body, len(answers)-1, a.status)
			}
			if strings.HasPrefix(a.status, "204") {
				if ls, _ := uint64Of(a, hdrLastSeq); !bare && ls != prev {
					t.Fatalf("%q: end marker Nats-Last-Sequence %d, last message %d", body, ls, prev)
				}
				if upTo, ok := uint64Of(a, hdrUpToSeq); ok && prev > upTo {
					t.Fatalf("%q: message %d beyond Nats-UpTo-Sequence %d", body, prev, upTo)
				}
			}
			return
		}
		if a.hdr == nil {
			bare = true
			continue
		}
		seq, ok := uint64Of(a, hdrSequence)
		if !ok {
			t.Fatalf("%q: message without Nats-Sequence: %q", body, raw)
		}
		if ls, ok := uint64Of(a, hdrLastSeq); ok && (ls != prev || seq <= prev) {
			t.Fatalf("%q: message %d with Nats-Last-Sequence %d after %d", body, seq, ls, prev)
		}
		prev = seq
	}
	if len(answers) > 1 {
		t.Fatalf("%q: %d messages and no end marker", body, len(answers))
	}
}
