package compat

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Durability through the real binary: cairn-server is killed with
// SIGKILL while clients put, restarted on the same directory, and every
// acknowledged put must be there.

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
)

// cairnServerBinary builds cmd/cairn-server once per test run.
func cairnServerBinary(t *testing.T) string {
	t.Helper()
	serverBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-server-bin-")
		if err != nil {
			serverBinErr = err
			return
		}
		serverBin = filepath.Join(dir, "cairn-server")
		out, err := exec.Command("go", "build", "-o", serverBin, "../../cmd/cairn-server").CombinedOutput()
		if err != nil {
			serverBinErr = fmt.Errorf("building cairn-server: %v\n%s", err, out)
		}
	})
	if serverBinErr != nil {
		t.Fatal(serverBinErr)
	}
	return serverBin
}

var listenAddr = regexp.MustCompile(`Listening for client connections on (\S+:\d+)`)

// serverProcess is a cairn-server child process.
type serverProcess struct {
	cmd *exec.Cmd
	url string
}

func startProcess(t *testing.T, dir string, args ...string) *serverProcess {
	t.Helper()
	cmd := exec.Command(cairnServerBinary(t), append([]string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd}
	t.Cleanup(p.kill)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-addr:
		p.url = "nats://" + a
	case <-time.After(20 * time.Second):
		t.Fatal("cairn-server did not start listening")
	}
	return p
}

// kill sends SIGKILL to the process this test started and reaps it.
func (p *serverProcess) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

type acked struct {
	key string
	rev uint64
	val string
}

// putUntilKilled runs writers putting unique keys until the server is
// killed, then returns every acknowledged put.
func putUntilKilled(t *testing.T, p *serverProcess, bucket string, writers int, before func()) []acked {
	t.Helper()
	js := newJS(t, p.url)
	kv := createKV(t, js, jetstream.KeyValueConfig{Bucket: bucket})
	var (
		mu   sync.Mutex
		acks []acked
		wg   sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key, val := fmt.Sprintf("w%d.k%d", w, i), fmt.Sprintf("value-%d-%d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				rev, err := kv.Put(ctx, key, []byte(val))
				cancel()
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acks = append(acks, acked{key, rev, val})
				mu.Unlock()
			}
		}()
	}
	eventually(t, 10*time.Second, "some acknowledged puts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acks) >= 300
	})
	before()
	p.kill()
	close(stop)
	wg.Wait()
	return acks
}

func checkAcked(t *testing.T, url, bucket string, acks []acked) {
	t.Helper()
	kv, err := newJS(t, url).KeyValue(ctxT(t), bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range acks {
		e, err := kv.Get(ctxT(t), a.key)
		if err != nil || e.Revision() != a.rev || string(e.Value()) != a.val {
			t.Fatalf("acknowledged put %s rev %d lost after kill -9: %v %v", a.key, a.rev, e, err)
		}
	}
	t.Logf("%d acknowledged puts survived kill -9", len(acks))
}

func TestKillNineSyncAlways(t *testing.T) {
	if usePeer() {
		t.Skip("cairn-server only")
	}
	dir := t.TempDir()
	p := startProcess(t, dir, "--sync_interval", "always")
	acks := putUntilKilled(t, p, "durable", 4, func() {})
	p = startProcess(t, dir, "--sync_interval", "always")
	checkAcked(t, p.url, "durable", acks)
}

func TestKillNineDefaultSync(t *testing.T) {
	if usePeer() {
		t.Skip("cairn-server only")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	kv := createKV(t, newJS(t, p.url), jetstream.KeyValueConfig{Bucket: "relaxed"})
	var acks []acked
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("k%d", i)
		rev, err := kv.Put(ctxT(t), key, []byte(key))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, acked{key, rev, key})
	}
	// Under the default policy a put is in the operating system before
	// it is acknowledged (docs/STORE.md), so a process crash right after
	// the last acknowledgement loses none of them.
	p.kill()
	p = startProcess(t, dir)
	checkAcked(t, p.url, "relaxed", acks)
}
