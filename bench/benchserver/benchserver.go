// Package benchserver starts and stops the servers that the side-by-side
// benchmarks (bench/compare, bench/kv) alternate between: cairn-server or
// nats-server, each on a free loopback port with a fresh store directory.
package benchserver

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Process is one server started by Start.
type Process struct {
	Cmd *exec.Cmd
	Dir string
	URL string // nats://127.0.0.1:<port>

	waitOnce sync.Once
	exited   chan struct{} // closed once Cmd.Wait has returned
}

var listenRe = regexp.MustCompile(`Listening for client connections on ([0-9.:]+)`)

// Options are what a benchmark mode changes in both servers.
type Options struct {
	// Sync, when set, is passed as cairn's --sync_interval and, for
	// nats-server, as the jetstream sync_interval in its config file.
	Sync string
	// Config, when set, is config file text both servers read (e.g. a
	// tls block): both take nats-server's syntax.
	Config string
	// Args are appended to the command line of either server (e.g.
	// "--user", "u", "--pass", "p": both take nats-server's flags, which
	// override a config file).
	Args []string
	// Dir, when set, is the store directory to use instead of a fresh
	// one: a restart on the store of a process ended by Terminate. The
	// config file, if any, is written again beside it.
	Dir string
	// StartTimeout bounds the wait for the server's "Listening for client
	// connections" line (default 10 s): a restart on a large store may
	// recover it first.
	StartTimeout time.Duration
}

// Start runs bin, of kind "cairn" or "nats-server", on a free loopback
// port with a fresh store and waits until it logs its address.
func Start(kind, bin string, o Options) (*Process, error) {
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cairn-kvbench-"+kind+"-"); err != nil {
			return nil, err
		}
	}
	args := []string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}
	conf := o.Config
	switch {
	case kind == "nats-server" && o.Sync != "":
		conf = fmt.Sprintf("jetstream { store_dir: %q, sync_interval: %s }\n", dir, o.Sync) + conf
		args = []string{"-a", "127.0.0.1", "-p", "-1"}
	case kind == "nats-server":
		args = append(args, "-js")
	case o.Sync != "":
		args = append(args, "--sync_interval", o.Sync)
	}
	if conf != "" {
		// Beside the store, not in it: a store directory holds only
		// what the server put there.
		file := dir + ".conf"
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = append(args, "-c", file)
	}
	args = append(args, o.Args...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		os.Remove(dir + ".conf")
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{Cmd: cmd, Dir: dir}
	startTimeout := o.StartTimeout
	if startTimeout <= 0 {
		startTimeout = 10 * time.Second
	}
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
		p.URL = "nats://" + addr
		return p, nil
	case <-time.After(startTimeout):
		p.Stop()
		return nil, fmt.Errorf("%s did not report its address within %v", bin, startTimeout)
	}
}

// PID returns the server's process id.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// wait returns a channel closed once the process has exited (and been
// reaped); the first call starts the one goroutine that waits for it.
func (p *Process) wait() <-chan struct{} {
	p.waitOnce.Do(func() {
		p.exited = make(chan struct{})
		go func() { _ = p.Cmd.Wait(); close(p.exited) }()
	})
	return p.exited
}

// Terminate sends SIGTERM to the process, by its PID, and waits for it to
// exit, for at most timeout, after which it kills it and returns an
// error. It returns the time from the signal to the exit, and leaves the
// store directory in place (Start with Options.Dir restarts on it; Stop
// removes it). Terminate on a process that has already exited returns at
// once.
func (p *Process) Terminate(timeout time.Duration) (time.Duration, error) {
	done := p.wait()
	select {
	case <-done:
		return 0, nil
	default:
	}
	start := time.Now()
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return time.Since(start), nil
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-done
		return time.Since(start), fmt.Errorf("pid %d did not exit within %v of SIGTERM: killed", p.PID(), timeout)
	}
}

// Stop ends the process Start started (Terminate with 10 s before a
// kill) and removes its store and config file.
func (p *Process) Stop() {
	_, _ = p.Terminate(10 * time.Second)
	os.RemoveAll(p.Dir)
	os.Remove(p.Dir + ".conf")
}

// Median returns the median of v (v is not modified).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
