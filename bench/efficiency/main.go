// Command efficiency measures what a KV bucket costs cairn-server and
// nats-server side by side (issue 11): the store directory's disk usage
// live and after a clean stop, resident memory, the time a clean stop
// and a restart take, the server's own CPU time per operation (put, get,
// contended CAS, watch and list deliveries), and the rate at which each
// server delivers a WatchAll to a lean raw-protocol client.
//
// For each key count, rounds alternate which server runs first; each
// measurement starts a fresh process with a fresh store (see run.go for
// the phases). It prints the medians, their ratio cairn ÷ nats-server
// (below 1 is better for costs, above 1 for rates), the per-key bytes of
// disk and memory, every round's values, and the largest files of each
// store. Run it through bench/run-efficiency, which builds the binaries.
//
// Server CPU is utime+stime of the server process from /proc/PID/stat,
// sampled around each phase: what decides how much a deployment with
// more cores can serve, and unlike wall-clock rates, little disturbed by
// other load on the machine or by the clients sharing its cores.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.cairnBin, "cairn", ".tools/cairn-server", "cairn-server binary")
	flag.StringVar(&cfg.peerBin, "peer", ".tools/nats-server", "nats-server binary")
	keys := flag.String("keys", "10000,200000", "comma-separated key counts (e.g. 1000000,5000000 for the scale curve)")
	rounds := flag.Int("rounds", 3, "rounds per server and key count (medians are reported)")
	flag.StringVar(&cfg.sync, "sync", "", `sync policy for both servers: "" (each server's default) or e.g. "always"`)
	flag.IntVar(&cfg.ops, "ops", 20000, "puts, gets and CAS attempts per phase")
	flag.IntVar(&cfg.clients, "clients", 4, "clients (each with its own connection) for puts, gets and CAS")
	flag.IntVar(&cfg.minEntries, "min-entries", 200000, "entries each watch measurement delivers at least (repeating the watch over small buckets)")
	flag.DurationVar(&cfg.settle, "settle", time.Second, "pause before each disk or RSS reading")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "bound on each phase")
	top := flag.Int("top", 10, "largest store files to list")
	markdown := flag.Bool("markdown", false, "print Markdown tables")
	flag.Parse()

	counts, err := parseCounts(*keys)
	if err != nil {
		fatal(err)
	}
	if *rounds < 1 || cfg.clients < 1 || cfg.ops < cfg.clients || cfg.minEntries < 1 {
		fatal(fmt.Errorf("need -rounds ≥ 1, -clients ≥ 1, -ops ≥ -clients, -min-entries ≥ 1"))
	}
	for _, bin := range []string{cfg.cairnBin, cfg.peerBin} {
		if _, err := os.Stat(bin); err != nil {
			fatal(err)
		}
	}
	policy := cfg.sync
	if policy == "" {
		policy = "each server's default"
	}
	fmt.Printf("efficiency: %s, %d CPUs, CLK_TCK %.0f, sync policy: %s, %d B values, history 1\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), clockTicks, policy, valueSize)
	fmt.Printf("  %d ops per put/get/CAS phase over %d clients; watches repeated to ≥ %d entries; settle %v\n",
		cfg.ops, cfg.clients, cfg.minEntries, cfg.settle)

	for _, n := range counts {
		results := map[string][]*result{}
		loadBefore := loadAverage()
		for r := range *rounds {
			order := slices.Clone(kinds)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, kind := range order {
				start := time.Now()
				res := measure(cfg, kind, n)
				results[kind] = append(results[kind], res)
				fmt.Fprintf(os.Stderr, "%d keys, round %d/%d, %s (%.0fs): %s\n",
					n, r+1, *rounds, kind, time.Since(start).Seconds(), summary(res))
				for _, e := range res.errs {
					fmt.Fprintf(os.Stderr, "  error: %s\n", e)
				}
			}
		}
		fmt.Printf("\n## %d keys: median of %d alternating rounds (load average before %s, after %s)\n\n",
			n, *rounds, loadBefore, loadAverage())
		report(os.Stdout, n, results, *markdown, *top)
	}
}

func parseCounts(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad key count %q", f)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "efficiency: %v\n", err)
	os.Exit(1)
}
