package kvsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bucket connects to url with a connection of its own (closed when t ends)
// and opens bucket, creating it with cfg first when create is true.
func bucket(t *testing.T, url string, cfg jetstream.KeyValueConfig, create bool) (jetstream.KeyValue, *nats.Conn) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var kv jetstream.KeyValue
	if create {
		kv, err = js.CreateKeyValue(ctx, cfg)
	} else {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		t.Fatalf("bucket %s: %v", cfg.Bucket, err)
	}
	return kv, nc
}

// startServer starts the test server; see internal/testserver.
func startServer(t *testing.T) string {
	t.Helper()
	return testserver.Start(t).URL
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
