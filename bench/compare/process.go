package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"
)

// serverProcess is one server started by this program.
type serverProcess struct {
	cmd *exec.Cmd
	dir string
	url string
}

var listenRe = regexp.MustCompile(`Listening for client connections on ([0-9.:]+)`)

// startServer runs bin on a free loopback port with a fresh store and
// waits for it to log its listen address.
func startServer(kind, bin string) (*serverProcess, error) {
	dir, err := os.MkdirTemp("", "cairn-bench-"+kind+"-")
	if err != nil {
		return nil, err
	}
	args := []string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}
	if kind == "nats-server" {
		args = append(args, "-js")
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serverProcess{cmd: cmd, dir: dir}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		p.url = "nats://" + addr
		return p, nil
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not report its address within 10s", bin)
	}
}

// stop ends the process this program started, by its PID, and removes
// its store.
func (p *serverProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(p.dir)
}
