// Command r3soak is the long soak of replicated (R3) KV buckets (issue
// 15, point 6): clients on every node of a 3-node cluster run a KV
// workload (puts, creates taken as locks and released by revision,
// updates by revision, gets) against one R3 bucket while the harness
// kills the bucket's leader with SIGKILL (-kills times; the node is
// restarted on its store after a random time down) and cuts the routes
// between a random node and the others (-partitions times; the nodes'
// routes go through TCP proxies owned by the harness, see
// bench/r3/cluster), one fault at a time, each followed by a wait
// until the bucket has a leader with every replica current. Bounded by
// -duration: it stops early when the faults are done.
//
// Afterwards it checks that every acknowledged write is readable through
// every node (direct gets from a client of that node, which nats-server
// answers from that node's replica): the message at the write's revision
// has the write's key and value, or the revision is gone because a later
// revision of the key superseded it; that every node has the same latest
// revision and value for every key; and that every node's own replica
// (its /jsz?streams=true on the -m port) ends at the stream's last
// sequence. It prints
// the counts (operations, acknowledged writes, errors and unknown
// outcomes, kills, partitions, the longest time without any
// acknowledged write) and writes the history, one JSON object per
// operation with start and end times, to -history, for a linearizability
// checker. Exit status 1 if an acknowledged write is missing, the nodes
// differ or a replica is behind; 2 if the soak could not run.
//
//	bench/run-r3soak                                        # cairn, 100 kills, 20 partitions
//	bench/run-r3soak -kind nats-server                      # the same against nats-server
//	bench/run-r3soak -kills 3 -partitions 2 -duration 1m    # a short run
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cairn-db/cairn/bench/r3/cluster"
)

// config is what the flags set.
type config struct {
	kind, bin   string
	kills       int
	partitions  int
	duration    time.Duration
	perNode     int // clients per node
	keys        int
	maxDown     time.Duration // a killed leader stays down up to this
	maxHold     time.Duration // a partition lasts up to this
	recoverWait time.Duration // bound on the wait for a leader and current replicas
	seed        uint64
	history     string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.kind, "kind", "cairn", "server to soak: cairn or nats-server")
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	flag.IntVar(&cfg.kills, "kills", 100, "leader kills (kill -9, restart on the same store)")
	flag.IntVar(&cfg.partitions, "partitions", 20, "partitions (one random node cut off from the others)")
	flag.DurationVar(&cfg.duration, "duration", 30*time.Minute, "upper bound on the fault phase")
	flag.IntVar(&cfg.perNode, "clients", 2, "clients per node")
	flag.IntVar(&cfg.keys, "keys", 20, "keys k0… the puts and updates use")
	flag.DurationVar(&cfg.maxDown, "max-down", 2*time.Second, "a killed leader is restarted after a random time up to this")
	flag.DurationVar(&cfg.maxHold, "max-hold", 3*time.Second, "a partition is healed after a random time up to this")
	flag.DurationVar(&cfg.recoverWait, "recover", 60*time.Second, "bound on the wait for a leader with every replica current after a fault")
	flag.Uint64Var(&cfg.seed, "seed", 0, "random seed (0: from the clock)")
	flag.StringVar(&cfg.history, "history", "", "history file (default: r3soak-KIND-TIME.jsonl in the temporary directory)")
	flag.Parse()
	switch cfg.kind {
	case "cairn":
		cfg.bin = *cairnBin
	case "nats-server":
		cfg.bin = *peerBin
	default:
		fail(fmt.Errorf("-kind %q: want cairn or nats-server", cfg.kind))
	}
	if cfg.kills < 0 || cfg.partitions < 0 || cfg.perNode < 1 || cfg.keys < 1 || cfg.duration <= 0 || cfg.maxDown < 0 || cfg.maxHold <= 0 || cfg.recoverWait <= 0 {
		fail(fmt.Errorf("need -kills, -partitions ≥ 0, -clients, -keys ≥ 1, positive durations"))
	}
	if _, err := os.Stat(cfg.bin); err != nil {
		fail(err)
	}
	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	if cfg.history == "" {
		cfg.history = filepath.Join(os.TempDir(), fmt.Sprintf("r3soak-%s-%s.jsonl", cfg.kind, time.Now().UTC().Format("20060102T150405")))
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "r3soak: %v: stopping the nodes started\n", s)
		if h := current.Load(); h != nil {
			_ = h.close() // the operations so far stay readable
		}
		cluster.KillAll()
		os.Exit(130)
	}()

	fmt.Printf("r3soak: %s, seed %d, %d kills, %d partitions, at most %v, %d clients per node, history %s\n",
		cfg.kind, cfg.seed, cfg.kills, cfg.partitions, cfg.duration, cfg.perNode, cfg.history)
	sum, err := soak(cfg)
	if sum.started {
		fmt.Println(sum)
	}
	if err != nil {
		fail(err)
	}
	if sum.missing > 0 || sum.diverged > 0 || sum.behind > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "r3soak: %v\n", err)
	cluster.KillAll()
	os.Exit(2)
}
