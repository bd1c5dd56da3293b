package jsapi

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// benchObserver does what internal/metrics' observer does (which this
// package cannot import: it imports jsapi): one pre-resolved
// histogram per operation and result.
type benchObserver struct {
	byOp [NumKVOps][NumResults]prometheus.Observer
}

func (o *benchObserver) ObserveKVOp(op KVOp, r Result, d time.Duration) {
	o.byOp[op][r].Observe(d.Seconds())
}

func (o *benchObserver) ObserveError(uint16) {}

// withBenchObserver installs a histogram-backed observer for the
// benchmark's duration.
func withBenchObserver(b *testing.B) *prometheus.HistogramVec {
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "bench_kv_operation_duration_seconds",
		Buckets: prometheus.ExponentialBuckets(0.00001, 2.5, 18),
	}, []string{"op", "result"})
	o := &benchObserver{}
	for op := range o.byOp {
		for r := range o.byOp[op] {
			o.byOp[op][r] = vec.WithLabelValues(KVOp(op).String(), Result(r).String())
		}
	}
	SetObserver(o)
	b.Cleanup(func() { SetObserver(nil) })
	return vec
}

// BenchmarkIngestObserved is BenchmarkIngest with the KV operations
// timed and observed, as a server with a monitoring port does.
func BenchmarkIngestObserved(b *testing.B) {
	withBenchObserver(b)
	BenchmarkIngest(b)
}

// BenchmarkDirectGetLastObserved is BenchmarkDirectGetLast with the
// gets timed and observed.
func BenchmarkDirectGetLastObserved(b *testing.B) {
	withBenchObserver(b)
	BenchmarkDirectGetLast(b)
}

// BenchmarkMetricsHook measures the hook alone, as a get pays it: the
// start time (when the stream is a bucket and an observer is
// installed) and the report of the result. "off": no observer.
func BenchmarkMetricsHook(b *testing.B) {
	a, _ := newBenchAPI(b)
	s := a.lookup("KV_b")
	run := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			start := s.kvStart()
			observeGet(start, nil)
		}
	}
	b.Run("off", run)
	b.Run("on", func(b *testing.B) {
		withBenchObserver(b)
		run(b)
	})
}
