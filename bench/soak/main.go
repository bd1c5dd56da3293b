// Command soak checks durability across crashes of cairn-server: for
// each sync policy it runs cycles of
//
//  1. 4 writers putting to a KV bucket through nats.go, recording every
//     acknowledged (key, revision, value), and a watcher recording every
//     revision it is shown;
//  2. kill -9 of the server at a random moment;
//  3. a restart on the same store directory and a check that every
//     acknowledged put is there (at its revision with its value, or
//     superseded by a later revision of its key), and every watched one
//     too (no reader saw a write that a crash could take back).
//
// It prints the acknowledged and lost counts per cycle and per policy
// and exits with status 1 if anything was lost. Run it through
// bench/run-soak, which builds the server:
//
//	bench/run-soak                   # 100 cycles under always, 20 under the default policy
//	bench/run-soak -short            # 5 + 3 cycles (CI)
//	bench/run-soak -always 0 -default 50
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	server := flag.String("server", ".tools/cairn-server", "cairn-server binary")
	always := flag.Int("always", 100, "cycles under --sync_interval always")
	def := flag.Int("default", 20, "cycles under the default sync policy")
	short := flag.Bool("short", false, "5 cycles under always and 3 under the default policy")
	writers := flag.Int("writers", 4, "concurrent writers")
	seed := flag.Uint64("seed", 0, "random seed for the kill moments (0: from the clock)")
	flag.Parse()
	if *short {
		*always, *def = 5, 3
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	fmt.Printf("soak: seed %d, %d writers\n", *seed, *writers)
	results, err := soak(*server, *always, *def, *writers, *seed, os.Stdout)
	for _, r := range results {
		fmt.Println(r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	for _, r := range results {
		if r.Lost > 0 || r.SeenLost > 0 {
			os.Exit(1)
		}
	}
}

// policyResult is the summary line of one policy.
type policyResult struct {
	Policy string
	result
}

func (r policyResult) String() string {
	return fmt.Sprintf("%s: %d cycles, %d acknowledged puts, %d lost; %d watched revisions, %d lost",
		r.Policy, r.Cycles, r.Acked, r.Lost, r.Seen, r.SeenLost)
}

// soak runs the cycles of both policies with the server binary.
func soak(server string, always, def, writers int, seed uint64, log io.Writer) ([]policyResult, error) {
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	var out []policyResult
	for _, p := range []struct {
		name   string
		cycles int
	}{{"always", always}, {"default", def}} {
		if p.cycles == 0 {
			continue
		}
		res, err := run(config{
			server: server, policy: p.name, cycles: p.cycles, writers: writers, keys: 100,
			minRun: 20 * time.Millisecond, maxRun: 600 * time.Millisecond,
			rng: rng, log: log,
		})
		out = append(out, policyResult{p.name, res})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
