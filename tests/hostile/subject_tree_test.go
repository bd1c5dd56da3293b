package hostile

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestHostileDeepSubjectsHeap: the per-stream subject tree made one node
// and one map per subject token, about 314 bytes a token, so 2000
// messages with distinct 600-token subjects (2.4 MB of subjects) held
// about 360 MiB of server heap, again after every restart since the
// index is rebuilt on open. The tree is now path-compressed: its memory
// follows the number of subjects and their bytes, not their tokens. The
// server runs in this process, so its live heap is measured directly,
// after the publishes and after a restart.
func TestHostileDeepSubjectsHeap(t *testing.T) {
	tg := start(t)
	nc, js := newJS(t, tg.URL)
	stCreateStream(t, nc, "DEEP", `{"name":"DEEP","subjects":["deep.>"]}`)
	tail := strings.Repeat(".t", 600)
	subject := func(i int) string { return fmt.Sprintf("deep.%d%s", i, tail) }
	// Warm up the client's and the server's buffers and pending-ack
	// tables on another subject.
	stPublishAll(t, js, func(int) *nats.Msg { return nats.NewMsg("deep.warm") }, 2000)
	before := stLiveHeap()
	const msgs = 2000
	stPublishAll(t, js, func(i int) *nats.Msg {
		m := nats.NewMsg(subject(i))
		m.Data = []byte("v")
		return m
	}, msgs)
	const bound = 64 << 20 // the subjects and bodies are 2.4 MB
	grown := int64(stLiveHeap()) - int64(before)
	t.Logf("live heap %+d KiB after %d messages with %d-byte subjects", grown>>10, msgs, len(subject(0)))
	if grown > bound {
		t.Fatalf("live heap grew %d MiB for %d messages of %d-byte subjects", grown>>20, msgs, len(subject(0)))
	}

	nc.Close()
	tg.restart(t)
	grown = int64(stLiveHeap()) - int64(before)
	t.Logf("live heap %+d KiB after a restart", grown>>10)
	if grown > bound {
		t.Fatalf("live heap %d MiB above the start after a restart (index rebuild)", grown>>20)
	}
	// The rebuilt tree still answers literal and wildcard lookups.
	nc = connect(t, tg.URL)
	for _, req := range []string{
		`{"last_by_subj":"` + subject(1234) + `"}`,
		`{"last_by_subj":"deep.*` + tail + `"}`,
		`{"last_by_subj":"deep.1999.>"}`,
	} {
		if r := jsAsk(t, nc, "$JS.API.STREAM.MSG.GET.DEEP", req); jsError(t, r) != "" {
			t.Fatalf("get %s: %s", req[:40], r)
		}
	}
}
