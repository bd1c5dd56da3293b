package testserver

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Process is a server running as a child process of the test, on a free
// loopback port. Kill ends it with SIGKILL; the test's cleanup kills it
// too, and prints the end of its log when the test failed.
type Process struct {
	// URL is the client URL, e.g. nats://127.0.0.1:41234.
	URL string

	name    string
	cmd     *exec.Cmd
	drained chan struct{} // closed once its log is read to the end
	mu      sync.Mutex
	logs    bytes.Buffer
}

// startProcess runs bin with args, which must make it listen on a
// loopback port it logs, and returns once it listens. It fails t if the
// process exits first or does not listen within 30 s.
func startProcess(t testing.TB, name, bin string, args []string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("testserver: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testserver: start %s: %v", bin, err)
	}
	p := &Process{name: name, cmd: cmd, drained: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		defer close(p.drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenLine.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(p.Log(), 15))
		}
	})
	select {
	case a := <-addr:
		p.URL = "nats://" + a
		return p
	case <-p.drained:
		p.Kill()
		t.Fatalf("testserver: %s exited before listening:\n%s", name, p.Log())
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatalf("testserver: %s did not listen within 30s", name)
	}
	return nil
}

// Pid returns the process id, for tests that signal the server (a
// configuration reload on SIGHUP).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Kill sends SIGKILL to the process and reaps it. It may be called more
// than once.
func (p *Process) Kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.drained
	_ = p.cmd.Wait()
}

// Log returns what the process has logged so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

var cairnBin struct {
	once sync.Once
	path string
	err  error
}

// CairnBinary builds cmd/cairn-server once per test binary and returns
// its path, for tests that must kill a server with SIGKILL.
func CairnBinary(t testing.TB) string {
	t.Helper()
	cairnBin.once.Do(func() {
		root := moduleRoot()
		if root == "" {
			cairnBin.err = fmt.Errorf("testserver: no go.mod above the working directory")
			return
		}
		dir, err := os.MkdirTemp("", "cairn-test-bin-")
		if err != nil {
			cairnBin.err = err
			return
		}
		cairnBin.path = filepath.Join(dir, "cairn-server")
		build := exec.Command("go", "build", "-o", cairnBin.path, "./cmd/cairn-server")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			cairnBin.err = fmt.Errorf("testserver: building cairn-server: %v\n%s", err, out)
		}
	})
	if cairnBin.err != nil {
		t.Fatal(cairnBin.err)
	}
	return cairnBin.path
}

// StartCairnProcess runs the cairn-server binary as a child process on a
// free loopback port over the store directory dir, with extra flags, and
// returns once it listens.
func StartCairnProcess(t testing.TB, dir string, extra ...string) *Process {
	t.Helper()
	args := append([]string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}, extra...)
	return startProcess(t, "cairn-server", CairnBinary(t), args)
}

// RemoveBinaries deletes what CairnBinary built; TestMain calls it after
// the tests ran.
func RemoveBinaries() {
	if cairnBin.path != "" {
		os.RemoveAll(filepath.Dir(cairnBin.path))
	}
}
