package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// serverCollector exports server.Stats, read at scrape time.
type serverCollector struct {
	core Core

	connections, connectionsTotal, subscriptions *prometheus.Desc
	inMsgs, inBytes, outMsgs, outBytes           *prometheus.Desc
	slowConsumers, staleConnections              *prometheus.Desc
}

func newServerCollector(core Core) *serverCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("cairn_"+name, help, nil, nil)
	}
	return &serverCollector{
		core:             core,
		connections:      d("connections", "Client connections open now."),
		connectionsTotal: d("connections_total", "Client connections accepted since the server started."),
		subscriptions:    d("subscriptions", "Subscriptions of every account, in-process ones (the JetStream API) included."),
		inMsgs:           d("received_messages_total", "Messages published by client connections."),
		inBytes:          d("received_bytes_total", "Header and payload bytes of the messages published by client connections."),
		outMsgs:          d("sent_messages_total", "Messages delivered to client connections."),
		outBytes:         d("sent_bytes_total", "Header and payload bytes of the messages delivered to client connections."),
		slowConsumers:    d("slow_consumers_total", "Client connections closed as slow consumers."),
		staleConnections: d("stale_connections_total", "Client connections closed as stale (pings unanswered)."),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.connectionsTotal, c.subscriptions,
		c.inMsgs, c.inBytes, c.outMsgs, c.outBytes,
		c.slowConsumers, c.staleConnections,
	} {
		ch <- d
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.core.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.connections, float64(st.Connections))
	counter(c.connectionsTotal, float64(st.TotalConnections))
	gauge(c.subscriptions, float64(st.Subscriptions))
	counter(c.inMsgs, float64(st.InMsgs))
	counter(c.inBytes, float64(st.InBytes))
	counter(c.outMsgs, float64(st.OutMsgs))
	counter(c.outBytes, float64(st.OutBytes))
	counter(c.slowConsumers, float64(st.SlowConsumers))
	counter(c.staleConnections, float64(st.StaleConnections))
}
