// Command kv compares cairn-server with nats-server on the KV benchmarks
// of natscli (`nats bench kv put` and `nats bench kv get`), alternating
// the two servers round by round, and prints the medians with their
// ratio. Run it through bench/run-kv, which builds the binaries.
//
// Each round starts a fresh process of each server on a loopback port
// with a fresh store directory, then runs, against it:
//
//   - put, 4 clients: nats bench kv put --clients 4 --size 128B
//   - get, 4 clients: nats bench kv get --clients 4 --size 128B (reading
//     the keys the put run wrote)
//   - put, 1 client:  the same with one client, for single-client latency
//
// and records the aggregated ops/s and the P50 and P99 latencies that
// natscli prints.
//
// -auth user runs both servers with --user bench --pass bench and
// natscli with --user bench --password bench (issue 10: throughput with
// authentication).
//
// -tls gives both servers the same tls { cert_file, key_file } block, a
// self-signed ECDSA P-256 certificate for 127.0.0.1 made in a temporary
// directory (internal/testcert), and natscli --tlsca with it: every
// client connection is TLS (1.3, Go's defaults on both sides). It
// combines with -auth.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// result is what one natscli run reports.
type result struct {
	opsPerSec, p50us, p99us float64
}

// authModes are the -auth values: the extra command-line arguments of
// both servers, and the matching natscli connection options.
var authModes = map[string]struct{ server, client []string }{
	"":     {},
	"none": {},
	"user": {
		server: []string{"--user", benchUser, "--pass", benchPass},
		client: []string{"--user", benchUser, "--password", benchPass},
	},
}

// The credentials of -auth user.
const (
	benchUser = "bench"
	benchPass = "bench"
)

// run is one benchmark command.
type run struct {
	name string
	args []string
}

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	natsBin := flag.String("nats", ".tools/nats", "natscli binary")
	rounds := flag.Int("rounds", 5, "rounds per server (medians are reported)")
	msgs := flag.Int("msgs", 50000, "messages per multi-client run")
	latMsgs := flag.Int("latency-msgs", 20000, "messages of the single-client run")
	sync := flag.String("sync", "", `cairn --sync_interval (e.g. "always"); the peer gets the matching sync_interval`)
	authMode := flag.String("auth", "", `authentication of both servers: "none" (default) or "user" (--user/--pass `+benchUser+`/`+benchPass+`)`)
	useTLS := flag.Bool("tls", false, "TLS between natscli and both servers (one self-signed certificate)")
	flag.Parse()
	mode, ok := authModes[*authMode]
	if !ok {
		fmt.Fprintf(os.Stderr, "kv bench: -auth %q: want none or user\n", *authMode)
		os.Exit(2)
	}
	srv := benchserver.Options{Sync: *sync, Args: mode.server}
	client := mode.client
	cleanup := func() {}
	if *useTLS {
		dir, err := os.MkdirTemp("", "cairn-kvbench-tls-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "kv bench:", err)
			os.Exit(1)
		}
		cleanup = func() { os.RemoveAll(dir) }
		conf, clientArgs := tlsMode(dir)
		srv.Config += conf
		client = append(slices.Clone(client), clientArgs...)
	}

	common := []string{"--size", "128B", "--no-progress"}
	runs := []run{
		{"kv put, 4 clients", append([]string{"bench", "kv", "put", "--clients", "4", "--msgs", fmt.Sprint(*msgs)}, common...)},
		{"kv get, 4 clients", append([]string{"bench", "kv", "get", "--clients", "4", "--msgs", fmt.Sprint(*msgs)}, common...)},
		{"kv put, 1 client", append([]string{"bench", "kv", "put", "--clients", "1", "--msgs", fmt.Sprint(*latMsgs), "--purge"}, common...)},
	}
	results := map[string]map[string][]result{"cairn": {}, "nats-server": {}}
	for r := 0; r < *rounds; r++ {
		order := []string{"cairn", "nats-server"}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, kind := range order {
			bin := *cairnBin
			if kind == "nats-server" {
				bin = *peerBin
			}
			if err := runRound(kind, bin, *natsBin, srv, client, runs, results[kind]); err != nil {
				fmt.Fprintf(os.Stderr, "kv bench: %s round %d: %v\n", kind, r+1, err)
				cleanup()
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	cleanup()
	printTable(runs, results, *rounds, *authMode, *useTLS)
}

// runRound starts one server with srv and runs every benchmark against
// it with natscli's connection options clientArgs.
func runRound(kind, bin, natsBin string, srv benchserver.Options, clientArgs []string, runs []run, into map[string][]result) error {
	p, err := benchserver.Start(kind, bin, srv)
	if err != nil {
		return err
	}
	defer p.Stop()
	// Make sure the mode is what is measured: the server must ask for
	// credentials, or TLS, as the mode says.
	if err := checkInfo(p.URL, len(srv.Args) > 0, srv.Config != ""); err != nil {
		return err
	}
	for _, r := range runs {
		res, err := natsBench(natsBin, p.URL, clientArgs, r.args)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		into[r.name] = append(into[r.name], res)
	}
	return nil
}

// checkInfo reads the INFO the server at url sends and fails unless it
// carries auth_required and tls_required as wanted.
func checkInfo(url string, wantAuth, wantTLS bool) error {
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "nats://"), 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading INFO: %w", err)
	}
	var info struct {
		AuthRequired bool `json:"auth_required"`
		TLSRequired  bool `json:"tls_required"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "INFO ")), &info); err != nil {
		return fmt.Errorf("INFO %q: %w", line, err)
	}
	if info.AuthRequired != wantAuth || info.TLSRequired != wantTLS {
		return fmt.Errorf("server at %s: auth_required %v, tls_required %v; want %v, %v", url, info.AuthRequired, info.TLSRequired, wantAuth, wantTLS)
	}
	return nil
}

func column(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return benchserver.Median(v)
}

func printTable(runs []run, res map[string]map[string][]result, rounds int, authMode string, useTLS bool) {
	fmt.Printf("Median of %d alternating rounds of natscli bench kv, 128 B values.\n", rounds)
	if authMode == "user" {
		fmt.Printf("Both servers with --user %s --pass %s; natscli with --user/--password.\n", benchUser, benchPass)
	}
	if useTLS {
		fmt.Println("Both servers with tls { cert_file, key_file } (ECDSA P-256, self-signed); natscli with --tlsca.")
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\tmetric\tcairn\tnats-server\tratio\t")
	metrics := []struct {
		name string
		f    func(result) float64
		fmt  string
	}{
		{"ops/s", func(r result) float64 { return r.opsPerSec }, "%.0f"},
		{"P50 µs", func(r result) float64 { return r.p50us }, "%.1f"},
		{"P99 µs", func(r result) float64 { return r.p99us }, "%.1f"},
	}
	for _, r := range runs {
		for _, m := range metrics {
			c, n := column(res["cairn"][r.name], m.f), column(res["nats-server"][r.name], m.f)
			fmt.Fprintf(tw, "%s\t%s\t"+m.fmt+"\t"+m.fmt+"\t%.2fx\t\n", r.name, m.name, c, n, c/n)
		}
	}
	tw.Flush()
	fmt.Println("\nops/s per round (run order alternates):")
	for _, r := range runs {
		for _, kind := range []string{"cairn", "nats-server"} {
			var vals []string
			for _, x := range res[kind][r.name] {
				vals = append(vals, fmt.Sprintf("%.0f", x.opsPerSec))
			}
			fmt.Printf("  %-18s %-12s %s\n", r.name, kind, strings.Join(vals, " "))
		}
	}
}
