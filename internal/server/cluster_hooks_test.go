package server_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
)

// fakeHook records what the server reports to a cluster.
type fakeHook struct {
	mu       sync.Mutex
	interest map[string]int // "account subject queue" → count
	forwards []string
	remote   map[string]bool // subjects with remote interest
}

func newFakeHook() *fakeHook {
	return &fakeHook{interest: map[string]int{}, remote: map[string]bool{}}
}

func (h *fakeHook) LocalInterest(acc, subj, queue string, delta int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.interest[acc+" "+subj+" "+queue] += delta
}

func (h *fakeHook) Forward(acc string, routeSubj, subj, reply, header, payload []byte, _ []string, clientsOnly bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.forwards = append(h.forwards, fmt.Sprintf("%s %s %s %s %s %v", acc, routeSubj, subj, reply, payload, clientsOnly))
	return h.remote[string(routeSubj)]
}

func (h *fakeHook) HasPeers() bool       { return true }
func (h *fakeHook) Stall(string, []byte) {}

func (h *fakeHook) RemoteInterest(_ string, subj []byte) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.remote[string(subj)]
}

func (h *fakeHook) WaitDrained(_ string, subj []byte, _ int, _ time.Duration) bool {
	return h.RemoteInterest("", subj)
}

func (h *fakeHook) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.interest[key]
}

// TestClusterHookInProcess: Subscribe is reported (once, also when
// made before the hook), SubscribeLocal never; DeliverFromRoute hands
// back the cluster-visible handlers only; DeliverForwarded runs the
// node-local ones only; HasInterest and WaitDrained ask the hook.
func TestClusterHookInProcess(t *testing.T) {
	s := startServer(t, server.Options{})
	acc := s.Account("A")
	var mu sync.Mutex
	var got []string
	record := func(name string) server.Handler {
		return func(m *server.Msg) {
			mu.Lock()
			got = append(got, fmt.Sprintf("%s %s %s %v", name, m.Subject, m.Data, m.FromRoute))
			mu.Unlock()
		}
	}
	early, err := acc.Subscribe("svc.>", "", record("early"))
	if err != nil {
		t.Fatal(err)
	}
	h := newFakeHook()
	s.SetClusterHook(h)
	t.Cleanup(func() { s.SetClusterHook(nil) })
	if n := h.count("A svc.> "); n != 1 {
		t.Fatalf("existing in-process subscription reported %d times", n)
	}
	if _, err := acc.Subscribe("svc.>", "q", record("queued")); err != nil {
		t.Fatal(err)
	}
	local, err := acc.SubscribeLocal("svc.>", "", record("local"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SubscribeLocal("svc.>", "lq", record("localq")); err != nil {
		t.Fatal(err)
	}
	if h.count("A svc.> q") != 1 || len(h.interest) != 2 {
		t.Fatalf("reported interest %v", h.interest)
	}

	if hs := s.DeliverFromRoute("A", []byte("svc.x"), []byte("svc.x"), nil, nil, []byte("routed"), true, []string{"q", "lq"}, true, nil, nil); len(hs) != 0 {
		t.Fatalf("a clients-only message went to %d in-process handlers", len(hs))
	}
	hs := s.DeliverFromRoute("A", []byte("svc.x"), []byte("svc.x"), nil, nil, []byte("routed"), true, []string{"q", "lq"}, false, nil, nil)
	if len(hs) != 2 {
		t.Fatalf("DeliverFromRoute returned %d handlers, want early and queued", len(hs))
	}
	server.RunRouted(hs, "svc.x", "", nil, []byte("routed"))
	if !s.DeliverForwarded("A", []byte("svc.y"), nil, nil, []byte("fwd")) {
		t.Fatal("DeliverForwarded found no node-local subscription")
	}
	if s.DeliverForwarded("A", []byte("nothing.here"), nil, nil, nil) {
		t.Fatal("DeliverForwarded delivered to nobody and said yes")
	}
	mu.Lock()
	slices.Sort(got)
	want := []string{"early svc.x routed true", "local svc.y fwd true", "localq svc.y fwd true", "queued svc.x routed true"}
	if !slices.Equal(got, want) {
		t.Fatalf("deliveries %q, want %q", got, want)
	}
	got = nil
	mu.Unlock()

	// A PublishAs goes to the hook with both subjects.
	acc.PublishAs([]byte("deliver.1"), []byte("$KV.b.k"), nil, nil, []byte("v"))
	if len(h.forwards) != 1 || h.forwards[0] != "A deliver.1 $KV.b.k  v false" {
		t.Fatalf("forwards %q", h.forwards)
	}
	if acc.HasInterest("deliver.1") || acc.WaitDrained("deliver.1", 0) {
		t.Fatal("interest without any")
	}
	h.mu.Lock()
	h.remote["deliver.1"] = true
	h.mu.Unlock()
	if !acc.HasInterest("deliver.1") || !acc.WaitDrained("deliver.1", 0) {
		t.Fatal("the peers' interest is not seen")
	}

	local.Unsubscribe()
	early.Unsubscribe()
	early.Unsubscribe()
	if n := h.count("A svc.> "); n != 0 {
		t.Fatalf("after unsubscribing: count %d", n)
	}
}
