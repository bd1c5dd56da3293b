package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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

// startServer runs bin on a free loopback port with a fresh store. sync,
// when set, is passed as cairn's --sync_interval and, for nats-server,
// as the jetstream sync_interval in a config file.
func startServer(kind, bin, sync string) (*serverProcess, error) {
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

var (
	// Several clients: "aggregated stats: N msgs/sec" and a
	// "latencies per operation ... | P50 Xus | ... | P99 Yus" line; one
	// client: "stats: N msgs/sec ~ ... ~ P50: Xus ~ ... ~ P99: Yus".
	rateRe = regexp.MustCompile(`stats: ([0-9,.]+) msgs/sec`)
	p50Re  = regexp.MustCompile(`(?:latencies per operation .*\| P50|stats: .* ~ P50:) ([0-9,.]+)(us|ms|s)`)
	p99Re  = regexp.MustCompile(`(?:latencies per operation .*\| P99|stats: .* ~ P99:) ([0-9,.]+)(us|ms|s)`)
)

// natsBench runs one natscli benchmark against url and parses its
// aggregated rate and latency percentiles.
func natsBench(natsBin, url string, args []string) (result, error) {
	full := append([]string{"--server", url, "--no-context"}, args...)
	cmd := exec.Command(natsBin, full...)
	cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var r result
	if r.opsPerSec, err = number(rateRe, out, ""); err != nil {
		return result{}, err
	}
	if r.p50us, err = number(p50Re, out, "us"); err != nil {
		return result{}, err
	}
	if r.p99us, err = number(p99Re, out, "us"); err != nil {
		return result{}, err
	}
	return r, nil
}

// number extracts re's first group as a float, converting a unit group
// (us, ms, s) to microseconds when want is "us".
func number(re *regexp.Regexp, out []byte, want string) (float64, error) {
	m := re.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no %q in natscli output:\n%s", re, out)
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(string(m[1]), ",", ""), 64)
	if err != nil {
		return 0, err
	}
	if want == "us" && len(m) > 2 {
		switch string(m[2]) {
		case "ms":
			v *= 1e3
		case "s":
			v *= 1e6
		}
	}
	return v, nil
}
