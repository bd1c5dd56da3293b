package jsapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/store"
)

// These tests drive the API over the in-memory bus of bench_test.go; the
// black-box tests through nats.go and natscli are in tests/compat, the
// comparisons with nats-server in tests/diff.

func TestPubAckBytes(t *testing.T) {
	_, bus := newBenchAPI(t)
	tests := []struct {
		hdr, want string
	}{
		{"", `{"stream":"KV_b","seq":1}`},
		{"NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n", `{"stream":"KV_b","seq":2}`},
		{"NATS/1.0\r\nNats-Msg-Id: a\r\n\r\n", `{"stream":"KV_b","seq":2,"duplicate": true}`},
		{"NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: 1\r\n\r\n",
			`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 2"},"stream":"KV_b","seq":0}`},
		{"NATS/1.0\r\nNats-Incr: 1\r\n\r\n",
			`{"error":{"code":400,"err_code":10168,"description":"message counters is disabled"},"stream":"KV_b","seq":0}`},
		{"NATS/1.0\r\nNats-TTL: 5s\r\n\r\n",
			`{"error":{"code":400,"err_code":10166,"description":"per-message TTL is disabled"},"stream":"KV_b","seq":0}`},
	}
	for _, tt := range tests {
		var hdr []byte
		if tt.hdr != "" {
			hdr = []byte(tt.hdr)
		}
		bus.Publish("$KV.b.k", "_INBOX.ack", hdr, []byte("v"))
		if got := bus.answer("_INBOX.ack"); got != tt.want {
			t.Errorf("%q:\n got  %s\n want %s", tt.hdr, got, tt.want)
		}
	}
	// Publishing without a reply stores silently.
	bus.Publish("$KV.b.k2", "", nil, []byte("v"))
	bus.Publish("$JS.API.STREAM.INFO.KV_b", "_INBOX.info", nil, nil)
	var info streamInfoResponse
	if err := json.Unmarshal([]byte(bus.answer("_INBOX.info")), &info); err != nil || info.StreamInfo == nil {
		t.Fatalf("info: %v", err)
	}
	if info.State.LastSeq != 3 || info.State.Msgs != 2 || info.Cluster.Leader != "bench" {
		t.Fatalf("state = %+v", info.State)
	}
}

func TestStreamsReloadAfterRestart(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus := newFakeBus()
	a, err := New(bus, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	bus.Publish("$JS.API.STREAM.CREATE.KV_b", "_INBOX.c", nil, []byte(kvConfig))
	bus.Publish("$JS.API.STREAM.CREATE.MEM", "_INBOX.m", nil, []byte(`{"name":"MEM","storage":"memory"}`))
	bus.Publish("$KV.b.k", "", nil, []byte("v"))
	created := a.lookup("KV_b").created
	cfg := a.lookup("KV_b").config()
	a.Close()
	st.Close()

	st, err = store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bus = newFakeBus()
	a, err = New(bus, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s := a.lookup("KV_b")
	if s == nil || !s.created.Equal(created) || !sameConfig(s.config(), cfg) {
		t.Fatalf("stream after restart: %+v", s)
	}
	// Memory streams do not survive a restart, as in nats-server.
	if a.lookup("MEM") != nil {
		t.Fatal("memory stream survived a restart")
	}
	bus.Publish("$JS.API.DIRECT.GET.KV_b.$KV.b.k", "_INBOX.g", nil, nil)
	if got := bus.answer("_INBOX.g"); !strings.Contains(got, "Nats-Sequence: 1\r\n") || !strings.HasSuffix(got, "\r\n\r\nv") {
		t.Fatalf("direct get after restart: %q", got)
	}
}

func TestRequestsWithoutReplyAreIgnored(t *testing.T) {
	a, bus := newBenchAPI(t)
	before := a.total.Load()
	bus.Publish("$JS.API.STREAM.DELETE.KV_b", "", nil, nil)
	if a.lookup("KV_b") == nil || a.total.Load() != before {
		t.Fatal("a request without a reply subject was served")
	}
}

func TestUnknownStreamHasNoDirectGetResponder(t *testing.T) {
	_, bus := newBenchAPI(t)
	bus.Publish("$JS.API.DIRECT.GET.NOPE.x", "_INBOX.g", nil, nil)
	if got := bus.answer("_INBOX.g"); got != "" {
		t.Fatalf("answered for a missing stream: %q", got)
	}
}

func TestRepublishChainAndCycle(t *testing.T) {
	_, bus := newBenchAPI(t)
	create := func(name, body string) string {
		bus.Publish("$JS.API.STREAM.CREATE."+name, "_INBOX."+name, nil, []byte(body))
		return bus.answer("_INBOX." + name)
	}
	create("A", `{"name":"A","subjects":["a.>"],"republish":{"src":">","dest":"b.>"}}`)
	// B closing the loop back into A is refused ...
	if got := create("B", `{"name":"B","subjects":["b.>"],"republish":{"src":">","dest":"a.x.>"}}`); !strings.Contains(got, errRepublishCycle.Description) {
		t.Fatalf("cycle accepted: %s", got)
	}
	// ... a chain is not: a message stored in A is stored in B too.
	if got := create("B", `{"name":"B","subjects":["b.>"],"republish":{"src":">","dest":"c.>"}}`); strings.Contains(got, "error") {
		t.Fatalf("chain refused: %s", got)
	}
	bus.Publish("a.1", "_INBOX.p", nil, []byte("x"))
	bus.Publish("$JS.API.DIRECT.GET.B", "_INBOX.g", nil, []byte(`{"seq":1}`))
	bus.Publish("$JS.API.STREAM.MSG.GET.B", "_INBOX.g", nil, []byte(`{"seq":1}`))
	if got := bus.answer("_INBOX.g"); !strings.Contains(got, `"subject":"b.a.1"`) {
		t.Fatalf("republished message not stored in B: %s", got)
	}
	if got := bus.answer("c.b.a.1"); !strings.Contains(got, "Nats-Stream: B\r\n") {
		t.Fatalf("B did not republish: %q", got)
	}
}
