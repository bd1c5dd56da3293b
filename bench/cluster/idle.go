package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// idleNodes is the size of the cluster left idle.
const idleNodes = 5

const (
	idleCPU    = "idle 5 nodes: CPU per node"
	idleCPUAll = "idle 5 nodes: CPU all nodes"
	idleRSS    = "idle 5 nodes: RSS per node"
)

func idleWorkload() workload {
	return workload{
		name:  "idle 5 nodes",
		nodes: idleNodes,
		metrics: []metric{
			{name: idleCPU, unit: "ms CPU/min", format: "%.0f", lowerBetter: true},
			{name: idleCPUAll, unit: "ms CPU/min", format: "%.0f", lowerBetter: true},
			{name: idleRSS, unit: "MiB", format: "%.1f", lowerBetter: true},
		},
		run: func(c *cluster, cfg config) (map[string]float64, error) {
			cpu, cpuAll, rss, err := idle(c, cfg.idle)
			return map[string]float64{idleCPU: cpu, idleCPUAll: cpuAll, idleRSS: rss}, err
		},
	}
}

// idle leaves the formed cluster without clients for d and returns the
// median over nodes of the CPU time each used (utime+stime from
// /proc/PID/stat, all threads), in milliseconds per minute, the sum of
// it over all nodes, and the median of their resident set size at the
// end, in MiB. The per-node CPU figure's resolution is one clock tick
// (10 ms at 100 Hz) over d, see cpuResolution; the sum is finer relative
// to its size.
func idle(c *cluster, d time.Duration) (cpuPerMin, cpuAllPerMin, rssMiB float64, err error) {
	before := make([]float64, len(c.nodes))
	for i, n := range c.nodes {
		if before[i], err = cpuSeconds(n.pid()); err != nil {
			return 0, 0, 0, err
		}
	}
	start := time.Now()
	// The wait is the measurement, not synchronisation: nothing is
	// expected to happen, and a node that exits meanwhile is an error.
	for time.Since(start) < d {
		time.Sleep(min(time.Second, d-time.Since(start)))
		if err := c.checkAlive(); err != nil {
			return 0, 0, 0, err
		}
	}
	elapsed := time.Since(start)
	var cpus, rsss []float64
	var perNode []string
	for i, n := range c.nodes {
		after, err := cpuSeconds(n.pid())
		if err != nil {
			return 0, 0, 0, err
		}
		rss, err := benchserver.RSS(n.pid())
		if err != nil {
			return 0, 0, 0, err
		}
		cpu := (after - before[i]) * 1000 * time.Minute.Seconds() / elapsed.Seconds()
		cpus = append(cpus, cpu)
		cpuAllPerMin += cpu
		rsss = append(rsss, float64(rss)/(1<<20))
		perNode = append(perNode, fmt.Sprintf("%s %.0f ms/min %.1f MiB", n.name, cpu, float64(rss)/(1<<20)))
	}
	fmt.Fprintf(os.Stderr, "  %s idle %v: %s\n", c.kind, elapsed.Round(time.Millisecond), strings.Join(perNode, ", "))
	return benchserver.Median(cpus), cpuAllPerMin, benchserver.Median(rsss), nil
}

// cpuResolution is the smallest non-zero per-node CPU figure an idle
// window of d can show, in ms per minute: one clock tick.
func cpuResolution(d time.Duration) float64 {
	return 1000 / clockTicks * time.Minute.Seconds() / d.Seconds()
}

// cpuSeconds and clockTicks: bench/benchserver's.
var (
	cpuSeconds = benchserver.CPUSeconds
	clockTicks = benchserver.ClockTicks
)
