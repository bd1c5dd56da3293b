package backup

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestBackupWhileWriting: writers keep rewriting keys (history 1, so an
// old value is gone once replaced) while "cairn kv backup" runs. The
// restored bucket must be the bucket at one revision L: every key holds
// the value of its last write at or below L, no write above L is in it,
// and every key written at or below L is there.
func TestBackupWhileWriting(t *testing.T) {
	src := startServer(t)
	ctx := ctxT(t)
	if _, err := src.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "w", History: 1}); err != nil {
		t.Fatal(err)
	}
	const writers, keysPerWriter = 4, 50
	type write struct {
		key, value string
	}
	var (
		mu     sync.Mutex
		byRev  = map[uint64]write{}
		writes atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		werr   error // the first writer error, under mu
	)
	for w := range writers {
		nc, err := nats.Connect(src.url)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, "w")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1_000_000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d.k%d", w, i%keysPerWriter)
				value := strconv.Itoa(i)
				rev, err := kv.PutString(ctx, key, value)
				if err != nil {
					mu.Lock()
					if werr == nil {
						werr = err
					}
					mu.Unlock()
					return
				}
				mu.Lock()
				byRev[rev] = write{key, value}
				mu.Unlock()
				writes.Add(1)
			}
		}()
	}
	writerErr := func() error {
		mu.Lock()
		defer mu.Unlock()
		return werr
	}
	waitWrites := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for writes.Load() < n {
			if err := writerErr(); time.Now().After(deadline) || err != nil {
				t.Fatalf("writers made %d writes, want %d (error %v)", writes.Load(), n, err)
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	}
	waitWrites(500)
	file := filepath.Join(t.TempDir(), "w.backup")
	mustRun(t, cairnCLI(t), "--server", src.url, "kv", "backup", "w", file)
	after := writes.Load()
	waitWrites(after + 200) // writes went on past the backup
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}

	dst := startServer(t)
	mustRun(t, cairnCLI(t), "--server", dst.url, "kv", "restore", file)
	restored := dumpStream(t, dst, "KV_w")
	last := restored.State.LastSeq
	srcLast := dumpStream(t, src, "KV_w").State.LastSeq
	if last == 0 || last >= srcLast {
		t.Fatalf("backup at revision %d, source at %d: the backup did not happen while writes went on", last, srcLast)
	}
	// The expected bucket at revision L, from the writers' own record.
	want := map[string]write{}
	wantRev := map[string]uint64{}
	for rev := uint64(1); rev <= last; rev++ {
		w, ok := byRev[rev]
		if !ok {
			t.Fatalf("revision %d at or below %d was not written by the test", rev, last)
		}
		want[w.key], wantRev[w.key] = w, rev
	}
	if len(restored.Msgs) != len(want) {
		t.Fatalf("restored %d keys, the bucket had %d at revision %d", len(restored.Msgs), len(want), last)
	}
	for _, m := range restored.Msgs {
		if m.Seq > last {
			t.Fatalf("message %d above the backup's revision %d", m.Seq, last)
		}
		key := m.Subject[len("$KV.w."):]
		if m.Seq != wantRev[key] || m.Data != want[key].value {
			t.Fatalf("key %s: restored %q at revision %d, want %q at %d", key, m.Data, m.Seq, want[key].value, wantRev[key])
		}
	}
	t.Logf("backup at revision %d of %d (%d keys)", last, srcLast, len(want))
}
