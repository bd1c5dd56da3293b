// Package monitor is the monitoring HTTP server: nats-server's
// endpoints, paths, query parameters and JSON field names, for what
// Cairn has, so that health checks, dashboards and
// prometheus-nats-exporter written for nats-server work unchanged.
//
// Data model: the monitor owns no state but its request counters. It
// reads the core server through Core (its settings and counters, each a
// copy taken by the server under its own locks) and the storage side
// through JetStream (the daemon: a health check of each account's
// store, the summed usage of the accounts and each account's streams
// and consumers as the JetStream API reports them); it never reaches into
// another package's locks. Every answer is built afresh per request.
//
// Endpoints (each also an exported method returning the Go value, with
// an exported options struct, for the system account's requests):
//
//	/healthz  ok (200), or unavailable (503) with the error; query
//	          js-enabled-only=true and js-server-only=true as nats-server
//	/varz     the server's identity, settings, counters and JetStream
//	          config and usage (varz.go lists what is not reported)
//	/connz    the open connections: sort, offset, limit, subs, auth,
//	          cid, user, acc, state (connz.go)
//	/subsz    the subscription indexes' counters and, with subs=true,
//	          the client subscriptions: offset, limit, test, acc
//	          (subsz.go; also /subscriptionsz)
//	/jsz      JetStream usage and totals, with account, stream and
//	          consumer details: acc, accounts, streams, consumers,
//	          config, offset, limit (jsz.go)
//	/accountz the accounts, or with acc=NAME one account's detail
//	/routez   a cluster node's routes (routez.go); the cluster also
//	          shows in /varz, STATSZ and /jsz (cluster.go)
//
// HTTP or, with Options.Secure (https_port), HTTPS with the server's
// TLS configuration.
//
// Example: a daemon started with http_port -1 logs
//
//	[INF] Starting http monitor on 127.0.0.1:38211
//
// and then
//
//	$ curl -s 127.0.0.1:38211/healthz
//	{"status":"ok"}
//
// No endpoint reports a password, token, nkey or key: the interfaces
// the monitor reads carry none.
package monitor
