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
	"syscall"
	"time"
)

// Process is one server started by Start.
type Process struct {
	Cmd *exec.Cmd
	Dir string
	URL string // nats://127.0.0.1:<port>
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
}

// Start runs bin, of kind "cairn" or "nats-server", on a free loopback
// port with a fresh store and waits until it logs its address.
func Start(kind, bin string, o Options) (*Process, error) {
	dir, err := os.MkdirTemp("", "cairn-kvbench-"+kind+"-")
	if err != nil {
		return nil, err
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
	case <-time.After(10 * time.Second):
		p.Stop()
		return nil, fmt.Errorf("%s did not report its address within 10s", bin)
	}
}

// Stop ends the process Start started, by its PID, and removes its
// store.
func (p *Process) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-done
	}
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
