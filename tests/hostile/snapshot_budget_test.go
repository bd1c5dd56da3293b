package hostile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
)

// TestHostileSnapshotBudget: every watch (a last_per_subject consumer)
// captures 8 bytes per key at creation and held them until its initial
// data was delivered, or, with nobody subscribed to its deliver subject,
// for its inactive threshold (up to an hour). 200 such creates on a
// 50,000-key bucket took 89 MiB in a third of a second; at the consumer
// cap, gigabytes. Now the snapshots share a budget of entries (refusals
// are nats-server's 10023), and a watch nobody subscribes to gives its
// share back after a short wait. The server is in this process, so its
// live heap is measured directly.
func TestHostileSnapshotBudget(t *testing.T) {
	const (
		keys     = 20000
		budget   = 5 * keys
		watchers = 300 // 48 MB of snapshots without the budget
	)
	tg := startWith(t, daemon.Config{MaxSnapshotEntries: budget, SnapshotInterestWait: 2 * time.Second})
	_, js := newJS(t, tg.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B"})
	if err != nil {
		t.Fatal(err)
	}
	stPublishAll(t, js, func(i int) *nats.Msg {
		return &nats.Msg{Subject: fmt.Sprintf("$KV.B.k%05d", i), Data: []byte("value")}
	}, keys)
	base := stLiveHeap()

	// The hostile client: watches with an hour of inactive threshold
	// and a deliver subject nobody subscribes to, pipelined.
	rc := dialRaw(t, tg.Addr)
	rc.send("SUB _R.* 1\r\n")
	var reqs strings.Builder
	for i := range watchers {
		body := fmt.Sprintf(`{"stream_name":"KV_B","config":{"deliver_subject":"void.%d","deliver_policy":"last_per_subject",`+
			`"filter_subject":"$KV.B.>","inactive_threshold":3600000000000,"ack_policy":"none"}}`, i)
		fmt.Fprintf(&reqs, "PUB $JS.API.CONSUMER.CREATE.KV_B _R.%d %d\r\n%s\r\n", i, len(body), body)
	}
	rc.send(reqs.String())
	var created, refused int
	for range watchers {
		rc.expect("MSG _R.")
		switch answer := rc.line(); {
		case strings.Contains(answer, `"err_code":10023`):
			refused++
		case strings.Contains(answer, `"error"`):
			t.Fatalf("unexpected answer %s", answer)
		default:
			created++
		}
	}
	grown := int64(stLiveHeap()) - int64(base)
	t.Logf("%d watches of %d keys: %d created, %d refused with 10023, heap +%.1f MiB",
		watchers, keys, created, refused, float64(grown)/(1<<20))
	// The budget is 0.8 MB of entries; the rest is consumers, requests
	// and slack.
	if grown > 16<<20 {
		t.Fatalf("heap grew by %.1f MiB, want at most 16 MiB", float64(grown)/(1<<20))
	}
	if created != budget/keys || refused != watchers-created {
		t.Fatalf("%d watches created and %d refused, want %d and %d", created, refused, budget/keys, watchers-budget/keys)
	}

	// A well-behaved watcher is refused while the budget is full, with
	// an error its application sees...
	if w, err := kv.WatchAll(ctx); err == nil {
		watchStop(t, w)
		t.Fatal("WatchAll succeeded with the snapshot budget full")
	} else if !strings.Contains(err.Error(), "insufficient resources") {
		t.Fatalf("WatchAll: %v, want insufficient resources", err)
	}
	// ...and works once the abandoned watches have given their share
	// back, long before their hour of inactive threshold.
	var w jetstream.KeyWatcher
	eventually(t, 30*time.Second, "a watch to fit in the budget again", func() bool {
		w, err = kv.WatchAll(ctx)
		return err == nil
	})
	if got := len(watchInitial(t, w)); got != keys {
		t.Fatalf("initial data of %d keys, want %d", got, keys)
	}
	watchStop(t, w)
}
