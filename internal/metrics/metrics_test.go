package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

type fakeCore struct{ st server.Stats }

func (f fakeCore) Stats() server.Stats { return f.st }

type fakeJS struct{ accounts []Account }

func (f fakeJS) Accounts() []Account { return f.accounts }

func fakeStore() *store.Metrics {
	return &store.Metrics{
		WALBytesWritten: 4096, WALBytesIn: 4000, WALFiles: 1, WALSize: 4000,
		WALSync:        store.Histogram{Bounds: []float64{0.001, 0.01}, Counts: []uint64{3, 4}, Count: 5, Sum: 0.5},
		BlockCacheHits: 3, BlockCacheMisses: 1, BlockCacheSize: 1 << 20, DiskUsage: 1 << 20,
	}
}

// TestCollectors: every family the registry exports follows the
// Prometheus naming conventions (promlint), and the values are those
// read from the sources, with the account label when configured and
// the shared block cache once.
func TestCollectors(t *testing.T) {
	core := fakeCore{server.Stats{Connections: 2, TotalConnections: 7, Subscriptions: 9, InMsgs: 11, InBytes: 1100, OutMsgs: 5, OutBytes: 500, SlowConsumers: 1}}
	js := fakeJS{[]Account{
		{Name: "A", Usage: jsapi.Usage{APITotal: 4, Streams: 1}, Buckets: []jsapi.BucketStats{{Bucket: "b", Entries: 3, Bytes: 300, Keys: 2, Watchers: 1}}, Store: fakeStore()},
		{Name: "B", Buckets: []jsapi.BucketStats{{Bucket: "b", Entries: 1, Bytes: 100, Keys: 1}}, Store: fakeStore()},
	}}
	r := New(Options{Core: core, JetStream: js, Accounts: true})
	problems, err := promlint.NewWithMetricFamilies(gather(t, r.Gatherer())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "cairn_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
	want := `
# HELP cairn_connections Client connections open now.
# TYPE cairn_connections gauge
cairn_connections 2
# HELP cairn_kv_bucket_keys Keys of a KV bucket with at least one message (deleted keys keep their marker until purged).
# TYPE cairn_kv_bucket_keys gauge
cairn_kv_bucket_keys{account="A",bucket="b"} 2
cairn_kv_bucket_keys{account="B",bucket="b"} 1
# HELP cairn_store_block_cache_hit_ratio Hits over lookups since start (0 before the first lookup); rate() of the two counters gives the recent ratio.
# TYPE cairn_store_block_cache_hit_ratio gauge
cairn_store_block_cache_hit_ratio 0.75
# HELP cairn_store_wal_sync_duration_seconds Latency of the write-ahead log syncs. Under the default sync policy most are no fsync (the log tail is written to the operating system, fsynced every sync_interval); under sync_interval: always each is an fsync.
# TYPE cairn_store_wal_sync_duration_seconds histogram
cairn_store_wal_sync_duration_seconds_bucket{account="A",le="0.001"} 3
cairn_store_wal_sync_duration_seconds_bucket{account="A",le="0.01"} 4
cairn_store_wal_sync_duration_seconds_bucket{account="A",le="+Inf"} 5
cairn_store_wal_sync_duration_seconds_sum{account="A"} 0.5
cairn_store_wal_sync_duration_seconds_count{account="A"} 5
cairn_store_wal_sync_duration_seconds_bucket{account="B",le="0.001"} 3
cairn_store_wal_sync_duration_seconds_bucket{account="B",le="0.01"} 4
cairn_store_wal_sync_duration_seconds_bucket{account="B",le="+Inf"} 5
cairn_store_wal_sync_duration_seconds_sum{account="B"} 0.5
cairn_store_wal_sync_duration_seconds_count{account="B"} 5
`
	compare(t, r.Gatherer(), want,
		"cairn_connections", "cairn_kv_bucket_keys", "cairn_store_block_cache_hit_ratio", "cairn_store_wal_sync_duration_seconds")

	// Without accounts: no account label; without JetStream: no
	// JetStream family at all.
	r = New(Options{Core: core, JetStream: fakeJS{js.accounts[:1]}})
	compare(t, r.Gatherer(), `
# HELP cairn_kv_bucket_watchers Consumers open on a KV bucket: watches, key listings and history reads.
# TYPE cairn_kv_bucket_watchers gauge
cairn_kv_bucket_watchers{bucket="b"} 1
`, "cairn_kv_bucket_watchers")
	r = New(Options{Core: core})
	for _, f := range gather(t, r.Gatherer()) {
		if strings.HasPrefix(f.GetName(), "cairn_kv_bucket") || strings.HasPrefix(f.GetName(), "cairn_store") {
			t.Errorf("without JetStream: %s", f.GetName())
		}
	}
}

// TestKVObserver: observations land in the histogram of their
// operation and result; out-of-range values are ignored; error codes
// count by code.
func TestKVObserver(t *testing.T) {
	o := newKVObserver()
	o.ObserveKVOp(jsapi.OpCreate, jsapi.ResultError, 3*time.Millisecond)
	o.ObserveKVOp(jsapi.OpGet, jsapi.ResultNotFound, time.Microsecond)
	o.ObserveKVOp(jsapi.NumKVOps, jsapi.ResultOK, time.Second)
	o.ObserveError(10071)
	o.ObserveError(10071)
	want := `
# HELP cairn_jetstream_api_errors_total JetStream answers carrying an error, by err_code: API responses and publish acknowledgements (PubAcks).
# TYPE cairn_jetstream_api_errors_total counter
cairn_jetstream_api_errors_total{code="10071"} 2
`
	reg := prometheus.NewRegistry()
	reg.MustRegister(o.durations, o.errors)
	compare(t, reg, want, "cairn_jetstream_api_errors_total")
	for _, f := range gather(t, reg) {
		if f.GetName() == "cairn_kv_operation_duration_seconds" && len(f.GetMetric()) != int(jsapi.NumKVOps)*2+1 {
			t.Fatalf("%d series, want every op with ok and error, and get not_found", len(f.GetMetric()))
		}
	}
	for _, c := range []struct {
		op     jsapi.KVOp
		r      jsapi.Result
		n      uint64
		sumMin float64
	}{{jsapi.OpCreate, jsapi.ResultError, 1, 0.003}, {jsapi.OpGet, jsapi.ResultNotFound, 1, 0.000001}, {jsapi.OpPut, jsapi.ResultOK, 0, 0}} {
		h, err := o.durations.GetMetricWithLabelValues(c.op.String(), c.r.String())
		if err != nil {
			t.Fatal(err)
		}
		var m dto.Metric
		if err := h.(prometheus.Metric).Write(&m); err != nil {
			t.Fatal(err)
		}
		if count, sum := m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum(); count != c.n || sum < c.sumMin {
			t.Errorf("%v %v: count %d sum %g", c.op, c.r, count, sum)
		}
	}
}

func gather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// compare renders the named families of g in the text format and
// compares them with want.
func compare(t *testing.T, g prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	var b strings.Builder
	for _, f := range gather(t, g) {
		for _, n := range names {
			if f.GetName() == n {
				if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if got := b.String(); strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
