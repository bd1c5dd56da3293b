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

// report prints the medians per metric with the ratio cairn/nats-server,
// every round's values, and the reasons of failed workloads. It reports
// whether any workload failed.
func report(out io.Writer, ws []workload, res results, rounds int, cfg config, markdown bool, loadBefore string) bool {
	if markdown {
		fmt.Fprintf(out, "Command: `%s` (%s UTC, %d CPUs, %s; load average %s before, %s after).\n\n",
			commandLine(), time.Now().UTC().Format("2006-01-02 15:04"), runtime.NumCPU(), cpuModel(), loadBefore, loadAverage())
	}
	params := map[string]string{
		"put throughput": fmt.Sprintf("throughput %d clients for %v", cfg.clients, cfg.duration),
		"put latency":    fmt.Sprintf("latency %d puts from a client on a follower", cfg.latencyOps),
		"catch-up":       fmt.Sprintf("catch-up %d writes (async window %d)", cfg.catchupMsgs, cfg.window),
		"failover":       fmt.Sprintf("failover after %v of load from a client on a follower", cfg.failWarm),
	}
	var ran []string
	for _, w := range ws {
		ran = append(ran, params[w.name])
	}
	fmt.Fprintf(out, "Median of %d alternating rounds; 3-node clusters on 127.0.0.1 with JetStream, an R3 bucket per workload; %s.\n\n",
		rounds, strings.Join(ran, ", "))

	cell := func(kind string, m metric) (string, float64, bool) {
		v := res.values[kind][m.name]
		if len(v) == 0 {
			return "failed", 0, false
		}
		med := benchserver.Median(v)
		s := fmt.Sprintf(m.format, med)
		if len(v) < rounds {
			s += fmt.Sprintf(" (%d of %d rounds)", len(v), rounds)
		}
		return s, med, true
	}
	t := newTable(out, markdown, 2, 3, 4)
	t.row("metric", "unit", "cairn", "nats-server", "cairn/nats-server", "better")
	for _, w := range ws {
		for _, m := range w.metrics {
			cs, c, cok := cell("cairn", m)
			ns, n, nok := cell("nats-server", m)
			ratio := "n/a"
			if cok && nok && n != 0 {
				ratio = fmt.Sprintf("%.2f", c/n)
			}
			better := "higher"
			if m.lowerBetter {
				better = "lower"
			}
			t.row(m.name, m.unit, cs, ns, ratio, better)
		}
	}
	t.flush()

	fmt.Fprintln(out)
	fmt.Fprintln(out, "Each round:")
	fmt.Fprintln(out)
	t = newTable(out, markdown)
	t.row("metric", "unit", "server", "values")
	for _, w := range ws {
		for _, m := range w.metrics {
			for _, k := range kinds {
				var v []string
				for _, x := range res.values[k][m.name] {
					v = append(v, fmt.Sprintf(m.format, x))
				}
				t.row(m.name, m.unit, k, strings.Join(v, " "))
			}
		}
	}
	t.flush()

	failed := false
	for _, k := range kinds {
		for _, w := range ws {
			reasons := res.errs[k][w.name]
			if len(reasons) == 0 {
				continue
			}
			if !failed {
				fmt.Fprintln(out)
				fmt.Fprintln(out, "Failed:")
				fmt.Fprintln(out)
			}
			failed = true
			// The same reason in several rounds is printed once, with
			// their count.
			count := map[string]int{}
			var order []string
			for _, r := range reasons {
				if count[r] == 0 {
					order = append(order, r)
				}
				count[r]++
			}
			for _, r := range order {
				fmt.Fprintf(out, "- %s, %s (%d of %d rounds): %s\n", k, w.name, count[r], rounds, firstLine(r))
			}
		}
	}
	return failed
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// commandLine is the bench/run-r3 command that reproduces this run.
func commandLine() string {
	parts := []string{"bench/run-r3"}
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
