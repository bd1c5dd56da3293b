package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/store"
)

// Core is what the metrics read of the core server.
type Core interface {
	// Stats returns the server's counters; it must be safe to call
	// concurrently with the server's work.
	Stats() server.Stats
}

// JetStream is what the metrics read of the server's JetStream.
type JetStream interface {
	// Accounts returns the state of every account with JetStream, read
	// now. It must be safe to call concurrently and read no message.
	Accounts() []Account
}

// Account is one account's JetStream state at one moment.
type Account struct {
	// Name is the account's name; it is the "account" label when
	// Options.Accounts is set and ignored otherwise.
	Name string
	// Usage are the account's API counters and stream totals.
	Usage jsapi.Usage
	// Buckets are its KV buckets.
	Buckets []jsapi.BucketStats
	// Store are its storage engine's metrics; nil when it has none
	// (memory only, or closing).
	Store *store.Metrics
}

// Options configures a registry.
type Options struct {
	// Core is the server; required.
	Core Core
	// JetStream is nil when KV is off, Cluster for a server alone
	// (cluster.go: the routes and the metadata group's gauges).
	JetStream JetStream
	Cluster   Cluster
	// Accounts adds the "account" label to the per-account and
	// per-bucket series (set when accounts are configured).
	Accounts bool
}

// Registry is one server's metrics.
type Registry struct {
	reg *prometheus.Registry
}

// New builds a registry with the server, JetStream, cluster, KV operation, Go
// runtime and process metrics. It does not install KVObserver in jsapi;
// the caller does (jsapi.SetObserver).
func New(opts Options) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newServerCollector(opts.Core),
		kvOps.durations,
		kvOps.errors,
	)
	if opts.JetStream != nil {
		reg.MustRegister(newJetStreamCollector(opts.JetStream, opts.Accounts))
	}
	if opts.Cluster != nil {
		reg.MustRegister(newClusterCollector(opts.Cluster))
	}
	return &Registry{reg: reg}
}

// Handler serves the registry in the Prometheus exposition formats
// (text by default, as content negotiation with the scraper decides).
// A collector that fails is reported in the answer's body and the rest
// is still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gatherer returns the registry for tests and other exporters.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }
