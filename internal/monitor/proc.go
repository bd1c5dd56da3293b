package monitor

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procSampler reads the process's resident memory and CPU use for
// /varz. CPU is a percentage of one core (like ps and nats-server: 200
// is two cores busy) over the time since the previous sample, no
// shorter than a second (varz polled in a tight loop reports the last
// second's, not noise); until a second has passed, over the life of the
// process.
type procSampler struct {
	mu       sync.Mutex
	lastAt   time.Time
	lastCPU  time.Duration
	lastPcpu float64
}

// init takes the first sample.
func (p *procSampler) init(now time.Time) {
	p.lastAt, p.lastCPU = now, cpuTime()
	if wall := now.Sub(processStart); wall > 0 {
		p.lastPcpu = 100 * float64(p.lastCPU) / float64(wall)
	}
}

func (p *procSampler) sample(now time.Time) (rss int64, pcpu float64) {
	rss = residentMemory()
	p.mu.Lock()
	defer p.mu.Unlock()
	if wall := now.Sub(p.lastAt); wall >= time.Second {
		cpu := cpuTime()
		p.lastPcpu = 100 * float64(cpu-p.lastCPU) / float64(wall)
		p.lastAt, p.lastCPU = now, cpu
	}
	return rss, math.Round(p.lastPcpu*10) / 10
}

// processStart approximates the process's start (package init).
var processStart = time.Now()

// residentMemory returns the resident set size from /proc where there
// is one, else the memory the Go runtime holds from the system.
func residentMemory() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}
