package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJSCluster starts n nodes of kind k with JetStream and returns
// once a bucket can be created and deleted from every node (the
// metadata group has a leader and every node reaches it).
func startJSCluster(t *testing.T, k kind, n int) []*node {
	t.Helper()
	nodes := startCluster(t, k, n, true)
	start := time.Now()
	for _, nd := range nodes {
		waitJS(t, nd)
	}
	t.Logf("%s JetStream ready on %d nodes in %v", k.name, n, time.Since(start).Round(time.Millisecond))
	return nodes
}

// waitJS polls, with a deadline, until a probe bucket can be created and
// deleted through nd. A creation the client gave up on (no answer
// within 2 s while the cluster elects its leaders) may still be carried
// out later, after the probe's next creation and deletion, and leave the
// probe bucket listed: when one timed out, the probe waits out a
// server's own bound on a placement (4 s) and deletes the bucket again.
func waitJS(t *testing.T, nd *node) {
	t.Helper()
	js := jsOn(t, nd)
	bucket := "ready-" + nd.name
	var last error
	late := false
	waitFor(t, 30*time.Second, nd.name+" JetStream ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, last = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket}); last != nil {
			late = late || errors.Is(last, context.DeadlineExceeded)
			return false
		}
		last = js.DeleteKeyValue(ctx, bucket)
		return last == nil
	})
	if !late {
		return
	}
	time.Sleep(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteKeyValue(ctx, bucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("%s: deleting the probe bucket again: %v", nd.name, err)
	}
}

// jsOn returns a JetStream context on a connection to nd alone: it
// never fails over to another node, so a step said to run on nd does;
// when nd restarts it reconnects to it within 50 ms.
func jsOn(t *testing.T, nd *node, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc := connect(t, nd.URL(), append([]nats.Option{nats.IgnoreDiscoveredServers(),
		nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond), nats.ReconnectJitter(0, 0)}, opts...)...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// ctxT is a context bounded by d, cancelled at the test's end.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// holderOf returns the node holding bucket's stream, as js's node
// reports it in the stream info's cluster.leader.
func holderOf(t *testing.T, js jetstream.JetStream, bucket string) string {
	t.Helper()
	s, err := js.Stream(ctxT(t, 5*time.Second), "KV_"+bucket)
	if err != nil {
		t.Fatalf("stream info of %s: %v", bucket, err)
	}
	ci := s.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		t.Fatalf("stream info of %s has no cluster leader: %+v", bucket, ci)
	}
	return ci.Leader
}

// apiError is the error part of a JetStream API answer.
type apiError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

// apiRequest sends a raw JetStream API request from nc and returns the
// answer's error (nil when it has none) or the request's failure.
func apiRequest(nc *nats.Conn, subject string, timeout time.Duration) (*apiError, error) {
	m, err := nc.Request(subject, nil, timeout)
	if err != nil {
		return nil, err
	}
	var r struct {
		Error *apiError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return nil, fmt.Errorf("%s: %v in %q", subject, err, m.Data)
	}
	return r.Error, nil
}

// transcript is what one kind did, step by step, in words that must be
// the same for cairn and nats-server.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (tr *transcript) add(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
}

// errText is err in a transcript: its text, or "ok".
func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return strings.ReplaceAll(err.Error(), "\n", " | ")
}

// compareOnBoth runs f against each kind in parallel subtests and then
// compares the transcripts they wrote: the first line that differs
// fails t.
func compareOnBoth(t *testing.T, f func(t *testing.T, k kind, tr *transcript)) {
	got := make([]*transcript, len(kinds))
	t.Run("kinds", func(t *testing.T) {
		for i, k := range kinds {
			got[i] = &transcript{}
			t.Run(k.name, func(t *testing.T) {
				t.Parallel()
				f(t, k, got[i])
			})
		}
	})
	if t.Failed() {
		return
	}
	a, b := got[0].lines, got[1].lines
	for i := range max(len(a), len(b)) {
		var la, lb string
		if i < len(a) {
			la = a[i]
		}
		if i < len(b) {
			lb = b[i]
		}
		if la != lb {
			t.Fatalf("transcripts differ at line %d:\n%s: %s\n%s: %s", i+1, kinds[0].name, la, kinds[1].name, lb)
		}
	}
	if !slices.Equal(a, b) {
		t.Fatal("transcripts differ")
	}
	t.Logf("%d transcript lines agree", len(a))
}

// visible waits (bounded) until bucket can be opened through every js.
// Tests that are about something else call it after a create: a cairn
// node may answer "stream not found" for a moment after another node's
// create was acknowledged, which TestKVCreateThenUse checks on its own.
func visible(t *testing.T, js []jetstream.JetStream, bucket string) {
	t.Helper()
	waitFor(t, 5*time.Second, bucket+" visible from every node", func() bool {
		for _, j := range js {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := j.KeyValue(ctx, bucket)
			cancel()
			if err != nil {
				return false
			}
		}
		return true
	})
}
