package watch

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// TestWatcherSurvivesRestart: the server restarts on the same port and
// data; the client's ordered consumer notices (heartbeats stop), creates
// a new consumer from the next revision, and the watcher carries on.
func TestWatcherSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, -1)
	port := d.Server().Addr().Port
	nc, err := nats.Connect(d.ClientURL(), nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { t.Logf("async error: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// The client resets its consumer after missing two heartbeat
	// intervals (2 x 5s) while connected, so this test needs up to ~25s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "r", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	kv.Put(ctx, "a", []byte("1"))
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	expect(t, w, put("a", "1", 1), nil)

	d.Shutdown()
	startDaemon(t, dir, port)
	// Retry the put until the client has reconnected.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := kv.Put(pctx, "a", []byte("2"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("put after restart: %v", err)
		}
	}
	// The ordered consumer resets when its heartbeats stop (5s idle
	// heartbeat, so this takes a few seconds).
	timeout := time.After(40 * time.Second)
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				t.Fatal("watcher closed")
			}
			if e == nil {
				t.Fatal("end-of-initial-data marker again after the restart")
			}
			if e.Revision() != 2 || string(e.Value()) != "2" {
				t.Fatalf("after restart got rev %d %q", e.Revision(), e.Value())
			}
			return
		case <-timeout:
			t.Fatal("watcher did not resume after the restart")
		}
	}
}

// TestLegacyAPIWatchKeysHistory drives the same flows through nats.go's
// legacy JetStreamContext KeyValue API.
func TestLegacyAPIWatchKeysHistory(t *testing.T) {
	d := startDaemon(t, t.TempDir(), -1)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := nc.JetStream()
	kv, err := js.CreateKeyValue(&nats.KeyValueConfig{Bucket: "legacy", History: 4})
	if err != nil {
		t.Fatal(err)
	}
	kv.Put("a", []byte("1"))
	kv.Put("a", []byte("2"))
	kv.Put("b", []byte("3"))
	w, err := kv.WatchAll()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for e := range w.Updates() {
		if e == nil {
			break
		}
		got = append(got, e.Key()+"="+string(e.Value()))
	}
	if strings.Join(got, ",") != "a=2,b=3" {
		t.Fatalf("legacy watch %v", got)
	}
	keys, err := kv.Keys()
	if err != nil || strings.Join(keys, ",") != "a,b" {
		t.Fatalf("legacy keys %v %v", keys, err)
	}
	h, err := kv.History("a")
	if err != nil || len(h) != 2 || h[0].Revision() != 1 || h[1].Revision() != 2 {
		t.Fatalf("legacy history %v %v", h, err)
	}
	kv.Delete("b")
	if err := kv.PurgeDeletes(); err != nil {
		t.Fatal(err)
	}
	if keys, _ := kv.Keys(); strings.Join(keys, ",") != "a" {
		t.Fatalf("keys after purge deletes %v", keys)
	}
}

// TestNatsCLIWatchScenario is the seed's watch scenario: `nats kv watch
// my-kv` runs in the background, sees the delete of Key1, then a
// concurrent put.
func TestNatsCLIWatchScenario(t *testing.T) {
	bin := testserver.MustTool(t, "nats")
	d := startDaemon(t, t.TempDir(), -1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(args ...string) string {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--server", d.ClientURL(), "--no-context"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("nats %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("kv", "add", "my-kv")
	run("kv", "put", "my-kv", "Key1", "Value1")

	watch := exec.CommandContext(ctx, bin, "--server", d.ClientURL(), "--no-context", "kv", "watch", "my-kv")
	watch.Env = append(os.Environ(), "HOME="+t.TempDir())
	stdout, _ := watch.StdoutPipe()
	watch.Stderr = watch.Stdout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { watch.Process.Kill(); watch.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("watch did not show %q", want)
			}
		}
	}
	waitLine("PUT my-kv > Key1: Value1")
	run("kv", "del", "-f", "my-kv", "Key1")
	waitLine("DELETE my-kv > Key1")
	run("kv", "put", "my-kv", "Key2", "concurrent")
	waitLine("PUT my-kv > Key2: concurrent")
}
