package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/testserver"
)

// proc is a cairn-server process whose exit status a test checks (a
// lame duck mode or a SIGTERM that must end in exit 0).
type proc struct {
	URL    string
	cmd    *exec.Cmd
	out    *syncBuffer // standard error
	exited chan struct{}
	code   int // valid once exited is closed
}

var listenRE = regexp.MustCompile(`Listening for client connections on (\S+)`)

// startProc runs cairn-server with args (a free loopback port is added)
// and returns once it listens, as its log says: standard error, or
// logFile when the log goes to a file. The test's cleanup kills it if
// it still runs.
func startProc(t *testing.T, logFile string, args ...string) *proc {
	t.Helper()
	args = append([]string{"-a", "127.0.0.1", "-p", "-1"}, args...)
	p := &proc{cmd: exec.Command(testserver.CairnBinary(t), args...), out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("cairn-server %v log:\n%s", args, p.log(logFile))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listenRE.FindStringSubmatch(p.log(logFile)); m != nil {
			p.URL = "nats://" + m[1]
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("cairn-server exited (%d) before listening:\n%s", p.code, p.log(logFile))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("cairn-server did not listen within 30s:\n%s", p.log(logFile))
		}
	}
}

// log returns standard error, or the log file's content when it has
// one, after that of its rotated files.
func (p *proc) log(logFile string) string {
	if logFile == "" {
		return p.out.String()
	}
	var all []byte
	backups, _ := filepath.Glob(logFile + ".*")
	for _, f := range append(backups, logFile) {
		b, _ := os.ReadFile(f)
		all = append(all, b...)
	}
	return string(all)
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait returns the exit status, failing t unless the process exits
// within d.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.code
	case <-time.After(d):
		t.Fatalf("cairn-server still running after %v:\n%s", d, p.out.String())
	}
	return 0
}

// kvBucket returns bucket on url, created if missing.
func kvBucket(t *testing.T, url, bucket string) (*nats.Conn, jetstream.KeyValue) {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoReconnect())
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
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	return nc, kv
}

// checkKeys fails t unless every key of want is in kv with its value,
// and returns how many were found.
func checkKeys(t *testing.T, kv jetstream.KeyValue, want map[string]string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for k, v := range want {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Errorf("acknowledged key %s: %v", k, err)
			continue
		}
		if string(e.Value()) != v {
			t.Errorf("key %s = %q, want %q", k, e.Value(), v)
			continue
		}
		n++
	}
	return n
}

func keyName(writer, n int) string { return fmt.Sprintf("w%d-k%06d", writer, n) }
