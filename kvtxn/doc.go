// Package kvtxn adds multi-key transactions and point-in-time multi-key
// reads to a NATS JetStream key/value bucket, served by cairn-server or by
// nats-server 2.12+ (issue 13). It is built on two protocol pieces:
//
//   - atomic batch publish (ADR-50): a [Txn] is sent as one batch, with
//     orbit.go's jetstreamext publisher, each conditional write carrying
//     its own Nats-Expected-Last-Subject-Sequence; the server stores all
//     of it or none of it;
//   - batch direct get (ADR-31): [GetMany] and [GetAll] ask for the last
//     message of many keys as of one revision ("multi_last" with
//     "up_to_seq") in one request.
//
// # Why not kvsync
//
// kvsync's helpers take nats.go's jetstream.KeyValue interface and nothing
// else, so they work with any implementation of it. Transactions need what
// that interface hides: the bucket's stream (allow_atomic, its first
// sequence and deleted sequences), raw publishes with batch headers and
// batch direct gets. They take a jetstream.JetStream and a bucket name
// instead, and bring in orbit.go; a package of their own keeps both out of
// kvsync.
//
// # Data model
//
// A bucket B is the stream KV_B; key k is the subject $KV.B.k; a key's
// revision is the stream sequence of its latest message, shared by all keys
// of the bucket (ADR-8). A delete is a message with the header
// "KV-Operation: DEL" and no value, a purge one with "KV-Operation: PURGE"
// and "Nats-Rollup: sub". A committed transaction of n operations occupies
// n consecutive revisions, in the order the operations were added: the
// commit acknowledgement carries the last one and the count, so operation
// i (from 0) got revision last-n+1+i.
//
// # Conditions
//
//   - Create(k, v): k has no value. Sent as "expected last subject sequence
//     0"; when that fails because k's latest entry is a delete or purge
//     marker, Commit retries with the marker's revision, as nats.go's
//     KeyValue.Create does.
//   - Update(k, v, rev) and DeleteAt(k, rev): k's latest revision is rev.
//   - Put, Delete and Purge are unconditional.
//
// The server checks every condition when the batch commits and rejects the
// whole batch on the first that fails, naming only the actual last sequence
// of the failing subject ("wrong last sequence: 7"), not the subject. Commit
// then reads the current revisions of all conditional keys (one batch get)
// and reports the first key, in the order the operations were added, whose
// condition does not hold, in a [*ConflictError]. That read comes after the
// failure: under concurrent writers it may name a key that changed after
// the commit was refused; the guarantee is that nothing was applied.
//
// A transaction names each key at most once ([ErrDuplicateKey]): the server
// accepts one per-subject expectation per subject in a batch, and "create
// then update" within one transaction has no useful meaning.
//
// # Enabling transactions
//
// The bucket's stream needs allow_atomic. [EnableTransactions] sets it with
// a stream update that keeps every other setting. nats.go's UpdateKeyValue
// rebuilds the stream configuration from a KeyValueConfig, which has no such
// field, and so switches transactions off again: call EnableTransactions
// after it. Without allow_atomic, Commit fails with [ErrNotEnabled].
//
// # Point-in-time reads
//
// A read at the latest revision is one batch get; its [Snapshot.Revision]
// is the revision the server answered at. A read [AtRevision](N) is exact
// or fails: see AtRevision for the rule that decides when the bucket's
// retained history can answer, and docs/TRANSACTIONS.md for its guarantee.
//
// # Example
//
//	tx := kvtxn.Begin(js, "accounts")
//	_ = tx.Update("alice", []byte("70"), aliceRev)
//	_ = tx.Update("bob", []byte("130"), bobRev)
//	res, err := tx.Commit(ctx)
//	var conflict *kvtxn.ConflictError
//	if errors.As(err, &conflict) {
//		// conflict.Key changed: now at conflict.Current. Read and retry.
//	}
//	_ = res.Writes[0].Revision // alice's new revision
//
//	snap, err := kvtxn.GetAll(ctx, js, "accounts", ">", kvtxn.AtRevision(res.Revision))
//	for _, e := range snap.Entries {
//		fmt.Println(e.Key, string(e.Value), e.Revision)
//	}
package kvtxn
