package batch

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/testserver"
)

// batchMsgs builds a batch of n messages on subjects
// <prefix><key>.<j>, where key names the batch and its size.
func batchMsgs(prefix, key string, n int) []*nats.Msg {
	msgs := make([]*nats.Msg, n)
	for j := range msgs {
		msgs[j] = nats.NewMsg(fmt.Sprintf("%s%s_%d.%d", prefix, key, n, j))
		msgs[j].Data = []byte(key)
	}
	return msgs
}

// TestWatcherSeesBatchConsecutively commits batches into a KV bucket
// while other clients put single keys, and checks that a watcher gets
// each batch's entries one after the other, with consecutive
// revisions and nothing in between.
func TestWatcherSeesBatchConsecutively(t *testing.T) {
	tg := startCairn(t, daemon.Config{})
	ctx := context.Background()
	js := newJS(t, connect(t, tg.url))
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "w", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := js.Stream(ctx, "KV_w")
	cfg := s.CachedInfo().Config
	cfg.AllowAtomicPublish = true
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	const batches, size, singles = 40, 10, 3
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for p := 0; p < singles; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			kvp, _ := jetstream.New(connect(t, tg.url))
			kv2, _ := kvp.KeyValue(ctx, "w")
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				kv2.Put(ctx, fmt.Sprintf("single%d.%d", p, i%50), []byte("x"))
			}
		}(p)
	}
	for b := 0; b < batches; b++ {
		if _, err := jetstreamext.PublishMsgBatch(ctx, js, batchMsgs("$KV.w.", "b"+strconv.Itoa(b), size)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	// Read the watch up to the last batch's last entry.
	seen, run := 0, 0
	var runKey string
	var last uint64
	deadline := time.After(30 * time.Second)
	for seen < batches {
		select {
		case e := <-w.Updates():
			if e == nil {
				continue // the end of the initial values
			}
			key := e.Key()
			if !strings.HasPrefix(key, "b") {
				if run != 0 {
					t.Fatalf("%s (revision %d) inside batch %s after %d of its entries", key, e.Revision(), runKey, run)
				}
				continue
			}
			bkey := key[:strings.IndexByte(key, '.')]
			if run == 0 {
				runKey = bkey
			} else if bkey != runKey || e.Revision() != last+1 {
				t.Fatalf("%s (revision %d) follows %d entries of batch %s ending at revision %d", key, e.Revision(), run, runKey, last)
			}
			last = e.Revision()
			if run++; run == size {
				run = 0
				seen++
			}
		case <-deadline:
			t.Fatalf("watched %d of %d batches", seen, batches)
		}
	}
}

// TestKillDuringBatchCommits kills cairn-server with SIGKILL, under
// --sync_interval always, while clients commit batches, and checks
// after each restart that every batch is wholly present or wholly
// absent and that every acknowledged batch is present.
func TestKillDuringBatchCommits(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := map[string]bool{}
	var mu sync.Mutex
	for round := 0; round < 3; round++ {
		p := testserver.StartCairnProcess(t, dir, "--sync_interval", "always")
		nc, err := nats.Connect(p.URL, nats.NoReconnect()) // fail fast once killed
		if err != nil {
			t.Fatal(err)
		}
		js := newJS(t, nc)
		ctx := context.Background()
		if round == 0 {
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, AllowAtomicPublish: true}); err != nil {
				t.Fatal(err)
			}
		}
		checkWhole(t, js, acked, round)
		var wg sync.WaitGroup
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for k := 0; ; k++ {
					key := fmt.Sprintf("r%dw%dk%d", round, w, k)
					if _, err := jetstreamext.PublishMsgBatch(ctx, js, batchMsgs("t.", key, 5+(k*7)%20)); err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked[key] = true
					mu.Unlock()
				}
			}(w)
		}
		time.Sleep(time.Duration(200+rng.Intn(400)) * time.Millisecond) // let commits run, then crash
		p.Kill()
		wg.Wait()
		nc.Close()
	}
	p := testserver.StartCairnProcess(t, dir, "--sync_interval", "always")
	checkWhole(t, newJS(t, connect(t, p.URL)), acked, 3)
}

// checkWhole reads every subject's count and checks that each batch
// (t.<key>_<size>.<j>) has all its messages or none.
func checkWhole(t *testing.T, js jetstream.JetStream, acked map[string]bool, round int) {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("t.>"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for subj := range info.State.Subjects {
		tok := strings.Split(subj, ".")[1]
		got[tok]++
	}
	for tok, n := range got {
		i := strings.LastIndexByte(tok, '_')
		size, _ := strconv.Atoi(tok[i+1:])
		if n != size {
			t.Fatalf("round %d: batch %s has %d of its %d messages", round, tok, n, size)
		}
	}
	present := map[string]bool{}
	for tok := range got {
		present[tok[:strings.LastIndexByte(tok, '_')]] = true
	}
	for key := range acked {
		if !present[key] {
			t.Fatalf("round %d: acknowledged batch %s is missing", round, key)
		}
	}
	t.Logf("round %d: %d whole batches, %d acknowledged", round, len(got), len(acked))
}
