package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

var (
	// Several clients: "aggregated stats: N msgs/sec" and a
	// "latencies per operation ... | P50 Xus | ... | P99 Yus" line; one
	// client: "stats: N msgs/sec ~ ... ~ P50: Xus ~ ... ~ P99: Yus".
	rateRe = regexp.MustCompile(`stats: ([0-9,.]+) msgs/sec`)
	p50Re  = regexp.MustCompile(`(?:latencies per operation .*\| P50|stats: .* ~ P50:) ([0-9,.]+)(us|ms|s)`)
	p99Re  = regexp.MustCompile(`(?:latencies per operation .*\| P99|stats: .* ~ P99:) ([0-9,.]+)(us|ms|s)`)
)

// natsBench runs one natscli benchmark against url, with the global
// options conn (credentials) before the command, and parses its
// aggregated rate and latency percentiles.
func natsBench(natsBin, url string, conn, args []string) (result, error) {
	full := append([]string{"--server", url, "--no-context"}, conn...)
	full = append(full, args...)
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
