package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// report prints the medians per row with their ratio, then every
// round's values.
func report(out io.Writer, ws []workload, results map[string]map[string][]float64, rounds int, cfg config, markdown bool, loadBefore string) {
	mode := "core NATS only (cairn-server --no_kv, nats-server without -js)"
	if cfg.js {
		mode = "JetStream on in both (-js -sd DIR)"
	}
	if markdown {
		fmt.Fprintf(out, "Command: `%s` (%s UTC, %d CPUs, %s; load average %s before, %s after).\n\n",
			commandLine(), time.Now().UTC().Format("2006-01-02 15:04"), runtime.NumCPU(), cpuModel(), loadBefore, loadAverage())
	}
	params := map[string]string{
		"pub/sub":    fmt.Sprintf("pub/sub %d msgs", cfg.msgs),
		"sequential": fmt.Sprintf("%d sequential requests", cfg.requests),
		"in flight":  fmt.Sprintf("%d requests with %d in flight", cfg.inflightN, cfg.inflight),
		"idle":       fmt.Sprintf("idle %v (CPU resolution %.0f ms/min per node)", cfg.idle, cpuResolution(cfg.idle)),
	}
	var ran []string
	for _, key := range []string{"pub/sub", "sequential", "in flight", "idle"} {
		if slices.ContainsFunc(ws, func(w workload) bool { return strings.Contains(w.name, key) }) {
			ran = append(ran, params[key])
		}
	}
	fmt.Fprintf(out, "Median of %d alternating rounds; 3-node clusters (idle: %d nodes) on 127.0.0.1, %s; %s.\n\n",
		rounds, idleNodes, mode, strings.Join(ran, ", "))

	t := newTable(out, markdown, 2, 3, 4)
	t.row("workload", "unit", "cairn", "nats-server", "cairn/nats-server", "better")
	for _, w := range ws {
		for _, m := range w.metrics {
			c := benchserver.Median(results["cairn"][m.name])
			n := benchserver.Median(results["nats-server"][m.name])
			ratio := "n/a"
			if n != 0 {
				ratio = fmt.Sprintf("%.2f", c/n)
			}
			better := "higher"
			if m.lowerBetter {
				better = "lower"
			}
			t.row(m.name, m.unit, fmt.Sprintf(m.format, c), fmt.Sprintf(m.format, n), ratio, better)
		}
	}
	t.flush()

	fmt.Fprintln(out)
	fmt.Fprintln(out, "Each round:")
	fmt.Fprintln(out)
	t = newTable(out, markdown)
	t.row("workload", "unit", "server", "values")
	for _, w := range ws {
		for _, m := range w.metrics {
			for _, k := range kinds {
				var v []string
				for _, x := range results[k][m.name] {
					v = append(v, fmt.Sprintf(m.format, x))
				}
				t.row(m.name, m.unit, k, strings.Join(v, " "))
			}
		}
	}
	t.flush()
}

// commandLine is the bench/run-cluster command that reproduces this run:
// the flags set on the command line, without the binaries the wrapper
// passes.
func commandLine() string {
	parts := []string{"bench/run-cluster"}
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "cairn" || f.Name == "peer" {
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			parts = append(parts, "-"+f.Name)
			return
		}
		v := f.Value.String()
		if v == "" || strings.ContainsAny(v, " /'\"") {
			v = fmt.Sprintf("%q", v)
		}
		parts = append(parts, "-"+f.Name, v)
	})
	return strings.Join(parts, " ")
}

// loadAverage returns the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// table prints aligned text columns or a Markdown table.
type table struct {
	tw       *tabwriter.Writer
	out      io.Writer
	markdown bool
	numeric  []int // columns a Markdown table aligns right
	rows     int
}

func newTable(out io.Writer, markdown bool, numeric ...int) *table {
	return &table{tw: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0), out: out, markdown: markdown, numeric: numeric}
}

func (t *table) row(cells ...string) {
	if !t.markdown {
		fmt.Fprintf(t.tw, "%s\t\n", strings.Join(cells, "\t"))
		t.rows++
		return
	}
	fmt.Fprintf(t.out, "| %s |\n", strings.Join(cells, " | "))
	if t.rows == 0 {
		sep := make([]string, len(cells))
		for i := range sep {
			sep[i] = "---"
			if slices.Contains(t.numeric, i) {
				sep[i] = "---:"
			}
		}
		fmt.Fprintf(t.out, "| %s |\n", strings.Join(sep, " | "))
	}
	t.rows++
}

func (t *table) flush() {
	if !t.markdown {
		t.tw.Flush()
	}
}
