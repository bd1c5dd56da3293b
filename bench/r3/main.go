// Command r3 compares replicated (R3) KV buckets on a 3-node cairn-server
// cluster with the same on a 3-node nats-server v2.15.2 cluster (issue 15,
// point 7). Run it through bench/run-r3, which installs nats-server and
// builds cairn-server into .tools/ first:
//
//	bench/run-r3                                  # 5 alternating rounds, every workload
//	bench/run-r3 -markdown                        # tables for docs/PERFORMANCE.md
//	bench/run-r3 -rounds 3 -only failover
//	bench/run-r3 -rounds 1 -duration 2s -latency-ops 1000 -catchup-msgs 5000   # a quick check
//
// Each round starts, for each kind in turn (the order alternates from
// round to round), a fresh 3-node cluster on 127.0.0.1 with the same
// nats-server flags for both (-js -sd DIR, --server_name n1…n3,
// --cluster, --routes; see bench/r3/cluster), waits until every node
// answers a JetStream account info request, and runs the selected
// workloads in order, each on an R3 bucket of its own created through
// nats.go (jetstream.KeyValueConfig{Replicas: 3}) and waited on until
// its stream info names a leader with both replicas current:
//
//   - put throughput: -clients connections, client i on node i mod 3,
//     each doing synchronous kv.Put of 128-byte values for -duration;
//     acknowledged puts per second.
//   - put latency: one client on a node that is not the leader does
//     -latency-ops synchronous puts one after another; P50 and P99
//     (separate from the throughput run so that its queueing does not
//     make the P99).
//   - catch-up: kill -9 of a follower, -catchup-msgs puts through async
//     publish (-window unacknowledged at most) from a client on the
//     leader, restart of the follower on its store; seconds from the
//     restart (process start included) until the leader's stream info
//     lists the follower as current with lag 0 (leader's view), and
//     until the follower's own monitoring endpoint (-m, /jsz?streams=true)
//     shows its replica at the stream's last sequence (follower's view).
//   - failover: a client on a follower puts in a loop (250 ms bound per
//     put); after -fail-warm the leader named by stream info is killed
//     with SIGKILL; milliseconds from the kill to the acknowledgement of
//     the first put sent after the process was reaped.
//
// A kind whose workload fails (a server that refuses num_replicas 3, a
// leader that never appears) has that workload marked failed with the
// reason, the run goes on, and the exit status is 1. Every wait is
// bounded by -timeout; every node is stopped by its PID at the end of
// its round, and on an interrupt.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cairn-db/cairn/bench/r3/cluster"
)

var kinds = []string{"cairn", "nats-server"}

// results holds, per kind, the values of each metric over the rounds and
// the errors of failed workloads.
type results struct {
	values map[string]map[string][]float64
	errs   map[string]map[string][]string // kind → workload → reasons
}

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	rounds := flag.Int("rounds", 5, "rounds per kind (medians are reported)")
	only := flag.String("only", "", "run only workloads whose name contains this (put, throughput, latency, catch-up, failover)")
	var cfg config
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent publishers of the throughput run")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of the throughput run")
	flag.IntVar(&cfg.latencyOps, "latency-ops", 10000, "puts of the single-client latency loop")
	flag.IntVar(&cfg.catchupMsgs, "catchup-msgs", 100000, "writes the stopped follower misses")
	flag.IntVar(&cfg.window, "window", 1000, "async publish window of the catch-up writes")
	flag.DurationVar(&cfg.failWarm, "fail-warm", 2*time.Second, "steady put load before the leader is killed")
	flag.DurationVar(&cfg.timeout, "timeout", 60*time.Second, "bound on every wait for the cluster (leader, catch-up, failover)")
	markdown := flag.Bool("markdown", false, "print Markdown tables")
	flag.Parse()
	if *rounds < 1 || cfg.clients < 1 || cfg.duration <= 0 || cfg.latencyOps < 1 || cfg.catchupMsgs < 1 || cfg.window < 1 || cfg.failWarm <= 0 || cfg.timeout <= 0 {
		fatal(fmt.Errorf("need -rounds, -clients, -latency-ops, -catchup-msgs, -window ≥ 1 and positive durations"))
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

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "r3: %v: stopping the nodes started\n", s)
		cluster.KillAll()
		os.Exit(130)
	}()

	load := loadAverage()
	res := results{values: map[string]map[string][]float64{}, errs: map[string]map[string][]string{}}
	for _, k := range kinds {
		res.values[k] = map[string][]float64{}
		res.errs[k] = map[string][]string{}
	}
	for r := range *rounds {
		order := kinds
		if r%2 == 1 {
			order = []string{kinds[1], kinds[0]}
		}
		for _, k := range order {
			runRound(k, bins[k], selected, cfg, res)
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	failed := report(os.Stdout, selected, res, *rounds, cfg, *markdown, load)
	if failed {
		os.Exit(1)
	}
}

// runRound starts a fresh cluster of kind, runs the workloads on it in
// order and stops it. A workload's failure is recorded in res and the
// next one runs; a cluster that does not start fails them all.
func runRound(kind, bin string, ws []workload, cfg config, res results) {
	fail := func(w workload, err error) {
		res.errs[kind][w.name] = append(res.errs[kind][w.name], err.Error())
		fmt.Fprintf(os.Stderr, "  %s %s: FAILED: %v\n", kind, w.name, err)
	}
	start := time.Now()
	c, err := cluster.Start(cluster.Options{Kind: kind, Bin: bin, Nodes: 3})
	if err == nil {
		if err = c.WaitJetStream(cfg.timeout); err != nil {
			c.Stop()
		}
	}
	if err != nil {
		for _, w := range ws {
			fail(w, fmt.Errorf("cluster: %w", err))
		}
		return
	}
	defer c.Stop()
	fmt.Fprintf(os.Stderr, "%s: 3-node cluster with JetStream ready in %v\n", kind, time.Since(start).Round(time.Millisecond))
	for i, w := range ws {
		if err := c.CheckAlive(); err != nil {
			fail(w, err)
			continue
		}
		vals, err := w.run(c, cfg)
		if err == nil && w.name != "failover" { // failover leaves its victim dead
			err = c.CheckAlive()
		}
		if err != nil {
			// Metrics measured before the failure still count.
			for _, m := range w.metrics {
				if v, ok := vals[m.name]; ok {
					res.values[kind][m.name] = append(res.values[kind][m.name], v)
				}
			}
			fail(w, err)
			if dead := c.CheckAlive(); dead != nil && i < len(ws)-1 {
				// A node killed by the workload is still down: the rest
				// would measure a broken cluster.
				for _, rest := range ws[i+1:] {
					fail(rest, fmt.Errorf("not run: a node was down after %s failed: %v", w.name, dead))
				}
				return
			}
			continue
		}
		var shown []string
		for _, m := range w.metrics {
			res.values[kind][m.name] = append(res.values[kind][m.name], vals[m.name])
			shown = append(shown, fmt.Sprintf(m.format+" %s", vals[m.name], m.unit))
		}
		fmt.Fprintf(os.Stderr, "  %s %s: %s\n", kind, w.name, strings.Join(shown, ", "))
	}
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "r3: %v\n", err)
	cluster.KillAll()
	os.Exit(2)
}
