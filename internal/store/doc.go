// Package store is Cairn's stream storage: the append-only logs behind
// JetStream streams and so KV buckets, with an index by subject, the
// stream limits, expiry and a sync policy. It has no networking; jsapi,
// the watchers and later replication sit on it.
//
// # Data model
//
// A Store (one per process) holds named streams. A stream is a log of
// messages: sequence (the KV revision, shared by all keys of a bucket),
// subject ("$KV.<bucket>.<key>"), raw NATS header block, payload and a
// nanosecond timestamp. Sequences only grow; removed messages leave
// gaps. Each stream keeps, in memory, one 32-byte entry per live message
// and the live sequences of every subject (index.go), so that limits,
// expectations, purges and "last message of a subject" are decided
// without reading message bodies. The bodies live in a backend: a map
// for MemoryStorage streams, and for FileStorage streams one Pebble
// database per Store in which every stream is a key range
// (keys.go, docs/STORE.md). On Open the file streams' indexes are rebuilt
// from one ordered scan of the database.
//
// # Example
//
// A KV bucket "b" with history 2:
//
//	st, _ := store.Open(dir, store.Options{})
//	s, _ := st.CreateStream(store.Config{Name: "KV_b", Subjects: []string{"$KV.b.>"},
//		MaxMsgsPerSubject: 2, Discard: store.DiscardNew}, nil)
//	s.Append("$KV.b.k", nil, []byte("1"), store.AppendOpts{})           // seq 1
//	s.Append("$KV.b.k", nil, []byte("2"), store.AppendOpts{})           // seq 2
//	s.Append("$KV.b.k", nil, []byte("3"), store.AppendOpts{             // seq 3, drops 1
//		HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 2})
//	m, _ := s.GetLast("$KV.b.k")                                        // m.Seq == 3
//	_, err := s.Append("$KV.b.k", nil, nil, store.AppendOpts{
//		HasExpectedLastSubjSeq: true, ExpectedLastSubjSeq: 0})      // a "create"
//	// errors.Is(err, store.ErrWrongLastSubjectSequence); the
//	// *WrongSequenceError carries Last == 3.
//
// # Concurrency and durability
//
// Every Stream method is safe for concurrent use. Appends to one stream
// are serialised by its lock; they then wait, outside it, for a group
// commit shared with concurrent writers: an fsync under
// Options.SyncAlways, otherwise the write of the WAL to the operating
// system (fsynced every SyncInterval; sync.go). Reads wait for the same
// group commit when they observed a write in flight, so nothing a reader
// sees can be taken back by a crash. Subscribers are called in sequence
// order once a message is durable (notify.go). Sequences never exceed
// MaxSeq and are never reused. One goroutine per Store runs MaxAge
// and per-message TTL expiry (expire.go), except for driven streams
// (Config.Driven, driven.go): replicas that a replicated log drives,
// taking every time from the log and expiring only in ExpireAt. A
// replica that fell behind the log's compaction catches up with a whole
// stream: ReadReplica on the leader, NewReplicaImport on the follower
// (replica_header.go).
package store
