// Package diff runs the same seeded random sequences of KV operations,
// through nats.go, against cairn and against a real nats-server, and
// requires the same answer to every operation: revisions, values,
// operations, bucket states and error codes.
//
// The peer is the nats-server binary found by internal/testserver
// (.tools/nats-server, built as REFERENCES.md says); without it the test
// is skipped. A failure prints its seed; replay it with
//
//	go test ./tests/diff -run TestDifferential -diff.seed=<seed> -v
package diff

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

var (
	seedFlag = flag.Uint64("diff.seed", 0, "run only this seed")
	opsFlag  = flag.Int("diff.ops", 2000, "operations per seed")
)

// defaultSeeds are run when no seed is given: 3 × 2000 operations.
var defaultSeeds = []uint64{1, 20260101, 987654321}

// buckets are created identically on both servers before each run. Their
// settings exercise history, value and bucket size limits and both
// storage types.
var buckets = []jetstream.KeyValueConfig{
	{Bucket: "plain"},
	{Bucket: "hist", History: 5},
	{Bucket: "small", History: 2, MaxValueSize: 48, MaxBytes: 700},
	{Bucket: "mem", History: 3, Storage: jetstream.MemoryStorage},
}

var keys = []string{"a", "b", "c.d", "c.e", "f/g", "h_i=j"}

func TestDifferential(t *testing.T) {
	seeds := defaultSeeds
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runSeed(t, seed, *opsFlag) })
	}
}

// side is one server under test with its buckets.
type side struct {
	name string
	js   jetstream.JetStream
	kvs  []jetstream.KeyValue
	// restart, for cairn in TestDifferentialRestarts, restarts the server
	// on the same data and returns its new URL.
	restart func() string
}

// TestDifferentialRestarts interleaves restarts of cairn (on the same
// data, nats-server keeps running) with the operations: after each, every
// answer must still be nats-server's. Memory buckets, which do not
// survive a restart, are left out.
func TestDifferentialRestarts(t *testing.T) {
	seeds := []uint64{5, 77}
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runSeedWith(t, seed, *opsFlag, true) })
	}
}

func runSeed(t *testing.T, seed uint64, n int) { runSeedWith(t, seed, n, false) }

func runSeedWith(t *testing.T, seed uint64, n int, restarts bool) {
	peer := openSide(t, "nats-server", testserver.StartPeer(t).URL)
	var cairn *side
	switch {
	case os.Getenv("CAIRN_DIFF_SELF") != "":
		// Checks the harness itself: two nats-servers must always agree.
		cairn = openSide(t, "nats-server 2", testserver.StartPeer(t).URL)
	case restarts:
		dir := t.TempDir()
		d := startCairnIn(t, dir)
		cairn = openSide(t, "cairn", d.ClientURL())
		cairn.restart = func() string {
			d.Shutdown()
			d = startCairnIn(t, dir)
			return d.ClientURL()
		}
	default:
		cairn = openSide(t, "cairn", startCairn(t))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &generator{rng: rng, revs: map[string][]uint64{}, restarts: restarts}
	var history []string
	kinds := map[string]int{}
	for i := 0; i < n; i++ {
		op := g.next()
		if op.kind == opRestart {
			cairn.connect(t, cairn.restart(), false)
			history = append(history, fmt.Sprintf("#%d restart cairn", i))
			kinds["restarts"]++
			continue
		}
		want := op.apply(peer)
		got := op.apply(cairn)
		line := fmt.Sprintf("#%d %s -> %s", i, op, want)
		history = append(history, line)
		if got != want {
			start := max(0, len(history)-15)
			t.Fatalf("seed %d: operation %d diverged\n%s\n  nats-server: %s\n  cairn:       %s\nlast operations:\n%s",
				seed, i, op, want, got, strings.Join(history[start:], "\n"))
		}
		g.observe(op, want)
		kinds[summary(want)]++
	}
	t.Logf("seed %d: %d operations agreed: %v", seed, n, kinds)
}

func openSide(t *testing.T, name, url string) *side {
	t.Helper()
	s := &side{name: name}
	s.connect(t, url, true)
	return s
}

// connect (re)connects the side and creates or binds its buckets.
func (s *side) connect(t *testing.T, url string, create bool) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if s.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	s.kvs = s.kvs[:0]
	for _, cfg := range buckets {
		var kv jetstream.KeyValue
		if create {
			kv, err = s.js.CreateKeyValue(context.Background(), cfg)
		} else {
			kv, err = s.js.KeyValue(context.Background(), cfg.Bucket)
		}
		if err != nil && !(errors.Is(err, jetstream.ErrBucketNotFound) && cfg.Storage == jetstream.MemoryStorage) {
			t.Fatalf("%s: bucket %s: %v", s.name, cfg.Bucket, err)
		}
		s.kvs = append(s.kvs, kv)
	}
}

func startCairn(t *testing.T) string {
	t.Helper()
	return startCairnIn(t, t.TempDir()).ClientURL()
}

func startCairnIn(t *testing.T, dir string) *daemon.Daemon {
	t.Helper()
	d, err := daemon.Start(daemon.Config{
		StoreDir: dir,
		Server: server.Options{
			Host: "127.0.0.1", Port: -1,
			Logger: server.NewLogger(io.Discard, false, false),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}

// outcome renders an operation's result so that equal results render
// equally: API errors by code and description, other errors by text.
func outcome(res string, err error) string {
	if err == nil {
		return res
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("api error %d/%d %q", apiErr.Code, apiErr.ErrorCode, apiErr.Description)
	}
	return "error " + err.Error()
}

// summary classifies an outcome for the log: errors by code, others by
// their first field.
func summary(res string) string {
	if strings.HasPrefix(res, "api error") || strings.HasPrefix(res, "error") {
		if i := strings.Index(res, "\""); i > 0 {
			return res[:i-1]
		}
		return res
	}
	field, _, _ := strings.Cut(res, "=")
	return field
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}
