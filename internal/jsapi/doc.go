// Package jsapi implements the JetStream JSON API ($JS.API.*) and the
// storing of messages published to stream subjects, over internal/store.
// It is what makes the NATS ecosystem's KeyValue clients (nats.go,
// natscli, nats.js) work against Cairn unchanged: a KV bucket is a
// stream named KV_<bucket> on subjects $KV.<bucket>.>, and the clients
// drive it with stream requests, publishes and direct gets.
//
// Data model. A stream has a configuration (StreamConfig, the JSON the
// clients send), a creation time, and a store.Stream holding its
// messages. The configuration and creation time are kept as the store's
// opaque meta blob, so the streams come back after a restart. Each
// stream subscribes, on the Bus, to its subjects (ingest) and, when
// allow_direct is set, to its DIRECT.GET subjects.
//
// The API answers on the subjects nats-server answers on, with the same
// JSON shapes, response types and error codes (one table, errors.go),
// because clients branch on them (ADR-1, ADR-7). Requests run
// synchronously on the requesting client's goroutine.
//
// Example: what `nats kv put my-kv k v` turns into.
//
//	$JS.API.INFO                       → account_info_response
//	$JS.API.STREAM.INFO.KV_my-kv       → stream_info_response (config, state)
//	PUB $KV.my-kv.k _INBOX.x 1  "v"    → the stream's ingest handler stores it
//	                                   → _INBOX.x {"stream":"KV_my-kv","seq":1}
//
// and `nats kv get my-kv k`:
//
//	$JS.API.DIRECT.GET.KV_my-kv.$KV.my-kv.k
//	                                   → HMSG with Nats-Stream, Nats-Subject,
//	                                     Nats-Sequence, Nats-Time-Stamp and "v",
//	                                     or "NATS/1.0 404 Message Not Found"
//
// Limits. Whatever a client sends, no computation wraps and no request
// costs work proportional to a stream's length: list offsets are
// clamped (page), a purge may move a stream to at most store.MaxSeq,
// durations nats-server accepts up to math.MaxInt64 reach the store and
// the consumers clamped to a century (clampDuration), client times to
// what Unix nanoseconds hold (clampTime), and subject overlap checks go
// through a trie (overlap.go) instead of comparing every pair. The
// server's storage limits (Options.MaxMemoryStore, MaxFileStore) and its
// consumer cap are the single account's limits, enforced with
// nats-server's errors and reported by $JS.API.INFO (limits.go).
//
// Features nats-server has and Cairn does not (mirrors, sources,
// interest and work-queue retention, replicas, counters, schedules,
// fast batches, subject transforms) are refused by name when a stream is
// configured, and their publish headers are refused with nats-server's
// "disabled" errors.
//
// Atomic batch publish (ADR-50; batch.go, batch_commit.go): messages
// with Nats-Batch-Id are staged per stream and batch id, within
// nats-server's limits (Options.Batch), and the commit stores the whole
// batch in one write (store.BatchAppender), or nothing, with
// nats-server's checks, errors and PubAck.
package jsapi
