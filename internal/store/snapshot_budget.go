package store

import "sync/atomic"

// The snapshot budget. A snapshot holds one list entry (a sequence, 8
// bytes; 16 for a memory stream, with the message pointer) per key it
// captured until that entry is delivered, and each capture is one client
// request: a watch or a key listing. Without a bound, a client creating
// watchers it never reads makes the server hold keys × watchers entries:
// 200 watchers of a 50,000-key bucket took 89 MiB in a third of a
// second. The budget caps the entries held by every open snapshot of
// the Store together, across streams; a capture that would pass it
// fails with ErrSnapshotBudget and holds nothing afterwards. Snapshots
// stay exact: the budget refuses a watch, it never shortens one.
//
//	MaxSnapshotEntries 100, bucket of 40 keys
//	watch 1: 40 held   watch 2: 80 held   watch 3: refused (120 > 100)
//	watch 1 delivers 30 keys (entries released as its list shrinks)
//	watch 3 again: 50 + 40 = 90, accepted

// DefaultMaxSnapshotEntries is the snapshot budget when
// Options.MaxSnapshotEntries is 0: 32Mi entries, 256 MiB of sequence
// lists for file streams (512 MiB for memory streams).
const DefaultMaxSnapshotEntries = 32 << 20

// snapshotShrinkMin is how many delivered entries a snapshot lets pile
// up before it copies its list to return them; with the rule "at least
// as many delivered as left", the copies cost O(1) per entry. A
// variable for tests.
var snapshotShrinkMin = 4096

// snapshotBudget counts the entries held by the open snapshots of one
// Store. Lock-free: a capture reserves chunk by chunk under a stream's
// read lock.
type snapshotBudget struct {
	limit int64 // negative: no limit
	used  atomic.Int64
}

func newSnapshotBudget(max int64) *snapshotBudget {
	if max == 0 {
		max = DefaultMaxSnapshotEntries
	}
	return &snapshotBudget{limit: max}
}

// reserve takes n entries, or reports false, taking none, if that would
// pass the limit.
func (b *snapshotBudget) reserve(n int) bool {
	if n <= 0 {
		return true
	}
	if b.limit < 0 {
		b.used.Add(int64(n))
		return true
	}
	for {
		used := b.used.Load()
		if used+int64(n) > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+int64(n)) {
			return true
		}
	}
}

// release returns n entries.
func (b *snapshotBudget) release(n int) {
	if n > 0 {
		b.used.Add(-int64(n))
	}
}

// SnapshotEntries returns how many entries the open snapshots of the
// Store hold in all, the quantity Options.MaxSnapshotEntries bounds.
func (st *Store) SnapshotEntries() int64 { return st.snapBudget.used.Load() }
