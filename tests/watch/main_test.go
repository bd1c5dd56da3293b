// Package watch tests KV watchers, key listing, history and compaction
// through nats.go (both KeyValue APIs) and the natscli binary, against
// an in-process cairn daemon on a loopback port.
package watch

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) { testserver.RunMain(m) }

// startDaemon runs cairn on a free loopback port with its store in dir.
func startDaemon(t *testing.T, dir string, port int) *daemon.Daemon {
	t.Helper()
	cfg := daemon.Config{StoreDir: dir}
	cfg.Server.Host = "127.0.0.1"
	cfg.Server.Port = port
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	d, err := daemon.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bucket creates a KV bucket on a fresh daemon and returns it with the
// connection's JetStream context.
func bucket(t *testing.T, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, jetstream.JetStream, *daemon.Daemon) {
	t.Helper()
	d := startDaemon(t, t.TempDir(), -1)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.CreateKeyValue(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kv, js, d
}

// entry is what a test expects from a watcher; nil stands for the
// end-of-initial-data marker.
type entry struct {
	key   string
	value string
	rev   uint64
	op    jetstream.KeyValueOp
}

// next reads one update or fails after a timeout.
func next(t *testing.T, w jetstream.KeyWatcher) jetstream.KeyValueEntry {
	t.Helper()
	select {
	case e, ok := <-w.Updates():
		if !ok {
			t.Fatal("watcher closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return nil
}

// expect reads len(want) updates and compares them; a nil want entry
// expects the end-of-initial-data marker.
func expect(t *testing.T, w jetstream.KeyWatcher, want ...*entry) {
	t.Helper()
	for i, we := range want {
		e := next(t, w)
		if we == nil {
			if e != nil {
				t.Fatalf("update %d: got %s=%q rev %d, want end of initial data", i, e.Key(), e.Value(), e.Revision())
			}
			continue
		}
		if e == nil {
			t.Fatalf("update %d: got end of initial data, want %+v", i, *we)
		}
		if e.Key() != we.key || string(e.Value()) != we.value || e.Revision() != we.rev || e.Operation() != we.op {
			t.Fatalf("update %d: got %s=%q rev %d %v, want %+v", i, e.Key(), e.Value(), e.Revision(), e.Operation(), *we)
		}
	}
}

func put(k, v string, rev uint64) *entry { return &entry{k, v, rev, jetstream.KeyValuePut} }
func del(k string, rev uint64) *entry    { return &entry{k, "", rev, jetstream.KeyValueDelete} }
func purged(k string, rev uint64) *entry { return &entry{k, "", rev, jetstream.KeyValuePurge} }
