package batch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// TestConfiguredLimits runs both servers with the same
// jetstream { limits { batch { … } } } and checks the in-flight limits
// per stream and per server, the batch size and the idle timeout.
func TestConfiguredLimits(t *testing.T) {
	targets := both(t, `max_inflight_per_stream: 2, max_inflight_total: 3, max_msgs: 5, timeout: "1s"`)
	var transcripts []string
	for _, tg := range targets {
		nc := connect(t, tg.url)
		js := newJS(t, nc)
		var out []string
		log := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
		for _, name := range []string{"A", "B"} {
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}, AllowAtomicPublish: true}); err != nil {
				t.Fatal(err)
			}
		}
		open := func(subj, id string, seq int, extra ...string) string {
			m := nats.NewMsg(subj)
			m.Header.Set("Nats-Batch-Id", id)
			m.Header.Set("Nats-Batch-Sequence", fmt.Sprint(seq))
			for i := 0; i+1 < len(extra); i += 2 {
				m.Header.Set(extra[i], extra[i+1])
			}
			r, err := nc.RequestMsg(m, 5*time.Second)
			if err != nil {
				return err.Error()
			}
			if len(r.Data) == 0 {
				return "<empty>"
			}
			return string(r.Data)
		}
		// The batch size.
		for _, n := range []int{6, 5} {
			msgs := make([]*nats.Msg, n)
			for i := range msgs {
				msgs[i] = nats.NewMsg("a.x")
			}
			a, err := jetstreamext.PublishMsgBatch(context.Background(), js, msgs)
			if err != nil {
				log("%d messages: %v", n, err)
			} else {
				log("%d messages: seq=%d count=%d", n, a.Sequence, a.BatchSize)
			}
		}
		// In flight: 2 per stream, 3 in all.
		log("a1 %s", open("a.1", "a1", 1))
		log("a2 %s", open("a.1", "a2", 1))
		log("a3 %s", open("a.1", "a3", 1))
		log("b1 %s", open("b.1", "b1", 1))
		log("b2 %s", open("b.1", "b2", 1))
		// The idle timeout frees the slots: poll until a new batch opens.
		start := time.Now()
		eventually(t, 10*time.Second, "an open batch to time out", func() bool {
			return open("b.1", "b3", 1) == "<empty>"
		})
		if waited := time.Since(start); waited < 500*time.Millisecond {
			t.Errorf("%s: a batch timed out after %v, before its 1s timeout", tg.name, waited)
		}
		log("a1 commit after timeout %s", open("a.1", "a1", 2, "Nats-Batch-Commit", "1"))
		log("b3 commit %s", open("b.1", "b3", 2, "Nats-Batch-Commit", "1"))
		transcripts = append(transcripts, strings.Join(out, "\n"))
	}
	if transcripts[0] != transcripts[1] {
		t.Fatalf("cairn and nats-server differ\ncairn:\n%s\nnats-server:\n%s", transcripts[0], transcripts[1])
	}
	for _, want := range []string{
		"6 messages: nats: API error: code=400 err_code=10199 description=atomic publish batch is too large: 5",
		"5 messages: seq=5 count=5",
		`a3 {"error":{"code":429,"err_code":10210,"description":"atomic publish too many inflight"},"stream":"A","seq":0}`,
		`b2 {"error":{"code":429,"err_code":10210`,
		`a1 commit after timeout {"error":{"code":400,"err_code":10176,"description":"atomic publish batch is incomplete"}`,
		`b3 commit {"stream":"B","seq":2,"batch":"b3","count":2}`,
	} {
		if !strings.Contains(transcripts[0], want) {
			t.Errorf("transcript lacks %q:\n%s", want, transcripts[0])
		}
	}
}
