package monitor_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// startPeerMonitor starts the nats-server peer with its monitor on a
// free port and returns its client URL and monitor URL once the
// monitor answers.
func startPeerMonitor(t *testing.T, extra ...string) (clientURL, monitorURL string) {
	t.Helper()
	port := freePort(t)
	p := testserver.StartPeer(t, append([]string{"-m", strconv.Itoa(port)}, extra...)...)
	monitorURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "the peer's monitor", func() bool {
		resp, err := client.Get(monitorURL + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return p.URL, monitorURL
}

// kvWorkload connects to url, creates the bucket "mon" with two keys
// and starts a watch of it that has received the initial values; the
// connection (and so the watch) lives until the test ends.
func kvWorkload(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("workload"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "mon"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := kv.Put(ctx, k, []byte("value-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	// Not ctx: the watch must outlive this function.
	w, err := kv.WatchAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	for n := 0; ; {
		select {
		case e := <-w.Updates():
			if e == nil { // end of the initial values
				if n != 2 {
					t.Fatalf("watch: %d initial values", n)
				}
				return nc
			}
			n++
		case <-ctx.Done():
			t.Fatal("watch: no initial values")
		}
	}
}

// shapeDiffs compares the JSON objects got from Cairn's and the peer's
// monitors at path (compareShape) and returns the differences.
func shapeDiffs(t *testing.T, oursURL, theirsURL, path string) (ours, theirs map[string]any, diffs []string) {
	t.Helper()
	getJSON(t, oursURL+path, http.StatusOK, &ours)
	getJSON(t, theirsURL+path, http.StatusOK, &theirs)
	return ours, theirs, compareShape("", ours, theirs)
}

// firstOf returns the first object of the array at key of obj, failing
// the test when there is none.
func firstOf(t *testing.T, where string, obj map[string]any, key string) map[string]any {
	t.Helper()
	arr, ok := obj[key].([]any)
	if !ok || len(arr) == 0 {
		t.Fatalf("%s: no %s in %v", where, key, obj)
	}
	m, ok := arr[0].(map[string]any)
	if !ok {
		t.Fatalf("%s: %s[0] is %T", where, key, arr[0])
	}
	return m
}
