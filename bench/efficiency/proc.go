package main

import (
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// What the harness reads about a server process and its store, from
// /proc and the file system (Linux only).

// cpuSeconds and clockTicks: bench/benchserver's, shared with
// bench/cluster.
var (
	cpuSeconds = benchserver.CPUSeconds
	clockTicks = benchserver.ClockTicks
)

// selfCPUSeconds returns the user plus system CPU time this process has
// used, all its threads together.
func selfCPUSeconds() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), nil
}

// cpuMeter samples a process's CPU time around a phase.
type cpuMeter struct {
	pid   int
	start float64
}

func startCPU(pid int) (cpuMeter, error) {
	s, err := cpuSeconds(pid)
	return cpuMeter{pid: pid, start: s}, err
}

// perOp returns the CPU seconds used since startCPU, in microseconds per
// operation.
func (m cpuMeter) perOp(ops int) (float64, error) {
	if ops <= 0 {
		return 0, fmt.Errorf("no operations")
	}
	end, err := cpuSeconds(m.pid)
	if err != nil {
		return 0, err
	}
	return (end - m.start) * 1e6 / float64(ops), nil
}

// fileUsage is one file of a store directory.
type fileUsage struct {
	path      string // relative to the store directory
	size      int64  // st_size: the file's length
	allocated int64  // st_blocks*512: what it takes on disk
}

// diskUsage returns the allocated bytes (st_blocks*512, as du counts
// them, directories included, hard links once) and the apparent bytes
// (sum of file lengths) of everything under dir, and its regular files.
func diskUsage(dir string) (allocated, apparent int64, files []fileUsage, err error) {
	seen := map[[2]uint64]bool{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// A file removed by the server between listing and stat
			// (a compaction, a WAL recycled) is no longer there.
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		id := [2]uint64{uint64(st.Dev), st.Ino}
		if seen[id] {
			return nil
		}
		seen[id] = true
		allocated += st.Blocks * 512
		if d.Type().IsRegular() {
			apparent += st.Size
			rel, _ := filepath.Rel(dir, path)
			files = append(files, fileUsage{path: rel, size: st.Size, allocated: st.Blocks * 512})
		}
		return nil
	})
	return allocated, apparent, files, err
}

// largest returns the n files that take most space on disk, largest
// first.
func largest(files []fileUsage, n int) []fileUsage {
	s := slices.Clone(files)
	slices.SortFunc(s, func(a, b fileUsage) int {
		if c := cmp.Compare(b.allocated, a.allocated); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	if len(s) > n {
		s = s[:n]
	}
	return s
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

// fileType is a group of a store's files with the same extension.
type fileType struct {
	ext             string // ".log", ".sst", ".blk", or "other"
	files           int
	size, allocated int64
}

// byType groups files by extension, largest allocation first.
func byType(files []fileUsage) []fileType {
	groups := map[string]*fileType{}
	for _, f := range files {
		ext := filepath.Ext(f.path)
		if len(ext) < 2 || len(ext) > 5 || strings.ContainsAny(ext, "0123456789") {
			ext = "other" // MANIFEST-000001, LOCK, marker.format-version.000011.024
		}
		g := groups[ext]
		if g == nil {
			g = &fileType{ext: ext}
			groups[ext] = g
		}
		g.files++
		g.size += f.size
		g.allocated += f.allocated
	}
	var out []fileType
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b fileType) int {
		if c := cmp.Compare(b.allocated, a.allocated); c != 0 {
			return c
		}
		return strings.Compare(a.ext, b.ext)
	})
	return out
}
