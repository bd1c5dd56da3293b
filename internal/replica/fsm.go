package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/cairn-db/cairn/internal/store"
)

// result is what applying an entry tells its proposer.
type result struct {
	append store.AppendResult
	batch  store.BatchResult
	purged uint64
	next   int64 // opExpire: the earliest deadline left
	err    error
}

// fsm applies a stream group's entries to the driven store stream. Its
// methods run on the group's Node goroutine.
type fsm struct {
	s *Stream
}

var _ interface {
	Apply(uint64, []byte) any
} = fsm{}

// Apply applies the entry at index. An entry the store already holds
// (a replay after a restart: index ≤ Applied()) changes nothing.
func (f fsm) Apply(index uint64, data []byte) any {
	st := f.s.raw()
	e, err := decodeEntry(data)
	if err != nil {
		f.s.logf("replica: stream %s: entry %d: %v", st.Name(), index, err)
		return result{err: err}
	}
	var r result
	switch e.op {
	case opAppend:
		// The log holds the entry durably: the store's own sync is
		// requested, not waited for (the batch's appends share it).
		e.opts.Time, e.opts.Applied, e.opts.NoWait = e.time, index, true
		r.append, r.err = st.Append(e.subject, e.hdr, e.data, e.opts)
		if r.err == nil && !r.append.Duplicate {
			f.s.noteAppend(e.time, &e.opts)
		}
	case opBatch:
		ba, ok := st.(store.BatchAppender)
		if !ok {
			r.err = errDriven
			break
		}
		r.batch, r.err = ba.AppendBatchOpts(e.batch, store.BatchOpts{Time: e.time, Applied: index})
		if r.err == nil {
			for i := range e.batch {
				f.s.noteAppend(e.time, &store.AppendOpts{TTL: e.batch[i].TTL, MsgID: e.batch[i].MsgID})
			}
		}
	case opDelete:
		r.err = st.DeleteApplied(e.seq, index)
	case opPurge:
		r.purged, r.err = st.Purge(store.PurgeOpts{Subject: e.subject, Seq: e.seq, Keep: e.keep, Applied: index})
	case opConfig:
		e.cfg.Driven = true
		r.err = st.UpdateConfigApplied(e.cfg, e.meta, index)
		if r.err == nil {
			f.s.noteDeadline(math.MinInt64) // a shorter MaxAge: look now
		}
	case opExpire:
		r.next, r.err = st.ExpireAt(e.time, index)
		if r.err == nil {
			f.s.setDeadline(r.next)
		}
	}
	if errors.Is(r.err, store.ErrAlreadyApplied) {
		r.err = nil // replayed after a restart: the store has it
	}
	return r
}

func (f fsm) ApplyConfChange(_ uint64, _ *raftpb.ConfChange, _ *raftpb.ConfState) {}

// snapshotData is a stream group's snapshot: the store is the state,
// so the snapshot only says up to which log index it must hold.
type snapshotData struct {
	// Applied is the store's Applied() when the snapshot was taken: a
	// replica whose store holds less must fetch the stream from a peer.
	Applied uint64 `json:"applied"`
}

func (f fsm) Snapshot() ([]byte, error) {
	return json.Marshal(snapshotData{Applied: f.s.raw().Applied()})
}

func (f fsm) Restore(data []byte) error {
	var sd snapshotData
	if err := json.Unmarshal(data, &sd); err != nil {
		return fmt.Errorf("replica: snapshot does not decode: %w", err)
	}
	if f.s.raw().Applied() >= sd.Applied {
		return nil // the store already holds everything the snapshot covers
	}
	return f.s.catchUp(sd.Applied)
}
