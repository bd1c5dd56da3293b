package store

import "time"

// backend persists the messages of one stream. The shared stream code
// (stream_*.go) decides everything from its in-memory index and hands
// the backend finished write sets; a backend only stores and loads.
// Two implementations: memBackend (MemoryStorage) and pebbleBackend
// (FileStorage).
//
// Callers hold the stream lock (shared for loads, exclusive for apply),
// so a backend sees no concurrent apply and no load racing an apply.
type backend interface {
	// load returns message seq. subject is the subject the index knows
	// for seq (pebble uses it to avoid allocating a string). It returns
	// ErrNotFound if the message is absent.
	load(seq uint64, subject string) (*Msg, error)
	// loadEach calls fn for every message of seqs (ascending) that
	// exists, stopping when fn returns false; subjects[i] is the subject
	// the index knows for seqs[i].
	loadEach(seqs []uint64, subjects []string, fn func(*Msg) bool) error
	// apply commits the write set atomically: after a crash either all
	// of it or none of it is there. It does not wait for the disk. It
	// returns the durable watermark readers must wait for before they
	// show the write (Store.durable; 0: none) and the function the
	// writer must call, outside the stream lock and exactly once, before
	// it acknowledges the write (nil: nothing to wait for).
	apply(ws *writeSet) (ticket uint64, wait func() error, err error)
	// drop removes the stream and all its messages atomically.
	drop() error
}

// writeSet is one atomic change of a stream.
type writeSet struct {
	// puts are new messages, ascending, each with its TTL and message id.
	puts []putMsg
	// dels lists every removed live sequence (any order).
	dels []uint64
	// delBelow, when > 0, says that no message below it remains: pebble
	// then writes one range tombstone instead of the point deletes below
	// it. The memory backend ignores it.
	delBelow uint64
	// tail, when set, persists the last sequence and time, needed when
	// the log itself can no longer tell them (its last message removed,
	// or the sequence moved forward by a purge).
	tail     bool
	lastSeq  uint64
	lastTime int64
	config   *Config
	meta     []byte
	// applied, when > 0, is the replicated log index persisted with
	// the write set (driven.go).
	applied uint64
	// idPuts and idDels are the ids a driven stream's duplicate window
	// gains and forgets (driven.go); other streams keep them in memory.
	idPuts []dedupPut
	idDels []string
}

type dedupPut struct {
	id   string
	seq  uint64
	time int64
}

type putMsg struct {
	msg   *Msg
	ttl   time.Duration
	msgID string
}

func (ws *writeSet) empty() bool {
	return len(ws.puts) == 0 && len(ws.dels) == 0 && ws.delBelow == 0 && !ws.tail && ws.config == nil && ws.applied == 0 &&
		len(ws.idPuts) == 0 && len(ws.idDels) == 0
}

// memBackend keeps messages in a map. Messages are immutable once
// stored, so load hands out the stored *Msg itself.
type memBackend struct {
	msgs map[uint64]*Msg
	// extra holds the TTL and message id of the messages stored with
	// one (a file stream keeps them in its record), so that a replica
	// read (replica_read.go) hands them on.
	extra map[uint64]memExtra
}

// memExtra is what a memory stream keeps beside a message with a TTL or
// a message id.
type memExtra struct {
	ttl   time.Duration
	msgID string
}

var _ backend = (*memBackend)(nil)

func newMemBackend() *memBackend {
	return &memBackend{msgs: make(map[uint64]*Msg), extra: make(map[uint64]memExtra)}
}

// put stores m with its TTL and message id.
func (b *memBackend) put(m *Msg, ttl time.Duration, msgID string) {
	b.msgs[m.Seq] = m
	if ttl != 0 || msgID != "" {
		b.extra[m.Seq] = memExtra{ttl: ttl, msgID: msgID}
	}
}

func (b *memBackend) load(seq uint64, _ string) (*Msg, error) {
	if m := b.msgs[seq]; m != nil {
		return m, nil
	}
	return nil, ErrNotFound
}

func (b *memBackend) loadEach(seqs []uint64, _ []string, fn func(*Msg) bool) error {
	for _, seq := range seqs {
		if m := b.msgs[seq]; m != nil && !fn(m) {
			return nil
		}
	}
	return nil
}

func (b *memBackend) apply(ws *writeSet) (uint64, func() error, error) {
	for _, seq := range ws.dels {
		delete(b.msgs, seq)
		delete(b.extra, seq)
	}
	for _, p := range ws.puts {
		b.put(p.msg, p.ttl, p.msgID)
	}
	return 0, nil, nil
}

func (b *memBackend) drop() error {
	b.msgs, b.extra = nil, nil
	return nil
}
