// Package metrics serves Cairn's native Prometheus metrics (issue 12):
// one registry per server, read at scrape time, in the Prometheus text
// format at the monitoring port's /metrics.
//
// Data model. Almost everything is read when Prometheus scrapes, from
// narrow interfaces (Core, JetStream, Cluster) that the daemon
// implements over the server's counters (server.Stats), each account's
// API (usage, buckets) and store (store.Metrics), and on a cluster node
// the routes and the metadata group: nothing is counted twice and the
// hot paths pay nothing for those. Two families are recorded as they
// happen instead, because nothing else knows them: the KV operation
// latencies by operation and result, and the JetStream error answers
// by err_code. internal/jsapi measures them where it handles the
// operations and reports them to the process-wide KVObserver, which
// every registry of the process exports (a process normally runs one
// server; tests run several and then share these two families).
//
// Cardinality is bounded: labels are an account, a bucket (bounded by
// the account's max_streams), an operation, a result and an error
// code (bounded by the error table); never a key, subject or
// connection.
//
// Example, after three puts, two gets and a create of an existing key
// in bucket b:
//
//	cairn_kv_operation_duration_seconds_count{op="put",result="ok"} 3
//	cairn_kv_operation_duration_seconds_count{op="get",result="ok"} 2
//	cairn_kv_operation_duration_seconds_count{op="create",result="error"} 1
//	cairn_jetstream_api_errors_total{code="10071"} 1
//	cairn_kv_bucket_keys{bucket="b"} 1
package metrics
