package daemon

import (
	"net/http"

	"github.com/cairn-db/cairn/internal/jsapi"
	"github.com/cairn-db/cairn/internal/metrics"
)

// MetricsPath is where the Prometheus metrics are served.
const MetricsPath = "/metrics"

// metricsHandler returns the handler of MetricsPath: a registry of this
// server's metrics (internal/metrics), read at scrape time. Without a
// monitoring port it returns nil and installs nothing, so a server
// without monitoring does not time its KV operations. With one it
// installs the process-wide KV operation observer in jsapi.
func (d *Daemon) metricsHandler() http.Handler {
	if d.cfg.HTTPPort == 0 && d.cfg.HTTPSPort == 0 {
		return nil
	}
	jsapi.SetObserver(metrics.KVObserver())
	opts := metrics.Options{Core: d.srv, Accounts: len(d.cfg.Accounts) > 0}
	if !d.cfg.DisableKV {
		opts.JetStream = metricsJetStream{d}
	}
	if d.cfg.Cluster != nil {
		opts.Cluster = clusterMonitor{d}
	}
	return metrics.New(opts).Handler()
}

// metricsJetStream is what the metrics read of the daemon's JetStream.
type metricsJetStream struct{ d *Daemon }

var _ metrics.JetStream = metricsJetStream{}

// Accounts reads each account with JetStream: its API's usage and
// buckets and its store's engine metrics.
func (j metricsJetStream) Accounts() []metrics.Account {
	out := make([]metrics.Account, 0, len(j.d.js))
	for _, a := range j.d.js {
		ma := metrics.Account{Name: a.name}
		if a.api != nil {
			ma.Usage = a.api.Usage()
			ma.Buckets = a.api.Buckets()
		}
		if m, ok := a.st.Metrics(); ok {
			ma.Store = &m
		}
		out = append(out, ma)
	}
	return out
}
