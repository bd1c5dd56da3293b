package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// kvOpBuckets are the bounds (seconds) of the KV operation latency
// histograms: a get or put takes tens of microseconds in the server, a
// put under sync always an fsync, a watch start a snapshot.
var kvOpBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5,
}

// kvObserver records what jsapi measures. The histogram of every
// (operation, result) pair is resolved once, so an observation is an
// array index and an atomic histogram update.
type kvObserver struct {
	durations *prometheus.HistogramVec
	byOp      [jsapi.NumKVOps][jsapi.NumResults]prometheus.Observer
	errors    *prometheus.CounterVec
}

var _ jsapi.Observer = (*kvObserver)(nil)

// kvOps is the process-wide observer: jsapi's observer is process-wide
// (jsapi.SetObserver), and every registry exports it.
var kvOps = newKVObserver()

// KVObserver returns the process-wide observer to install with
// jsapi.SetObserver.
func KVObserver() jsapi.Observer { return kvOps }

func newKVObserver() *kvObserver {
	o := &kvObserver{
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cairn_kv_operation_duration_seconds",
			Help: "Time the server took to handle a KV operation, by operation (put, get, delete, create, update, purge, watch) " +
				"and result (ok, error, not_found for a get of a missing key); the _count is the number of operations.",
			Buckets: kvOpBuckets,
		}, []string{"op", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_jetstream_api_errors_total",
			Help: "JetStream answers carrying an error, by err_code: API responses and publish acknowledgements (PubAcks).",
		}, []string{"code"}),
	}
	for op := jsapi.KVOp(0); op < jsapi.NumKVOps; op++ {
		for r := jsapi.Result(0); r < jsapi.NumResults; r++ {
			if r == jsapi.ResultNotFound && op != jsapi.OpGet {
				continue // only a get finds nothing; the series would stay 0
			}
			o.byOp[op][r] = o.durations.WithLabelValues(op.String(), r.String())
		}
	}
	return o
}

// ObserveKVOp implements jsapi.Observer.
func (o *kvObserver) ObserveKVOp(op jsapi.KVOp, r jsapi.Result, d time.Duration) {
	if op >= jsapi.NumKVOps || r >= jsapi.NumResults {
		return
	}
	h := o.byOp[op][r]
	if h == nil {
		h = o.durations.WithLabelValues(op.String(), r.String())
	}
	h.Observe(d.Seconds())
}

// ObserveError implements jsapi.Observer. Codes come from jsapi's error
// table, so the label's values are bounded.
func (o *kvObserver) ObserveError(code uint16) {
	o.errors.WithLabelValues(strconv.FormatUint(uint64(code), 10)).Inc()
}
