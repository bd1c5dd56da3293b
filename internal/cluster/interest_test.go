package cluster

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestInterestUnderChurn subscribes and unsubscribes at random from
// several clients of n2 at once, closes some clients, and checks that
// n1 ends with exactly n2's remaining interest: no lost RS-, no lost RS+.
func TestInterestUnderChurn(t *testing.T) {
	n1 := startNode(t, Options{ServerName: "n1"}, 0)
	n2 := startNode(t, Options{ServerName: "n2"}, 0, n1.addr())
	waitFor(t, "pair", func() bool { return peerNames(n1) == "n2" })
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	subjects := []string{"a", "b", "c.*", "d.>"}
	const clients = 4
	remaining := make([]map[string]int, clients) // per client: subject → live subscriptions
	var wg sync.WaitGroup
	conns := make([]*nats.Conn, clients)
	for i := range clients {
		conns[i] = n2.connect(t)
		remaining[i] = map[string]int{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			var live []*nats.Subscription
			for range 300 {
				if len(live) > 0 && rng.IntN(2) == 0 {
					k := rng.IntN(len(live))
					_ = live[k].Unsubscribe()
					remaining[i][live[k].Subject]--
					live = append(live[:k], live[k+1:]...)
					continue
				}
				subj := subjects[rng.IntN(len(subjects))]
				s, err := conns[i].SubscribeSync(subj)
				if err != nil {
					t.Error(err)
					return
				}
				live = append(live, s)
				remaining[i][subj]++
			}
			_ = conns[i].Flush()
		}(i)
	}
	wg.Wait()
	// Closing a client removes all its subscriptions at once.
	conns[0].Close()
	remaining[0] = map[string]int{}
	want := map[string]bool{}
	for _, m := range remaining {
		for s, n := range m {
			if n > 0 {
				want[s] = true
			}
		}
	}
	// A barrier: the route carries interest in order, so once n1 sees
	// a subscription made after everything above (and after the close
	// was processed: n2 no longer counts the client), it has seen all.
	waitFor(t, "client 0 gone", func() bool { return n2.srv.NumClients() == clients-1 })
	barrier := conns[1]
	if _, err := barrier.SubscribeSync("barrier"); err != nil {
		t.Fatal(err)
	}
	if err := barrier.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "barrier", func() bool { return hasRemoteInterest(n1, "n2", "barrier") })
	probe := map[string]string{"a": "a", "b": "b", "c.*": "c.x", "d.>": "d.x.y"}
	for _, s := range subjects {
		if got := hasRemoteInterest(n1, "n2", probe[s]); got != want[s] {
			t.Fatalf("n1 sees interest in %q: %v, want %v (all wanted: %v)", s, got, want[s], want)
		}
	}
}
