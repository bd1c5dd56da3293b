package replica

import (
	"errors"

	"github.com/cairn-db/cairn/internal/store"
)

// Reads go to the local store stream as it is now (a catch-up may
// replace it); they see what this replica applied. Linearizable reads
// call Barrier first.

var (
	_ store.Stream         = (*Stream)(nil)
	_ store.LastUpToReader = (*Stream)(nil)
)

func (s *Stream) Name() string               { return s.raw().Name() }
func (s *Stream) Config() store.Config       { return s.raw().Config() }
func (s *Stream) Meta() []byte               { return s.raw().Meta() }
func (s *Stream) State() store.State         { return s.raw().State() }
func (s *Stream) SeqForTime(ns int64) uint64 { return s.raw().SeqForTime(ns) }
func (s *Stream) Applied() uint64            { return s.raw().Applied() }

func (s *Stream) Get(seq uint64) (*store.Msg, error)         { return s.raw().Get(seq) }
func (s *Stream) GetLast(subject string) (*store.Msg, error) { return s.raw().GetLast(subject) }
func (s *Stream) GetNext(filter string, start uint64) (*store.Msg, error) {
	return s.raw().GetNext(filter, start)
}
func (s *Stream) LastMatching(filter string) (*store.Msg, error) {
	return s.raw().LastMatching(filter)
}
func (s *Stream) DeletedSeqs(from uint64, limit int) ([]uint64, uint64) {
	return s.raw().DeletedSeqs(from, limit)
}
func (s *Stream) LastPerSubject(filter string, fn func(*store.Msg) bool) error {
	return s.raw().LastPerSubject(filter, fn)
}
func (s *Stream) NumPending(filter string, start uint64, lastPerSubject bool) uint64 {
	return s.raw().NumPending(filter, start, lastPerSubject)
}
func (s *Stream) SubjectsState(filter string) map[string]uint64 {
	return s.raw().SubjectsState(filter)
}
func (s *Stream) SnapshotLastPerSubject(filters []string) (store.Snapshot, error) {
	return s.raw().SnapshotLastPerSubject(filters)
}

// SnapshotLastUpTo is the local stream's, when it has one.
func (s *Stream) SnapshotLastUpTo(q store.LastUpToQuery) (store.LastUpToSnapshot, error) {
	r, ok := s.raw().(store.LastUpToReader)
	if !ok {
		return nil, store.ErrInvalidConfig
	}
	return r.SnapshotLastUpTo(q)
}

// The Driver methods are the group's: a replica's store is driven by
// the log only (fsm.go). Called from outside they refuse.

func (s *Stream) SetApplied(uint64) error                                { return errDriven }
func (s *Stream) DeleteApplied(uint64, uint64) error                     { return errDriven }
func (s *Stream) UpdateConfigApplied(store.Config, []byte, uint64) error { return errDriven }
func (s *Stream) ExpireAt(int64, uint64) (int64, error)                  { return 0, errDriven }

// subscriber is one Subscribe callback, moved to the new local stream
// when a catch-up replaces it.
type subscriber struct {
	fn     func(*store.Msg)
	cancel func()
}

// Subscribe registers fn for every message stored on this replica, as
// store.Stream's Subscribe, across catch-ups.
func (s *Stream) Subscribe(fn func(*store.Msg)) (cancel func()) {
	s.mu.Lock()
	id := s.mu.nextSub
	s.mu.nextSub++
	sub := &subscriber{fn: fn, cancel: s.raw().Subscribe(fn)}
	s.mu.subs[id] = sub
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		sub, ok := s.mu.subs[id]
		delete(s.mu.subs, id)
		s.mu.Unlock()
		if ok {
			sub.cancel()
		}
	}
}

// replace installs st as the local stream and moves the subscribers.
func (s *Stream) replace(st store.Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.Store(&current{st: st})
	for _, sub := range s.mu.subs {
		sub.cancel()
		sub.cancel = st.Subscribe(sub.fn)
	}
}

// errDriven refuses the Driver methods from outside the group.
var errDriven = errors.New("replica: a replicated stream is driven by its group's log only")
