// Package consumer delivers the messages of a stream to a NATS subject:
// the push consumers that KV watchers, key listing and history ride on
// (ADR-8, ADR-15).
//
// A Consumer reads its stream in sequence order from a start position
// (its deliver policy), keeps only the subjects its filters match, and
// publishes each message to its deliver subject under the message's own
// subject, with a reply subject that tells the client where it is:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<timestamp ns>.<pending>
//
// "pending" counts the matching messages still to come; a client sees
// the end of the initial data when it reaches 0. Once caught up, the
// consumer waits for the stream to store more and delivers them live.
//
// The initial data of a last_per_subject consumer (a KV watch) is a
// store.Snapshot taken at creation: exactly the last message of every
// matching key then, readable however the keys change afterwards. Live
// delivery continues right after the snapshot's last sequence. The
// snapshot counts against the store's snapshot budget (a create beyond
// it fails with store.ErrSnapshotBudget), and a consumer holding it
// waits for a subscriber at most DefaultSnapshotInterestWait. A store
// error while delivering removes the consumer and is logged; it is
// never skipped.
//
// Idle heartbeats ("NATS/1.0 100 Idle Heartbeat" with Nats-Last-Consumer
// and Nats-Last-Stream headers) tell a client the consumer is alive and
// let it detect gaps; flow control ("NATS/1.0 100 FlowControl Request"
// with a reply subject) makes the consumer pause until the client has
// caught up. A consumer whose deliver subject has lost all interest for
// its inactive threshold removes itself.
//
// Example: a bucket "w" with a=1 (seq 1), b.c=2 (seq 2) and a deleted
// (seq 3). A watcher creates a consumer with deliver policy
// last_per_subject and filter "$KV.w.>"; it receives
//
//	$KV.w.b.c  reply $JS.ACK.KV_w.X.1.2.1.<ts>.1
//	$KV.w.a    reply $JS.ACK.KV_w.X.1.3.2.<ts>.0   (KV-Operation: DEL)
//
// and then every later change of the bucket as it is stored.
package consumer
