package daemon

import "net/http"

// MetricsPath is where the Prometheus metrics are served.
const MetricsPath = "/metrics"

// metricsHandler returns the handler of MetricsPath, nil while Cairn
// has no metrics of its own.
func (d *Daemon) metricsHandler() http.Handler { return nil }
