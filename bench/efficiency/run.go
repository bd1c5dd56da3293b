package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cairn-db/cairn/bench/benchserver"
)

// One measurement: a fresh server of one kind, loaded with n keys, taken
// through every phase, stopped, restarted on its store and measured
// again. The phases, in order:
//
//  1. load n keys (server CPU per key, keys/s);
//  2. after settle: the store directory (live) and RSS;
//  3. WatchAll with nats.go, repeated until minEntries entries have been
//     delivered (server CPU per entry, entries/s); RSS with the last
//     watcher still open;
//  4. ListKeys with nats.go, repeated likewise;
//  5. the lean watcher, repeated likewise;
//  6. SIGTERM: time to exit, and the store directory after the stop;
//  7. restart on the same store: time from exec to the first successful
//     get, and RSS then;
//  8. puts, gets and contended CAS by several clients on the restarted
//     server (server CPU per operation, operations/s).
//
// A phase that fails is reported and the next ones still run where they
// can; the server is always stopped and its store removed.

// config is what the flags set.
type config struct {
	cairnBin, peerBin string
	sync              string
	ops               int // puts, gets, and CAS attempts per phase
	clients           int
	minEntries        int // entries delivered per watch measurement, at least
	settle            time.Duration
	timeout           time.Duration // per phase
}

// result is what one measurement found: metric → value (base units:
// bytes, seconds, µs of CPU per operation, operations per second).
type result struct {
	vals map[string]float64
	errs []string
	// The store's files, live after loading and after the stop.
	filesLive, filesStop []fileUsage
}

func (r *result) fail(phase string, err error) {
	r.errs = append(r.errs, fmt.Sprintf("%s: %v", phase, err))
}

// measurement carries one measurement's state between phases.
type measurement struct {
	cfg  config
	kind string
	bin  string
	n    int
	proc *benchserver.Process // the server now running (or last run)
	res  *result
}

// measure runs every phase against a fresh server of kind with n keys.
func measure(cfg config, kind string, n int) *result {
	m := &measurement{cfg: cfg, kind: kind, bin: cfg.cairnBin, n: n, res: &result{vals: map[string]float64{}}}
	if kind == "nats-server" {
		m.bin = cfg.peerBin
	}
	p, err := benchserver.Start(kind, m.bin, benchserver.Options{Sync: cfg.sync})
	if err != nil {
		m.res.fail("start", err)
		return m.res
	}
	m.proc = p
	// Stop ends whichever process is current (at once if it has already
	// exited) and removes the store directory and config file.
	defer func() { m.proc.Stop() }()

	if err := m.loadPhase(); err != nil {
		m.res.fail("load", err)
		return m.res
	}
	m.storePhase("live")
	m.watchPhases()
	if err := m.stopPhase(); err != nil {
		m.res.fail("stop", err)
		return m.res
	}
	if err := m.restartPhase(); err != nil {
		m.res.fail("restart", err)
		return m.res
	}
	m.operationPhases()
	return m.res
}

func (m *measurement) pid() int { return m.proc.PID() }

func (m *measurement) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), m.cfg.timeout)
}

// settle waits before a reading of disk or memory, so that the servers'
// background work after a phase (flushes, syncs) is included.
func (m *measurement) settle() { time.Sleep(m.cfg.settle) }

func (m *measurement) loadPhase() error {
	ctx, cancel := m.context()
	defer cancel()
	c, err := dial(ctx, m.proc.URL, true)
	if err != nil {
		return err
	}
	defer c.close()
	cpu, err := startCPU(m.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	if err := c.load(ctx, m.n); err != nil {
		return err
	}
	m.res.vals[rowLoadRate] = float64(m.n) / time.Since(start).Seconds()
	per, err := cpu.perOp(m.n)
	if err != nil {
		return err
	}
	m.res.vals[rowCPULoad] = per
	m.settle()
	rssBytes, err := benchserver.RSS(m.pid())
	if err != nil {
		return err
	}
	m.res.vals[rowRSSLoad] = float64(rssBytes)
	return nil
}

// storePhase reads the store directory: "live" after loading, "stop"
// after the clean stop.
func (m *measurement) storePhase(when string) {
	alloc, apparent, files, err := diskUsage(m.proc.Dir)
	if err != nil {
		m.res.fail("disk "+when, err)
		return
	}
	if when == "live" {
		m.res.vals[rowDiskLive], m.res.vals[rowDiskLiveApparent] = float64(alloc), float64(apparent)
		m.res.filesLive = files
	} else {
		m.res.vals[rowDiskStop], m.res.vals[rowDiskStopApparent] = float64(alloc), float64(apparent)
		m.res.filesStop = files
	}
}

// repetitions returns how many times a watch phase runs over n keys to
// deliver at least minEntries entries.
func (m *measurement) repetitions() int {
	return max(1, (m.cfg.minEntries+m.n-1)/m.n)
}

// watchPhases runs WatchAll, ListKeys and the lean watcher.
func (m *measurement) watchPhases() {
	ctx, cancel := m.context()
	defer cancel()
	c, err := dial(ctx, m.proc.URL, false)
	if err != nil {
		m.res.fail("watch connect", err)
		return
	}
	defer c.close()
	if err := m.watchAllPhase(ctx, c); err != nil {
		m.res.fail("WatchAll", err)
	}
	reps := m.repetitions()
	err = m.timed(rowCPUList, rowListRate, reps*m.n, func() error {
		for range reps {
			if err := c.listKeys(ctx, m.n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		m.res.fail("ListKeys", err)
	}
	deadline, _ := ctx.Deadline()
	var delivering time.Duration
	// The harness's own CPU during the lean watches: the lean client's,
	// to show it is not what limits the rate.
	clientStart, clientErr := selfCPUSeconds()
	err = m.timed(rowCPULean, "", reps*m.n, func() error {
		for range reps {
			d, err := leanWatch(m.proc.URL, bucket, m.n, deadline)
			if err != nil {
				return err
			}
			delivering += d
		}
		return nil
	})
	if err != nil {
		m.res.fail("lean watcher", err)
	} else {
		m.res.vals[rowLeanRate] = float64(reps*m.n) / delivering.Seconds()
		if clientEnd, err := selfCPUSeconds(); err == nil && clientErr == nil {
			m.res.vals[rowClientLean] = (clientEnd - clientStart) * 1e6 / float64(reps*m.n)
		}
	}
}

// watchAllPhase times WatchAll's initial delivery, then reads RSS with
// the last watcher still open.
func (m *measurement) watchAllPhase(ctx context.Context, c *client) error {
	reps := m.repetitions()
	var open interface{ Stop() error }
	defer func() {
		if open != nil {
			_ = open.Stop()
		}
	}()
	err := m.timed(rowCPUWatch, rowWatchRate, reps*m.n, func() error {
		for i := range reps {
			w, err := c.watchAll(ctx, m.n)
			if err != nil {
				return err
			}
			if i < reps-1 {
				_ = w.Stop()
			} else {
				open = w
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.settle()
	rssBytes, err := benchserver.RSS(m.pid())
	if err != nil {
		return err
	}
	m.res.vals[rowRSSWatch] = float64(rssBytes)
	return nil
}

// timed runs work, which makes ops operations, and records the server's
// CPU per operation under cpuRow and the operations per second of wall
// time under rateRow (unless it is empty).
func (m *measurement) timed(cpuRow, rateRow string, ops int, work func() error) error {
	cpu, err := startCPU(m.pid())
	if err != nil {
		return err
	}
	start := time.Now()
	if err := work(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	per, err := cpu.perOp(ops)
	if err != nil {
		return err
	}
	m.res.vals[cpuRow] = per
	if rateRow != "" {
		m.res.vals[rateRow] = float64(ops) / elapsed.Seconds()
	}
	return nil
}

// stopPhase ends the server with SIGTERM, times its exit and reads the
// store directory it leaves.
func (m *measurement) stopPhase() error {
	d, err := m.proc.Terminate(m.cfg.timeout)
	if err != nil {
		return err
	}
	m.res.vals[rowStop] = d.Seconds()
	m.storePhase("stop")
	return nil
}

// restartPhase starts the server again on the same store and times it
// from exec to the first successful get of a loaded key.
func (m *measurement) restartPhase() error {
	start := time.Now()
	p, err := benchserver.Start(m.kind, m.bin, benchserver.Options{
		Sync: m.cfg.sync, Dir: m.proc.Dir, StartTimeout: m.cfg.timeout,
	})
	if err != nil {
		return err
	}
	m.proc = p
	deadline := start.Add(m.cfg.timeout)
	for {
		err := firstGet(p.URL)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no successful get within %v: %w", m.cfg.timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.res.vals[rowRestart] = time.Since(start).Seconds()
	m.settle()
	rssBytes, err := benchserver.RSS(m.pid())
	if err != nil {
		return err
	}
	m.res.vals[rowRSSRestart] = float64(rssBytes)
	return nil
}

// firstGet connects, binds to the bucket and gets its first key.
func firstGet(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	c, err := dial(ctx, url, false)
	if err != nil {
		return err
	}
	defer c.close()
	_, err = c.kv.Get(ctx, keyName(0))
	return err
}

// operationPhases measures puts, gets and contended CAS, each client on
// its own connection.
func (m *measurement) operationPhases() {
	ctx, cancel := m.context()
	defer cancel()
	var clients []*client
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	for range m.cfg.clients {
		c, err := dial(ctx, m.proc.URL, false)
		if err != nil {
			m.res.fail("operations connect", err)
			return
		}
		clients = append(clients, c)
	}
	ops := m.cfg.ops / m.cfg.clients * m.cfg.clients
	if err := m.timed(rowCPUPut, rowPutRate, ops, func() error { return puts(ctx, clients, m.n, ops) }); err != nil {
		m.res.fail("put", err)
	}
	if err := m.timed(rowCPUGet, rowGetRate, ops, func() error { return gets(ctx, clients, m.n, ops) }); err != nil {
		m.res.fail("get", err)
	}
	var cas casResult
	err := m.timed(rowCPUCAS, rowCASRate, m.cfg.ops, func() error {
		var err error
		cas, err = contendedCAS(ctx, clients, keyName(0), m.cfg.ops)
		return err
	})
	if err != nil {
		m.res.fail("CAS", err)
		return
	}
	m.res.vals[rowCASWon], m.res.vals[rowCASLost] = float64(cas.succeeded), float64(cas.failed)
	if cas.rereads > 0 {
		fmt.Fprintf(os.Stderr, "  %s: %d CAS losses needed a get (error text without the revision)\n", m.kind, cas.rereads)
	}
}
