// Command cluster compares a cluster of cairn-server nodes with a
// cluster of nats-server v2.15.2 nodes (issue 14): cross-node pub/sub
// throughput, cross-node request/reply latency and throughput, and the
// CPU time and memory of an idle cluster. Run it through bench/run-cluster,
// which installs nats-server and builds cairn-server into .tools/ first:
//
//	bench/run-cluster                        # all workloads, 5 alternating rounds
//	bench/run-cluster -markdown              # the table for docs/PERFORMANCE.md
//	bench/run-cluster -rounds 3 -only pub/sub -msgs 1000000
//	bench/run-cluster -only idle -idle 60s   # finer CPU resolution
//	bench/run-cluster -js                    # both servers with JetStream/KV on
//	bench/run-cluster -rounds 1 -msgs 20000 -requests 2000 -inflight-requests 20000 -idle 5s   # a quick check
//
// Each round starts, for each kind in turn (the order alternates from
// round to round so that drift on the machine hits both alike), a fresh
// 3-node cluster for the messaging workloads and a fresh 5-node cluster
// for the idle one, and stops every node by its PID (SIGTERM, SIGKILL
// after 10 s) at the end. Nodes run on 127.0.0.1 with client and route
// ports the harness picks, with nats-server's flags, the same for both
// kinds (-a, -p, --server_name, --cluster, --cluster_name, --routes with
// every node's route URL, -l); without -js nats-server runs core NATS
// only (its default) and cairn-server gets --no_kv to match, with -js
// both get -js and a store directory. Before anything is measured the
// harness waits, by polling with a deadline, until every node's INFO
// lists every node's client URL and a probe published on n1 reaches a
// subscriber on every other node; each workload then probes its own
// subject again until its subscribers or responder are reachable.
//
// Workloads (clients are nats.go, in this process):
//
//   - pub/sub n1->n2 SIZE: a publisher on n1 sends -msgs messages of SIZE
//     bytes (-sizes) to a subscriber on n2; msgs/s is -msgs over the time
//     from the first publish to the last arrival. The publisher stays at
//     most about 8 MiB ahead of the subscriber (no slow-consumer drops).
//   - pub/sub n1->n2+n3 SIZE: the same with a subscriber on n2 and one on
//     n3, each receiving every message; the time runs to the last arrival
//     at the slower of the two.
//   - req/reply n1->n2 sequential 128B: -requests round trips one after
//     another from a requester on n1 to an echo responder on n2; median
//     and 99th percentile latency.
//   - req/reply n1->n2 N in flight 128B: -inflight goroutines share one
//     requester connection on n1 and send -inflight-requests requests in
//     all to the responder on n2; requests per second.
//   - idle 5 nodes: a formed 5-node cluster without clients for -idle; each
//     node's CPU time (utime+stime of /proc/PID/stat) per minute and its
//     RSS at the end, median over the nodes (per node on stderr), and the
//     CPU time of all five together. One clock tick (10 ms) over 20 s is
//     30 ms/min: the per-node figure is coarse unless -idle is long.
//
// It prints the median over rounds of each row for each kind, their
// ratio cairn/nats-server (the last column says whether higher or lower
// is better) and every round's values; -markdown prints the same as
// Markdown tables with the command, date and machine.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var kinds = []string{"cairn", "nats-server"}

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	rounds := flag.Int("rounds", 5, "rounds per kind (medians are reported)")
	only := flag.String("only", "", "run only workloads whose name contains this (e.g. pub/sub, req/reply, idle, 1KiB)")
	var cfg config
	flag.IntVar(&cfg.msgs, "msgs", 500000, "messages per pub/sub measurement")
	sizes := flag.String("sizes", "16,1024", "pub/sub payload sizes in bytes, comma separated")
	flag.IntVar(&cfg.requests, "requests", 20000, "sequential request/reply round trips")
	flag.IntVar(&cfg.inflight, "inflight", 64, "concurrent requesters for the in-flight request/reply workload")
	flag.IntVar(&cfg.inflightN, "inflight-requests", 200000, "requests in all for the in-flight workload")
	flag.DurationVar(&cfg.idle, "idle", 20*time.Second, "how long the 5-node cluster is left idle")
	flag.BoolVar(&cfg.js, "js", false, "run both servers with JetStream (-js -sd DIR) instead of core NATS only")
	markdown := flag.Bool("markdown", false, "print Markdown tables")
	flag.Parse()

	var err error
	if cfg.sizes, err = parseSizes(*sizes); err != nil {
		fatal(err)
	}
	if *rounds < 1 || cfg.msgs < 1 || cfg.requests < 1 || cfg.inflight < 1 || cfg.inflightN < cfg.inflight || cfg.idle <= 0 {
		fatal(fmt.Errorf("need -rounds, -msgs, -requests, -inflight ≥ 1, -inflight-requests ≥ -inflight, -idle > 0"))
	}
	bins := map[string]string{"cairn": *cairnBin, "nats-server": *peerBin}
	for _, bin := range bins {
		if _, err := os.Stat(bin); err != nil {
			fatal(err)
		}
	}
	var selected []workload
	for _, w := range workloads(cfg) {
		if strings.Contains(w.name, *only) {
			selected = append(selected, w)
		}
	}
	if len(selected) == 0 {
		fatal(fmt.Errorf("no workload name contains %q", *only))
	}

	// An interrupt stops the nodes this process started, by PID.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "cluster: %v: stopping the nodes started\n", s)
		killRunning()
		os.Exit(130)
	}()

	load := loadAverage()
	results := map[string]map[string][]float64{}
	for _, k := range kinds {
		results[k] = map[string][]float64{}
	}
	for r := range *rounds {
		order := kinds
		if r%2 == 1 {
			order = []string{kinds[1], kinds[0]}
		}
		for _, k := range order {
			if err := runRound(k, bins[k], selected, cfg, results[k]); err != nil {
				fatal(fmt.Errorf("%s round %d: %w", k, r+1, err))
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	report(os.Stdout, selected, results, *rounds, cfg, *markdown, load)
}

// runRound starts a fresh cluster of kind for each cluster size the
// selected workloads need, runs those workloads on it in order, stops it
// and appends each metric's value to into.
func runRound(kind, bin string, ws []workload, cfg config, into map[string][]float64) error {
	for _, size := range []int{3, idleNodes} {
		var group []workload
		for _, w := range ws {
			if w.nodes == size {
				group = append(group, w)
			}
		}
		if len(group) == 0 {
			continue
		}
		if err := runOn(kind, bin, size, group, cfg, into); err != nil {
			return err
		}
	}
	return nil
}

func runOn(kind, bin string, size int, ws []workload, cfg config, into map[string][]float64) error {
	start := time.Now()
	c, err := startCluster(kind, bin, size, cfg.js)
	if err != nil {
		return err
	}
	defer c.stop()
	fmt.Fprintf(os.Stderr, "%s: %d-node cluster formed in %v\n", kind, size, time.Since(start).Round(time.Millisecond))
	for _, w := range ws {
		vals, err := w.run(c, cfg)
		if err == nil {
			err = c.checkAlive()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		var shown []string
		for _, m := range w.metrics {
			into[m.name] = append(into[m.name], vals[m.name])
			shown = append(shown, fmt.Sprintf(m.format+" %s", vals[m.name], m.unit))
		}
		fmt.Fprintf(os.Stderr, "  %s %s: %s\n", kind, w.name, strings.Join(shown, ", "))
	}
	return nil
}

func parseSizes(s string) ([]int, error) {
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 1<<20 {
			return nil, fmt.Errorf("-sizes: %q is not a size from 1 to 1048576", f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "cluster: %v\n", err)
	killRunning()
	os.Exit(1)
}
