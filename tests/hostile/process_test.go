package hostile

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Helpers for the tests that need a server they can kill -9: the real
// cairn-server binary as a child process.

var (
	serverBinOnce sync.Once
	serverBin     string
	serverBinErr  error
)

// serverBinary builds cmd/cairn-server once per test run.
func serverBinary(t *testing.T) string {
	t.Helper()
	serverBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cairn-hostile-bin-")
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

var listenLine = regexp.MustCompile(`Listening for client connections on (\S+:\d+)`)

// process is a cairn-server child process.
type process struct {
	cmd    *exec.Cmd
	url    string
	reaped chan struct{} // closed once its log is read to the end
}

// startProcess runs cairn-server on a free loopback port over dir with
// extra args and waits until it listens; it is killed when t ends.
func startProcess(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(serverBinary(t), append([]string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, reaped: make(chan struct{})}
	t.Cleanup(p.kill)
	addr := make(chan string, 1)
	go func() {
		defer close(p.reaped)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
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
	case <-p.reaped:
		t.Fatal("cairn-server exited before listening")
	case <-time.After(30 * time.Second):
		t.Fatal("cairn-server did not start listening")
	}
	return p
}

// kill sends SIGKILL to the process and reaps it.
func (p *process) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.reaped
	_ = p.cmd.Wait()
}
