// Package kvsync implements two coordination patterns on top of a NATS
// JetStream key/value bucket (served by cairn-server or nats-server), using
// only the public KeyValue API of github.com/nats-io/nats.go/jetstream:
//
//   - a lease-based lock ([Lock], [TryLock]): a key taken with Create, kept
//     alive with Update at its current revision, and freed by the bucket's TTL
//     if its holder dies;
//   - optimistic read-modify-write ([Update]): read a key with its revision,
//     compute a new value, write it with Update at that revision, and start
//     again when another writer got there first.
//
// # Data model
//
// A lock is one key of a bucket created with a TTL (the stream's MaxAge), for
// example `cairn kv add locks --ttl 30s`. While a holder has the lock the key
// holds the holder's description ([LockOptions.Value]); the key is absent,
// deleted or expired when the lock is free. Every write to a bucket gets the
// next revision of the bucket, so revisions only grow.
//
// # Lock guarantees
//
// Mutual exclusion comes from the server: Create succeeds only if the key has
// no value, and Update only if the key's latest revision is the one the holder
// last wrote. Two holders can therefore never both succeed in taking or
// refreshing the same key; a refresh after someone else took the key fails.
//
// A holder that stops refreshing (crashed, killed, partitioned) keeps the lock
// until the bucket's TTL has passed since its last successful refresh, as
// measured by the server's clock, and never less: the server removes the value
// only when it is older than the TTL. Nobody else can take the lock earlier.
//
// The holder refreshes every [LockOptions.KeepAlive] (TTL/3 by default). It
// counts its lease as valid until the time at which it *sent* its last
// successful refresh, plus the TTL, minus [LockOptions.Margin] (TTL/10 by
// default). Because the server stamps the value after it was sent, the server
// cannot expire the key before the holder's own deadline, provided that:
//
//   - the client's and the server's clocks advance at the same rate, within
//     Margin/TTL (10% by default). Their wall-clock times need not agree: only
//     durations are compared, with Go's monotonic clock on the client;
//   - the holder's process is not paused (GC, swap, SIGSTOP, a suspended VM)
//     between checking [Lease.Done] and acting on the protected resource.
//     No lease can defend against that; use [Lease.Token] as a fencing token
//     where the resource can check it.
//
// # When keep-alive fails
//
//   - The refresh is rejected because the key has another revision (it
//     expired and someone else took it, or it was deleted or overwritten by
//     hand): the lease is lost at once.
//   - The refresh fails for another reason (timeout, connection lost, server
//     restarting): the holder retries until its deadline. If no refresh
//     succeeds before the deadline the lease is lost, even if the server
//     might still hold the key: the holder cannot know.
//   - A refresh whose outcome is unknown (it timed out but was applied) makes
//     the next refresh fail with a revision mismatch: the lease is then lost
//     although no one else has it. This is safe, not optimal: the key stays
//     until it expires.
//
// A lost lease closes [Lease.Done], cancels [Lease.Context] and reports the
// reason, which wraps [ErrLockLost], from [Lease.Err]. The holder must stop
// touching the protected resource as soon as Done is closed. Nothing in this
// package can stop the holder's other goroutines for it.
//
// # Fencing tokens
//
// [Lease.Token] is the revision at which the lock was taken. Every later
// holder of the same key gets a strictly greater token, because revisions of
// a bucket only grow. A resource that remembers the highest token it has seen
// and rejects smaller ones stays safe even when a paused holder wakes up after
// losing its lease.
//
// # Optimistic updates
//
// [Update] calls its function with the key's current entry (nil if the key
// has no value) and writes the result only if the key still has the revision
// that was read, so no concurrent update is lost. On a conflict it reads the
// key again and calls the function again, after a short randomized back-off,
// until it succeeds, [UpdateOptions.MaxAttempts] is reached or the context
// ends. The function may therefore run more than once and must have no side
// effects beyond computing the new value.
//
// # Example
//
//	nc, _ := nats.Connect(nats.DefaultURL)
//	js, _ := jetstream.New(nc)
//	locks, _ := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "locks", TTL: 30 * time.Second})
//
//	lease, err := kvsync.Lock(ctx, locks, "nightly-report", nil)
//	if err != nil {
//		return err
//	}
//	defer lease.Release(context.Background())
//	return buildReport(lease.Context(), lease.Token())
//
//	counters, _ := js.KeyValue(ctx, "counters")
//	_, err = kvsync.Update(ctx, counters, "visits", func(cur jetstream.KeyValueEntry) ([]byte, error) {
//		n := 0
//		if cur != nil {
//			n, _ = strconv.Atoi(string(cur.Value()))
//		}
//		return []byte(strconv.Itoa(n + 1)), nil
//	}, nil)
package kvsync
