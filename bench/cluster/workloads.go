package main

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// metric is one row of the report.
type metric struct {
	name        string
	unit        string
	format      string // fmt verb for a value, e.g. "%.0f"
	lowerBetter bool
}

// workload measures one thing on a running cluster and returns a value
// per metric name.
type workload struct {
	name    string
	nodes   int // cluster size it needs
	metrics []metric
	run     func(c *cluster, cfg config) (map[string]float64, error)
}

// config is what the flags set for the workloads.
type config struct {
	msgs      int           // messages per pub/sub measurement
	sizes     []int         // payload sizes for pub/sub
	requests  int           // sequential round trips
	inflight  int           // concurrent requesters
	inflightN int           // requests in all for the concurrent run
	idle      time.Duration // idle window of the idle-CPU measurement
	js        bool          // JetStream on in both servers
}

// reqSize is the request and reply payload, as in bench/compare.
const reqSize = 128

func workloads(cfg config) []workload {
	var ws []workload
	for _, subs := range [][]int{{1}, {1, 2}} {
		for _, size := range cfg.sizes {
			name := fmt.Sprintf("pub/sub n1->n2 %s", sizeName(size))
			if len(subs) == 2 {
				name = fmt.Sprintf("pub/sub n1->n2+n3 %s", sizeName(size))
			}
			ws = append(ws, workload{
				name: name, nodes: 3,
				metrics: []metric{{name: name, unit: "msgs/s", format: "%.0f"}},
				run: func(c *cluster, cfg config) (map[string]float64, error) {
					rate, err := pubSub(c, subs, size, cfg.msgs)
					return map[string]float64{name: rate}, err
				},
			})
		}
	}
	seq := fmt.Sprintf("req/reply n1->n2 sequential %dB", reqSize)
	ws = append(ws, workload{
		name: seq, nodes: 3,
		metrics: []metric{
			{name: seq + " P50", unit: "µs", format: "%.1f", lowerBetter: true},
			{name: seq + " P99", unit: "µs", format: "%.1f", lowerBetter: true},
		},
		run: func(c *cluster, cfg config) (map[string]float64, error) {
			p50, p99, err := reqSequential(c, cfg.requests)
			return map[string]float64{seq + " P50": p50, seq + " P99": p99}, err
		},
	})
	par := fmt.Sprintf("req/reply n1->n2 %d in flight %dB", cfg.inflight, reqSize)
	ws = append(ws, workload{
		name: par, nodes: 3,
		metrics: []metric{{name: par, unit: "req/s", format: "%.0f"}},
		run: func(c *cluster, cfg config) (map[string]float64, error) {
			rate, err := reqInFlight(c, cfg.inflight, cfg.inflightN)
			return map[string]float64{par: rate}, err
		},
	})
	ws = append(ws, idleWorkload())
	return ws
}

func sizeName(size int) string {
	if size >= 1024 && size%1024 == 0 {
		return fmt.Sprintf("%dKiB", size/1024)
	}
	return fmt.Sprintf("%dB", size)
}

// subCounter counts what one subscriber received.
type subCounter struct {
	probed atomic.Bool               // an empty probe message arrived
	got    atomic.Int64              // benchmark messages received
	end    atomic.Pointer[time.Time] // time.Now() at the last one (monotonic)
	done   chan struct{}
}

// pubSub measures cross-node delivery: a publisher on n1 sends msgs
// messages of size bytes to one subscriber on each node of subNodes
// (indexes into c.nodes). It returns messages per second: msgs over the
// time from the first publish to the last message's arrival at the
// slowest subscriber (with two subscribers, each receives msgs).
//
// The publisher keeps at most about 8 MiB ahead of the slowest
// subscriber, so that neither server cuts a subscriber off as a slow
// consumer and the figure is delivered throughput, not buffering.
func pubSub(c *cluster, subNodes []int, size, msgs int) (float64, error) {
	var errs asyncErrors
	subject := nextSubject("ps")
	var counters []*subCounter
	for _, i := range subNodes {
		nc, err := connect(c.nodes[i], &errs)
		if err != nil {
			return 0, err
		}
		defer nc.Close()
		sc := &subCounter{done: make(chan struct{})}
		counters = append(counters, sc)
		s, err := nc.Subscribe(subject, func(m *nats.Msg) {
			if len(m.Data) == 0 {
				sc.probed.Store(true)
				return
			}
			if sc.got.Add(1) == int64(msgs) {
				now := time.Now()
				sc.end.Store(&now)
				close(sc.done)
			}
		})
		if err != nil {
			return 0, err
		}
		if err := s.SetPendingLimits(-1, -1); err != nil {
			return 0, err
		}
		if err := nc.Flush(); err != nil {
			return 0, err
		}
	}
	pub, err := connect(c.nodes[0], &errs)
	if err != nil {
		return 0, err
	}
	defer pub.Close()
	allProbed := func() bool {
		for _, sc := range counters {
			if !sc.probed.Load() {
				return false
			}
		}
		return true
	}
	if err := awaitProbe(pub, subject, 10*time.Second, allProbed); err != nil {
		return 0, err
	}
	slowest := func() int64 {
		low := counters[0].got.Load()
		for _, sc := range counters[1:] {
			low = min(low, sc.got.Load())
		}
		return low
	}
	payload := make([]byte, size)
	window := int64(max(1000, (8<<20)/(size+64)))
	start := time.Now()
	for sent := 1; sent <= msgs; sent++ {
		if err := pub.Publish(subject, payload); err != nil {
			return 0, err
		}
		if sent%256 != 0 || int64(sent)-slowest() <= window {
			continue
		}
		// Too far ahead: poll until the slowest subscriber is within
		// half the window (bounded; a dropped message never arrives).
		stall := time.Now().Add(30 * time.Second)
		for int64(sent)-slowest() > window/2 {
			if err := errs.get(); err != nil {
				return 0, err
			}
			if time.Now().After(stall) {
				return 0, fmt.Errorf("subscribers stalled at %d of %d sent", slowest(), sent)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	if err := pub.Flush(); err != nil {
		return 0, err
	}
	timeout := time.After(30 * time.Second)
	for _, sc := range counters {
		select {
		case <-sc.done:
		case <-timeout:
			return 0, fmt.Errorf("a subscriber got %d of %d (%v)", sc.got.Load(), msgs, errs.get())
		}
	}
	if err := errs.get(); err != nil {
		return 0, err
	}
	var elapsed time.Duration
	for _, sc := range counters {
		elapsed = max(elapsed, sc.end.Load().Sub(start))
	}
	return float64(msgs) / elapsed.Seconds(), nil
}

// responder subscribes an echo service on n2 and connects a requester to
// n1, and returns once a request from n1 has been answered (the
// responder's interest has crossed the route). closeAll closes both.
func responder(c *cluster) (req *nats.Conn, subject string, errs *asyncErrors, closeAll func(), err error) {
	errs = &asyncErrors{}
	subject = nextSubject("echo")
	resp, err := connect(c.nodes[1], errs)
	if err != nil {
		return nil, "", nil, nil, err
	}
	s, err := resp.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(m.Data) })
	if err == nil {
		err = s.SetPendingLimits(-1, -1)
	}
	if err == nil {
		err = resp.Flush()
	}
	if err != nil {
		resp.Close()
		return nil, "", nil, nil, err
	}
	if req, err = connect(c.nodes[0], errs); err != nil {
		resp.Close()
		return nil, "", nil, nil, err
	}
	closeAll = func() { req.Close(); resp.Close() }
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := req.Request(subject, nil, 200*time.Millisecond)
		if err == nil {
			return req, subject, errs, closeAll, nil
		}
		if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) || time.Now().After(deadline) {
			closeAll()
			return nil, "", nil, nil, fmt.Errorf("responder on n2 not reachable from n1: %w", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reqSequential measures n round trips, one after another, from a
// requester on n1 to a responder on n2, and returns the median and 99th
// percentile in microseconds.
func reqSequential(c *cluster, n int) (p50, p99 float64, err error) {
	req, subject, errs, closeAll, err := responder(c)
	if err != nil {
		return 0, 0, err
	}
	defer closeAll()
	payload := make([]byte, reqSize)
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if _, err := req.Request(subject, payload, 5*time.Second); err != nil {
			return 0, 0, fmt.Errorf("request %d: %w", i, err)
		}
		lat[i] = time.Since(start)
	}
	if err := errs.get(); err != nil {
		return 0, 0, err
	}
	slices.Sort(lat)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return us(lat[n/2]), us(lat[(n*99+99)/100-1]), nil
}

// reqInFlight measures throughput with many requests in flight: workers
// goroutines share one requester connection on n1 (nats.go multiplexes
// their replies on one inbox subscription), each sending total/workers
// requests one after another to the responder on n2. It returns requests
// per second.
func reqInFlight(c *cluster, workers, total int) (float64, error) {
	req, subject, errs, closeAll, err := responder(c)
	if err != nil {
		return 0, err
	}
	defer closeAll()
	payload := make([]byte, reqSize)
	each := total / workers
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := req.Request(subject, payload, 10*time.Second); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := first.Load(); e != nil {
		return 0, *e
	}
	if err := errs.get(); err != nil {
		return 0, err
	}
	return float64(each*workers) / elapsed.Seconds(), nil
}
