// Command compare runs the same client workloads against cairn-server and
// nats-server, alternating between them, and prints the median of each
// workload on each server with their ratio. Run it through bench/run,
// which builds both servers first.
//
// Each round starts a fresh server process of each kind on a loopback
// port (with a fresh store directory), runs every workload against it and
// stops it; the order of the two servers alternates from round to round
// so that drift on the machine hits both alike.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// workload measures one thing against a running server and returns a
// figure in unit: a rate (higher is better) unless lowerBetter.
type workload struct {
	name        string
	unit        string
	run         func(p *benchserver.Process, d time.Duration) (float64, error)
	lowerBetter bool
}

func main() {
	cairnBin := flag.String("cairn", ".tools/cairn-server", "cairn-server binary")
	peerBin := flag.String("peer", ".tools/nats-server", "nats-server binary")
	rounds := flag.Int("rounds", 5, "rounds per server (the median is reported)")
	dur := flag.Duration("duration", 2*time.Second, "length of each measurement")
	only := flag.String("only", "", "run only workloads whose name contains this")
	watchKeys := flag.String("watch-keys", "10000,100000", "bucket sizes for the watch and keys workloads (comma separated; add 1000000 for the large run)")
	flag.Parse()

	var selected []workload
	for _, w := range append(allWorkloads(), watchWorkloads(*watchKeys)...) {
		if strings.Contains(w.name, *only) {
			selected = append(selected, w)
		}
	}
	results := map[string]map[string][]float64{"cairn": {}, "nats-server": {}}
	for r := 0; r < *rounds; r++ {
		order := []string{"cairn", "nats-server"}
		if r%2 == 1 {
			order = []string{"nats-server", "cairn"}
		}
		for _, kind := range order {
			bin := *cairnBin
			if kind == "nats-server" {
				bin = *peerBin
			}
			if err := runRound(kind, bin, selected, *dur, results[kind]); err != nil {
				fmt.Fprintf(os.Stderr, "compare: %s round %d: %v\n", kind, r+1, err)
				os.Exit(1)
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	printTable(selected, results, *rounds, *dur)
}

func runRound(kind, bin string, ws []workload, d time.Duration, into map[string][]float64) error {
	p, err := benchserver.Start(kind, bin, benchserver.Options{})
	if err != nil {
		return err
	}
	defer p.Stop()
	for _, w := range ws {
		rate, err := w.run(p, d)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		into[w.name] = append(into[w.name], rate)
	}
	return nil
}

func printTable(ws []workload, res map[string]map[string][]float64, rounds int, d time.Duration) {
	fmt.Printf("Median of %d alternating rounds, %v per timed measurement. \"cairn advantage\" is cairn/nats-server for rates and nats-server/cairn for latencies and memory.\n\n", rounds, d)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tunit\tcairn\tnats-server\tcairn advantage\t")
	for _, w := range ws {
		c, n := benchserver.Median(res["cairn"][w.name]), benchserver.Median(res["nats-server"][w.name])
		ratio := c / n
		if w.lowerBetter {
			ratio = n / c
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.2fx\t\n", w.name, w.unit, c, n, ratio)
	}
	tw.Flush()
}
