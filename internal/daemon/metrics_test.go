package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
)

// scrape fetches and parses /metrics: each family by name.
func scrape(t *testing.T, d *Daemon) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(d.MonitorURL() + MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, body)
	}
	return fams, string(body)
}

// sample returns the value of the series of family name whose labels
// include want (a histogram's sample count), and whether it exists.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func startMetricsDaemon(t *testing.T, edit func(*Config)) *Daemon {
	t.Helper()
	cfg := Config{StoreDir: t.TempDir(), HTTPPort: -1}
	cfg.Server.Host, cfg.Server.Port = "127.0.0.1", -1
	cfg.Server.Logger = server.NewLogger(io.Discard, false, false)
	if edit != nil {
		edit(&cfg)
	}
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Shutdown)
	return d
}

const metricsPassword = "m3trics-S3cret-pw"

// TestMetricsKVOperations: after real nats.go KV operations the
// operation counts and the 10071 error counter move by exactly what was
// done (process-wide families: the tests of this package do not run in
// parallel), the bucket gauges equal the bucket's status, the server,
// store and runtime metrics are there, no label carries a key, and the
// password is nowhere in the body.
func TestMetricsKVOperations(t *testing.T) {
	d := startMetricsDaemon(t, func(c *Config) {
		c.Server.Auth.User, c.Server.Auth.Password = "alice", metricsPassword
	})
	nc, err := nats.Connect(d.ClientURL(), nats.UserInfo("alice", metricsPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "m", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := scrape(t, d)

	must := func(_ uint64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(kv.PutString(ctx, "k1", "a"))
	must(kv.PutString(ctx, "k2", "b"))
	must(kv.PutString(ctx, "k1", "c"))
	for _, k := range []string{"k1", "k2"} {
		if _, err := kv.Get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Get(ctx, "nope"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("get of a missing key: %v", err)
	}
	// A create of an existing key: one create refused with 10071, then
	// nats.go reads the key (one more get) to see whether it is deleted.
	if _, err := kv.Create(ctx, "k1", []byte("x")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("create of an existing key: %v", err)
	}
	rev, err := kv.Create(ctx, "k3", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	must(kv.Update(ctx, "k3", []byte("y"), rev))
	if _, err := kv.Update(ctx, "k3", []byte("z"), rev); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("update with a stale revision: %v", err)
	}
	if err := kv.Delete(ctx, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			break // the initial values are delivered
		}
	}

	after, body := scrape(t, d)
	want := []struct {
		op, result string
		n          float64
	}{
		{"put", "ok", 3}, {"get", "ok", 3}, {"get", "not_found", 1},
		{"create", "ok", 1}, {"create", "error", 1},
		{"update", "ok", 1}, {"update", "error", 1},
		{"delete", "ok", 1}, {"purge", "ok", 1}, {"watch", "ok", 1},
		{"delete", "error", 0}, {"put", "error", 0}, {"watch", "error", 0},
	}
	const ops = "cairn_kv_operation_duration_seconds"
	for _, w := range want {
		labels := map[string]string{"op": w.op, "result": w.result}
		b, _ := sample(before, ops, labels)
		a, ok := sample(after, ops, labels)
		if !ok || a-b != w.n {
			t.Errorf("%s %v: %v -> %v (present %v), want +%v", ops, labels, b, a, ok, w.n)
		}
	}
	b, _ := sample(before, "cairn_jetstream_api_errors_total", map[string]string{"code": "10071"})
	a, _ := sample(after, "cairn_jetstream_api_errors_total", map[string]string{"code": "10071"})
	if a-b != 2 {
		t.Errorf("errors with code 10071: %v -> %v, want +2 (the create and the stale update)", b, a)
	}

	// Bucket gauges against the bucket's status and stream info, with
	// the watch still open.
	info, err := js.Stream(ctx, "KV_m")
	if err != nil {
		t.Fatal(err)
	}
	si, err := info.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bucket := map[string]string{"bucket": "m"}
	for name, v := range map[string]float64{
		"cairn_kv_bucket_entries":  float64(st.Values()),
		"cairn_kv_bucket_bytes":    float64(st.Bytes()),
		"cairn_kv_bucket_keys":     float64(si.State.NumSubjects),
		"cairn_kv_bucket_watchers": float64(si.State.Consumers),
	} {
		if got, ok := sample(after, name, bucket); !ok || got != v {
			t.Errorf("%s = %v (present %v), status says %v", name, got, ok, v)
		}
	}
	if si.State.Consumers != 1 || si.State.NumSubjects != 3 {
		t.Errorf("stream state %+v: want 1 consumer, 3 subjects", si.State)
	}

	// Server, store and runtime families.
	for _, name := range []string{
		"cairn_connections", "cairn_connections_total", "cairn_subscriptions",
		"cairn_received_messages_total", "cairn_sent_bytes_total", "cairn_jetstream_api_requests_total",
		"cairn_store_wal_written_bytes_total", "cairn_store_disk_usage_bytes", "cairn_store_block_cache_hit_ratio",
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_start_time_seconds",
	} {
		if v, ok := sample(after, name, nil); !ok || v <= 0 && name != "cairn_store_block_cache_hit_ratio" {
			t.Errorf("%s = %v (present %v)", name, v, ok)
		}
	}
	if v, _ := sample(after, "cairn_connections", nil); v != 1 {
		t.Errorf("cairn_connections = %v, want 1", v)
	}
	in0, _ := sample(before, "cairn_received_messages_total", nil)
	in1, _ := sample(after, "cairn_received_messages_total", nil)
	// At least one publish per operation but the last (a read's
	// messages are added to the totals once the read is processed,
	// which may be just after its answer went out).
	if in1-in0 < 13 {
		t.Errorf("received messages %v -> %v: fewer than the operations made", in0, in1)
	}
	if _, ok := sample(after, "cairn_store_wal_sync_duration_seconds", nil); !ok {
		t.Error("no WAL sync histogram")
	}
	checkLabels(t, after, []string{"k1", "k2", "k3", "nope", "$KV.m.k1"})
	if strings.Contains(body, metricsPassword) {
		t.Error("the password is in /metrics")
	}
}

// checkLabels fails on a label outside the bounded set or a label value
// that is one of keys.
func checkLabels(t *testing.T, fams map[string]*dto.MetricFamily, keys []string) {
	t.Helper()
	allowed := map[string]bool{"op": true, "result": true, "code": true, "bucket": true, "account": true,
		"le": true, "quantile": true, "version": true}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowed[l.GetName()] {
					t.Errorf("%s: label %q outside the bounded set", name, l.GetName())
				}
				for _, k := range keys {
					if l.GetValue() == k {
						t.Errorf("%s: label %s=%q is a key", name, l.GetName(), k)
					}
				}
			}
		}
	}
}

// TestMetricsAccountLabel: with accounts configured, per-account and
// per-bucket series carry the account, and each account's buckets are
// its own.
func TestMetricsAccountLabel(t *testing.T) {
	limits := func() *jsapi.AccountLimits {
		return &jsapi.AccountLimits{MaxMemory: -1, MaxFile: -1, MaxStreams: -1, MaxConsumers: -1}
	}
	d := startMetricsDaemon(t, func(c *Config) {
		c.Server.Auth = auth.Config{Users: []auth.User{
			{Name: "a", Password: "a", Account: "A"},
			{Name: "b", Password: "b", Account: "B"},
		}}
		c.Accounts = []Account{{Name: "A", JetStream: limits()}, {Name: "B", JetStream: limits()}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, u := range []struct{ user, bucket string }{{"a", "ba"}, {"b", "bb"}} {
		nc, err := nats.Connect(d.ClientURL(), nats.UserInfo(u.user, u.user))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: u.bucket})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.PutString(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
	}
	fams, _ := scrape(t, d)
	for _, c := range []struct {
		account, bucket string
		keys            float64
		present         bool
	}{{"A", "ba", 1, true}, {"B", "bb", 1, true}, {"A", "bb", 0, false}, {"B", "ba", 0, false}} {
		v, ok := sample(fams, "cairn_kv_bucket_keys", map[string]string{"account": c.account, "bucket": c.bucket})
		if ok != c.present || v != c.keys {
			t.Errorf("keys of %s/%s = %v (present %v)", c.account, c.bucket, v, ok)
		}
	}
	for _, acct := range []string{"A", "B"} {
		if v, ok := sample(fams, "cairn_store_wal_written_bytes_total", map[string]string{"account": acct}); !ok || v <= 0 {
			t.Errorf("WAL bytes of %s = %v (present %v)", acct, v, ok)
		}
	}
}

// TestMetricsOffWithoutMonitor: without a monitoring port no handler
// is built.
func TestMetricsOffWithoutMonitor(t *testing.T) {
	d := startMetricsDaemon(t, func(c *Config) { c.HTTPPort = 0 })
	if h := d.metricsHandler(); h != nil {
		t.Fatal("a metrics handler without a monitoring port")
	}
}

// TestGrafanaDashboard: docs/grafana-cairn.json is valid JSON with
// panels, and every metric its queries use is in a scrape of a server
// that has served KV operations.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana-cairn.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-cairn.json: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 8 {
		t.Fatalf("dashboard %q with %d panels", dash.Title, len(dash.Panels))
	}

	d := startMetricsDaemon(t, nil)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.PutString(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "k", []byte("v")); err == nil {
		t.Fatal("create of an existing key succeeded")
	}
	fams, _ := scrape(t, d)

	metricName := regexp.MustCompile(`\b(?:cairn|go|process)_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q uses no Cairn metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				used[n] = true
			}
		}
	}
	var missing []string
	for n := range used {
		family := n
		if fams[family] == nil {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if base, ok := strings.CutSuffix(n, suffix); ok && fams[base] != nil && fams[base].GetType() == dto.MetricType_HISTOGRAM {
					family = base
				}
			}
		}
		if fams[family] == nil {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the dashboard queries metrics a scrape lacks: %v", missing)
	}
}

// TestMetricsWhileWriting: scrapes run concurrently with KV writes
// (run with -race), the bucket's entries never go backwards between
// scrapes and end at the number written; a token is never shown; and
// once the store is closed under the monitor, a scrape still answers,
// without the store's families.
func TestMetricsWhileWriting(t *testing.T) {
	const token = "t0ken-Metr1cs-S3cret"
	d := startMetricsDaemon(t, func(c *Config) { c.Server.Auth.Token = token })
	nc, err := nats.Connect(d.ClientURL(), nats.Token(token))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "w"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := kv.PutString(ctx, "k"+strconv.Itoa(i), "v"); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	last := -1.0
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		fams, body := scrape(t, d)
		v, _ := sample(fams, "cairn_kv_bucket_entries", map[string]string{"bucket": "w"})
		if v < last {
			t.Fatalf("entries went back from %v to %v", last, v)
		}
		last = v
		if strings.Contains(body, token) {
			t.Fatal("the token is in /metrics")
		}
	}
	fams, _ := scrape(t, d)
	if v, _ := sample(fams, "cairn_kv_bucket_entries", map[string]string{"bucket": "w"}); v != n {
		t.Fatalf("entries after %d puts: %v", n, v)
	}

	if err := d.js[0].st.Close(); err != nil {
		t.Fatal(err)
	}
	fams, _ = scrape(t, d)
	if _, ok := sample(fams, "cairn_store_disk_usage_bytes", nil); ok {
		t.Error("store families reported for a closed store")
	}
	if _, ok := sample(fams, "cairn_connections", nil); !ok {
		t.Error("no server families once the store is closed")
	}
}
