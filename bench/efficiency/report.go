package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// Metric names, the keys of result.vals.
const (
	rowDiskLive         = "disk-live"
	rowDiskLiveApparent = "disk-live-apparent"
	rowDiskStop         = "disk-stop"
	rowDiskStopApparent = "disk-stop-apparent"
	rowRSSLoad          = "rss-load"
	rowRSSWatch         = "rss-watch"
	rowRSSRestart       = "rss-restart"
	rowStop             = "stop"
	rowRestart          = "restart"
	rowCPULoad          = "cpu-load"
	rowCPUPut           = "cpu-put"
	rowCPUGet           = "cpu-get"
	rowCPUCAS           = "cpu-cas"
	rowCPUWatch         = "cpu-watch"
	rowCPUList          = "cpu-list"
	rowCPULean          = "cpu-lean"
	rowClientLean       = "client-cpu-lean"
	rowLoadRate         = "rate-load"
	rowPutRate          = "rate-put"
	rowGetRate          = "rate-get"
	rowCASRate          = "rate-cas"
	rowWatchRate        = "rate-watch"
	rowListRate         = "rate-list"
	rowLeanRate         = "rate-lean"
	rowCASWon           = "cas-won"
	rowCASLost          = "cas-lost"
)

// row is one line of the report.
type row struct {
	metric string
	label  string
	unit   string
	scale  float64 // the metric's base unit ÷ scale = the shown unit
	perKey bool    // also show the value ÷ keys, in bytes
	format string  // of the shown value
}

var rows = []row{
	{rowDiskLive, "store dir live after loading, allocated (du)", "MB", 1e6, true, "%.1f"},
	{rowDiskLiveApparent, "store dir live after loading, file lengths", "MB", 1e6, true, "%.1f"},
	{rowDiskStop, "store dir after a clean stop, allocated (du)", "MB", 1e6, true, "%.1f"},
	{rowDiskStopApparent, "store dir after a clean stop, file lengths", "MB", 1e6, true, "%.1f"},
	{rowRSSLoad, "RSS after loading", "MiB", 1 << 20, true, "%.1f"},
	{rowRSSWatch, "RSS with a WatchAll open, all delivered", "MiB", 1 << 20, true, "%.1f"},
	{rowRSSRestart, "RSS after restart and first get", "MiB", 1 << 20, true, "%.1f"},
	{rowStop, "clean stop (SIGTERM → exit)", "ms", 1e-3, false, "%.0f"},
	{rowRestart, "restart → first get", "ms", 1e-3, false, "%.0f"},
	{rowCPULoad, "server CPU per key loaded (async publish)", "µs", 1, false, "%.2f"},
	{rowCPUPut, "server CPU per put", "µs", 1, false, "%.2f"},
	{rowCPUGet, "server CPU per get", "µs", 1, false, "%.2f"},
	{rowCPUCAS, "server CPU per CAS attempt (contended)", "µs", 1, false, "%.2f"},
	{rowCPUWatch, "server CPU per entry, WatchAll initial (nats.go)", "µs", 1, false, "%.2f"},
	{rowCPUList, "server CPU per key, ListKeys (nats.go)", "µs", 1, false, "%.2f"},
	{rowCPULean, "server CPU per entry, WatchAll initial (lean client)", "µs", 1, false, "%.2f"},
	{rowClientLean, "client CPU per entry, lean client itself", "µs", 1, false, "%.2f"},
	{rowLoadRate, "load (pipelined async publish)", "keys/s", 1, false, "%.0f"},
	{rowPutRate, "puts", "ops/s", 1, false, "%.0f"},
	{rowGetRate, "gets", "ops/s", 1, false, "%.0f"},
	{rowCASRate, "CAS attempts (contended)", "ops/s", 1, false, "%.0f"},
	{rowCASWon, "CAS attempts that won", "count", 1, false, "%.0f"},
	{rowCASLost, "CAS attempts that lost", "count", 1, false, "%.0f"},
	{rowWatchRate, "WatchAll initial delivery (nats.go)", "entries/s", 1, false, "%.0f"},
	{rowListRate, "ListKeys (nats.go)", "keys/s", 1, false, "%.0f"},
	{rowLeanRate, "WatchAll initial delivery (lean client)", "entries/s", 1, false, "%.0f"},
}

var kinds = []string{"cairn", "nats-server"}

// report prints, for one key count, the medians per server with their
// ratio and per-key bytes, then every round's values, then the largest
// files of each server's store in its first round (live after loading,
// and after the clean stop: by type, then the top largest), then the
// errors.
func report(out io.Writer, n int, results map[string][]*result, markdown bool, top int) {
	med := map[string]map[string]float64{}
	for _, k := range kinds {
		med[k] = map[string]float64{}
		for _, r := range rows {
			var v []float64
			for _, res := range results[k] {
				if x, ok := res.vals[r.metric]; ok {
					v = append(v, x)
				}
			}
			if len(v) > 0 {
				med[k][r.metric] = benchserver.Median(v)
			}
		}
	}
	t := newTable(out, markdown)
	t.row("row", "unit", "cairn", "nats-server", "cairn/nats-server", "cairn B/key", "nats-server B/key")
	for _, r := range rows {
		c, cok := med["cairn"][r.metric]
		p, pok := med["nats-server"][r.metric]
		cells := []string{r.label, r.unit, show(r, c, cok), show(r, p, pok), "n/a", "", ""}
		if cok && pok && p != 0 {
			cells[4] = fmt.Sprintf("%.2f×", c/p)
		}
		if r.perKey {
			cells[5], cells[6] = perKey(c, cok, n), perKey(p, pok, n)
		}
		t.row(cells...)
	}
	t.flush()

	fmt.Fprintf(out, "\nEvery round (in the shown unit; rounds alternate which server runs first):\n")
	t = newTable(out, markdown)
	t.row("row", "server", "values")
	for _, r := range rows {
		for _, k := range kinds {
			var v []string
			for _, res := range results[k] {
				x, ok := res.vals[r.metric]
				v = append(v, show(r, x, ok))
			}
			t.row(r.label, k, strings.Join(v, " "))
		}
	}
	t.flush()

	for _, k := range kinds {
		if len(results[k]) == 0 {
			continue
		}
		first := results[k][0]
		for _, l := range []struct {
			when  string
			files []fileUsage
		}{{"live after loading", first.filesLive}, {"after the clean stop", first.filesStop}} {
			if len(l.files) == 0 {
				continue
			}
			fmt.Fprintf(out, "\nThe %s store, %d keys, %s (first round), by file type:\n", k, n, l.when)
			t = newTable(out, markdown)
			t.row("type", "files", "length MB", "allocated MB")
			for _, g := range byType(l.files) {
				t.row(g.ext, fmt.Sprint(g.files), fmt.Sprintf("%.1f", float64(g.size)/1e6), fmt.Sprintf("%.1f", float64(g.allocated)/1e6))
			}
			t.flush()
			fmt.Fprintf(out, "and its %d largest files:\n", top)
			t = newTable(out, markdown)
			t.row("file", "length B", "allocated B")
			for _, f := range largest(l.files, top) {
				t.row(f.path, fmt.Sprint(f.size), fmt.Sprint(f.allocated))
			}
			t.flush()
		}
	}

	for _, k := range kinds {
		for i, res := range results[k] {
			for _, e := range res.errs {
				fmt.Fprintf(out, "ERROR %s round %d: %s\n", k, i+1, e)
			}
		}
	}
}

func show(r row, v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf(r.format, v/r.scale)
}

func perKey(v float64, ok bool, n int) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.0f", v/float64(n))
}

// table prints aligned text columns or a Markdown table.
type table struct {
	tw       *tabwriter.Writer
	out      io.Writer
	markdown bool
	rows     int
}

func newTable(out io.Writer, markdown bool) *table {
	return &table{tw: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0), out: out, markdown: markdown}
}

func (t *table) row(cells ...string) {
	if t.markdown {
		fmt.Fprintf(t.out, "| %s |\n", strings.Join(cells, " | "))
		if t.rows == 0 {
			sep := make([]string, len(cells))
			for i := range sep {
				sep[i] = "---"
				if i > 1 {
					sep[i] = "---:"
				}
			}
			fmt.Fprintf(t.out, "| %s |\n", strings.Join(sep, " | "))
		}
	} else {
		fmt.Fprintf(t.tw, "%s\t\n", strings.Join(cells, "\t"))
	}
	t.rows++
}

func (t *table) flush() {
	if !t.markdown {
		t.tw.Flush()
	}
}

// summary is one line per measurement for the progress log.
func summary(res *result) string {
	f := func(m string, scale float64, format string) string {
		v, ok := res.vals[m]
		if !ok || math.IsNaN(v) {
			return "n/a"
		}
		return fmt.Sprintf(format, v/scale)
	}
	s := fmt.Sprintf("disk %s MB live, %s MB stopped; RSS %s MiB; stop %s ms; restart %s ms; CPU µs put %s get %s cas %s watch %s",
		f(rowDiskLive, 1e6, "%.1f"), f(rowDiskStop, 1e6, "%.1f"), f(rowRSSLoad, 1<<20, "%.0f"),
		f(rowStop, 1e-3, "%.0f"), f(rowRestart, 1e-3, "%.0f"),
		f(rowCPUPut, 1, "%.1f"), f(rowCPUGet, 1, "%.1f"), f(rowCPUCAS, 1, "%.1f"), f(rowCPUWatch, 1, "%.2f"))
	if len(res.errs) > 0 {
		s += fmt.Sprintf("; %d errors", len(res.errs))
	}
	return s
}
