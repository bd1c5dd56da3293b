package jsfront

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileInboxReplyIsRouted: a client that gives the front's own
// inbox as its reply subject (the inbox names the node by a hash of its
// server name, which INFO announces) must not reach the local API
// unrouted. Were it, a STREAM.CREATE of a name placed on n2 would
// create a second stream of that name here, and one of a name nobody
// holds would skip the placement.
func TestHostileInboxReplyIsRouted(t *testing.T) {
	t.Run("placed elsewhere", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.set("A", "S", "n2")
		for _, subj := range []string{"$JS.API.STREAM.CREATE.S", "$JS.API.STREAM.RESTORE.S", "$JS.API.STREAM.UPDATE.S", "$JS.API.STREAM.DELETE.S"} {
			q, ch := req(subj, r.f.InboxPrefix()+"1", nil, []byte(`{"name":"S","subjects":["evil"]}`), nil)
			r.f.route(q)
			select {
			case <-ch:
				t.Fatalf("%s with the front's inbox as reply ran on n1, S is n2's", subj)
			case <-time.After(50 * time.Millisecond):
			}
		}
		if n := len(r.net.sent()); n != 4 {
			t.Fatalf("%d requests forwarded to n2, want 4", n)
		}
	})
	t.Run("not placed", func(t *testing.T) {
		r := newRig(t, nil)
		r.net.peers = nil
		q, ch := req("$JS.API.STREAM.CREATE.T", r.f.InboxPrefix()+"7", nil, []byte(`{"name":"T"}`), nil)
		r.f.route(q)
		waitLocal(t, ch)
		r.meta.mu.Lock()
		n := len(r.meta.places)
		r.meta.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d placements before the local create, want 1", n)
		}
	})
}

// TestHostileGatherAnswerForged: a client of the account publishes
// forged answers to the front's inbox while a STREAM.NAMES gathering
// waits for n2. Its answers must not be taken for n2's (the inbox
// subjects of one gathering must not be guessable).
func TestHostileGatherAnswerForged(t *testing.T) {
	r := newRig(t, nil)
	r.net.peers = []string{"n2"}
	page := func(names ...string) []byte {
		b, _ := json.Marshal(map[string]any{"type": "io.nats.jetstream.api.v1.stream_names_response", "total": len(names), "offset": 0, "limit": 1024, "streams": names})
		return b
	}
	r.local.answer = func(_, _ string, _ []byte) []byte { return page("REAL") }
	var mu sync.Mutex
	var n2Reply string
	r.net.onSend = func(s sent) { mu.Lock(); n2Reply = s.reply; mu.Unlock() }
	// n2 answers late, after the forger.
	r.net.answer = func(_, _ string, _ []byte) []byte { return nil }
	q, _ := req("$JS.API.STREAM.NAMES", "_INBOX.c", nil, nil, nil)
	r.f.route(q)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for n := range 64 {
				r.f.Answer("A", r.f.InboxPrefix()+strconv.Itoa(n), page("FORGED"))
			}
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, "request to n2", func() bool { mu.Lock(); defer mu.Unlock(); return n2Reply != "" })
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	mu.Lock()
	reply := n2Reply
	mu.Unlock()
	r.f.Answer("A", reply, page("N2"))
	a := r.answerTo(t)
	if strings.Contains(string(a.data), "FORGED") {
		t.Fatalf("forged answer taken: %s", a.data)
	}
}

// TestHostileEmptyStreamName: "$JS.API.STREAM.CREATE." names no stream;
// it must not commit a placement of the empty name (which nothing
// releases: served ignores an empty stream).
func TestHostileEmptyStreamName(t *testing.T) {
	r := newRig(t, nil)
	q, ch := req("$JS.API.STREAM.CREATE.", "_INBOX.r", nil, []byte(`{"name":""}`), nil)
	r.f.route(q)
	select {
	case <-ch:
	case <-time.After(time.Second):
	}
	time.Sleep(50 * time.Millisecond)
	r.meta.mu.Lock()
	defer r.meta.mu.Unlock()
	if len(r.meta.places) != 0 {
		t.Fatalf("placements %+v for an empty stream name", r.meta.places)
	}
}

// TestHostileRefusedForwardedCreateReleased: n1 holds the placement a
// peer committed for S, but the peer forwarded the create before n1
// applied it (the placing node waits for its own apply only). n1's API
// refused the stream (a limit, a bad configuration): the placement must
// still be released once it is applied here, or every refused create
// reserves its name for ever (and a client with random names grows
// the metadata without bound).
func TestHostileRefusedForwardedCreateReleased(t *testing.T) {
	r := newRig(t, nil)
	r.f.served("A", "$JS.API.STREAM.CREATE.S", "S")
	time.Sleep(100 * time.Millisecond) // the placement is applied here now
	r.meta.set("A", "S", "n1")
	select {
	case <-r.meta.changed:
	case <-time.After(3 * time.Second):
		t.Fatal("the refused stream's placement was never released")
	}
	r.meta.mu.Lock()
	defer r.meta.mu.Unlock()
	if len(r.meta.releases) != 1 || r.meta.releases[0].stream != "S" || r.meta.releases[0].node != "n1" {
		t.Fatalf("releases %+v", r.meta.releases)
	}
}

// configMeta is fakeMeta that also tells the recorded configuration.
type configMeta struct {
	*fakeMeta
	cfg json.RawMessage
}

func (m *configMeta) Config(string, string) (json.RawMessage, bool) { return m.cfg, m.cfg != nil }

// TestHostileUpdateFloodProposesNothing: a client repeating a
// STREAM.UPDATE that changes nothing (or that the API refuses: the
// front records what the stream holds after any update) must not make
// a Raft proposal per request.
func TestHostileUpdateFloodProposesNothing(t *testing.T) {
	cm := &configMeta{fakeMeta: newFakeMeta(), cfg: json.RawMessage(`{"name":"S"}`)}
	r := newRig(t, func(o *Options) { o.Meta = cm })
	r.meta = cm.fakeMeta
	cm.set("A", "S", "n1")
	r.local.setConfig("A", "S", json.RawMessage(`{"name":"S"}`))
	for range 10 {
		q, ch := req("$JS.API.STREAM.UPDATE.S", "_INBOX.r", nil, []byte(`{"name":"S"}`), nil)
		r.f.route(q)
		waitLocal(t, ch)
	}
	r.local.setConfig("A", "S", json.RawMessage(`{"name":"S","max_msgs":5}`))
	q, ch := req("$JS.API.STREAM.UPDATE.S", "_INBOX.r", nil, []byte(`{"name":"S","max_msgs":5}`), nil)
	r.f.route(q)
	waitLocal(t, ch)
	select {
	case <-cm.changed:
	case <-time.After(3 * time.Second):
		t.Fatal("a changed configuration was not recorded")
	}
	time.Sleep(100 * time.Millisecond)
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if len(cm.defines) != 1 || string(cm.defines[0].cfg) != `{"name":"S","max_msgs":5}` {
		t.Fatalf("defines %+v, want the one change", cm.defines)
	}
}

// TestHostileHugeCreateBody: a STREAM.CREATE whose body is as large as a
// client may send does not put that body into the metadata log with
// the placement (before the holder looked at it).
func TestHostileHugeCreateBody(t *testing.T) {
	r := newRig(t, nil)
	r.net.peers = nil
	body := []byte(`{"name":"S","description":"` + strings.Repeat("x", 1<<20) + `"}`)
	q, ch := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, body, nil)
	r.f.route(q)
	waitLocal(t, ch)
	r.meta.mu.Lock()
	defer r.meta.mu.Unlock()
	if len(r.meta.places) != 1 || len(r.meta.places[0].cfg) > 64<<10 {
		t.Fatalf("placement recorded a configuration of %d bytes", len(r.meta.places[0].cfg))
	}
}
