// Package benchserver starts and stops the servers that the side-by-side
// benchmarks (bench/compare, bench/kv) alternate between: cairn-server or
// nats-server, each on a free loopback port with a fresh store directory.
package benchserver

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// Start runs bin, of kind "cairn" or "nats-server", on a free loopback
// port with a fresh store and waits until it logs its address. sync, when
// set, is passed as cairn's --sync_interval and, for nats-server, as the
// jetstream sync_interval in a config file. extra is appended to the
// command line of either server (e.g. "--user", "u", "--pass", "p":
// both take nats-server's flags, which override a config file).
func Start(kind, bin, sync string, extra ...string) (*Process, error) {
	dir, err := os.MkdirTemp("", "cairn-kvbench-"+kind+"-")
	if err != nil {
		return nil, err
	}
	args := []string{"-a", "127.0.0.1", "-p", "-1", "-sd", dir}
	switch {
	case kind == "nats-server" && sync != "":
		conf := filepath.Join(dir, "peer.conf")
		body := fmt.Sprintf("jetstream { store_dir: %q, sync_interval: %s }\n", dir, sync)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return nil, err
		}
		args = []string{"-a", "127.0.0.1", "-p", "-1", "-c", conf}
	case kind == "nats-server":
		args = append(args, "-js")
	case sync != "":
		args = append(args, "--sync_interval", sync)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
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
