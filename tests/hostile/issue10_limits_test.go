package hostile

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
)

// TestReviewServerConsumerCapAcrossAccounts: the server's consumer cap
// bounds the consumers of all accounts together, also when both create
// many at once. Each account counted the other's registered consumers
// but not its creations in progress, so bursts in two accounts passed
// the cap together (8 of 6 seen). Several bursts, since each is a race.
func TestReviewServerConsumerCapAcrossAccounts(t *testing.T) {
	const limit = 6
	tg := accountsTarget(t, func(c *daemon.Config) { c.MaxConsumers = limit })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streams := map[string]jetstream.Stream{}
	conns := map[string][]*nats.Conn{}
	for _, u := range []string{"a", "b"} {
		nc := connect(t, tg.URL, nats.UserInfo(u, u))
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"}); err != nil {
			t.Fatal(err)
		}
		// Keys, so that a creation takes its snapshot for a while.
		// In windows of 1,000 acknowledgements: nats.go fails a publish
		// that finds 4,000 outstanding for 200 ms, which a loaded CI
		// machine running the race detector can take.
		for i := range 20000 {
			if _, err := js.PublishAsync("$KV.cfg.k"+strconv.Itoa(i), nil); err != nil {
				t.Fatal(err)
			}
			if i%1000 == 999 {
				select {
				case <-js.PublishAsyncComplete():
				case <-ctx.Done():
					t.Fatal("puts")
				}
			}
		}
		if streams[u], err = js.Stream(ctx, "KV_cfg"); err != nil {
			t.Fatal(err)
		}
		// One connection per creation, so they run on different reader
		// goroutines at once.
		for range 12 {
			conns[u] = append(conns[u], connect(t, tg.URL, nats.UserInfo(u, u)))
		}
	}
	for round := range 10 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		var subs []*nats.Subscription
		startAll := make(chan struct{})
		for _, cs := range conns {
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// The deliveries go to an inbox of their own, not
					// into the request's.
					inbox := c.NewInbox()
					sub, err := c.SubscribeSync(inbox)
					if err != nil {
						t.Error(err)
						return
					}
					// Kept until the round's consumers are deleted, so
					// none goes away for lack of interest meanwhile.
					mu.Lock()
					subs = append(subs, sub)
					mu.Unlock()
					if err := c.Flush(); err != nil {
						t.Error(err)
						return
					}
					<-startAll
					body := `{"stream_name":"KV_cfg","config":{"deliver_subject":"` + inbox + `","ack_policy":"none","inactive_threshold":60000000000}}`
					m, err := c.Request("$JS.API.CONSUMER.CREATE.KV_cfg", []byte(body), 10*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					if strings.Contains(string(m.Data), "consumer_create_response") && !strings.Contains(string(m.Data), `"error"`) {
						mu.Lock()
						created++
						mu.Unlock()
					}
				}()
			}
		}
		close(startAll)
		wg.Wait()
		if created > limit {
			t.Fatalf("round %d: %d consumers created on a server capped at %d", round, created, limit)
		}
		for _, s := range streams {
			names := s.ConsumerNames(ctx)
			for name := range names.Name() {
				if err := s.DeleteConsumer(ctx, name); err != nil {
					t.Fatal(err)
				}
			}
			if err := names.Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, sub := range subs {
			sub.Unsubscribe()
		}
	}
}

// TestReviewAccountMaxConsumersConcurrent: an account's max_consumers
// bounds each of its streams also when watchers are created at once,
// and the other account is not bound by it.
func TestReviewAccountMaxConsumersConcurrent(t *testing.T) {
	const limit = 3
	tg := accountsTarget(t, func(c *daemon.Config) { c.Accounts[0].JetStream.MaxConsumers = limit })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, u := range []string{"a", "b"} {
		_, js := newJSAs(t, tg.URL, nats.UserInfo(u, u))
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "cfg"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			if _, err := kv.Put(ctx, "k"+strconv.Itoa(i), nil); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		created, refused := 0, 0
		startAll := make(chan struct{})
		for range 10 {
			_, wjs := newJSAs(t, tg.URL, nats.UserInfo(u, u))
			wkv, err := wjs.KeyValue(ctx, "cfg")
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startAll
				w, err := wkv.WatchAll(ctx)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					created++
					t.Cleanup(func() { w.Stop() })
				case strings.Contains(err.Error(), "maximum consumers limit reached"):
					refused++
				default:
					t.Error(err)
				}
			}()
		}
		close(startAll)
		wg.Wait()
		if u == "a" && (created > limit || created+refused != 10) {
			t.Fatalf("account A, max_consumers %d: %d watchers created, %d refused", limit, created, refused)
		}
		if u == "b" && created != 10 {
			t.Fatalf("account B, no limit: %d watchers created, %d refused", created, refused)
		}
	}
}

// TestReviewServerStorageAcrossAccounts: streams created at once in two
// accounts cannot together reserve more than the server's
// max_file_store.
func TestReviewServerStorageAcrossAccounts(t *testing.T) {
	tg := accountsTarget(t, func(c *daemon.Config) { c.MaxFileStore = 10 << 20 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	startAll := make(chan struct{})
	for _, u := range []string{"a", "b"} {
		for i := range 8 {
			_, js := newJSAs(t, tg.URL, nats.UserInfo(u, u))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startAll
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b" + strconv.Itoa(i), MaxBytes: 6 << 20})
				if err == nil {
					mu.Lock()
					created++
					mu.Unlock()
				} else if !strings.Contains(err.Error(), "insufficient storage resources") {
					t.Error(err)
				}
			}()
		}
	}
	close(startAll)
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d buckets of 6 MiB created under a server max_file_store of 10 MiB", created)
	}
}
