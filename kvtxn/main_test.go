package kvtxn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// servers are the kinds every test runs against: the nats-server peer and
// the in-process cairn daemon.
var servers = []string{"peer", "cairn"}

// forEachServer runs f as a subtest against a fresh server of each kind.
func forEachServer(t *testing.T, f func(t *testing.T, js jetstream.JetStream)) {
	for _, kind := range servers {
		t.Run(kind, func(t *testing.T) {
			var s *testserver.Server
			if kind == "peer" {
				s = testserver.StartPeer(t)
			} else {
				t.Setenv("CAIRN_TEST_SERVER", "cairn")
				s = testserver.Start(t)
			}
			f(t, connect(t, s.URL))
		})
	}
}

func connect(t *testing.T, url string) jetstream.JetStream {
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
	return js
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// serverKind is the kind of server a forEachServer subtest runs against.
func serverKind(t *testing.T) string {
	if strings.HasSuffix(t.Name(), "/peer") {
		return "peer"
	}
	return "cairn"
}
