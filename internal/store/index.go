package store

import (
	"math"
	"slices"
	"sort"
	"unsafe"
)

// index is the in-memory part of a stream that both implementations
// share: one small entry per live message in sequence order, and the
// live sequences of every subject. The messages themselves live in a
// backend. The index is rebuilt from the backend on open; every limit,
// expectation and purge is decided from it without reading message
// bodies.
//
// Worked example (MaxMsgsPerSubject 2):
//
//	append a (seq 1), b (2), a (3)   entries: 1a 2b 3a      subjects: a=[1 3] b=[2]
//	append a (seq 4)                 entries: 1- 2b 3a 4a   subjects: a=[3 4] b=[2]
//	                                 (1 is dead: head skips it, first=2)
//	delete 3                         entries: 2b 3- 4a      dead=1
//
// All methods require the stream lock.
type index struct {
	// entries holds every live message in ascending sequence, plus dead
	// slots (subj == nil) left by removals; entries[:head] are all dead
	// and skipped, and dead counts the dead slots at or after head.
	// Compaction drops dead slots when they outnumber the live ones.
	entries []entry
	head    int
	dead    int
	// blockLive counts the live entries of each block of liveBlock
	// positions of entries, so that a run of dead slots is crossed a
	// block at a time (nextLive, countLive).
	blockLive []uint16

	// root is the subject tree (index_tree.go): every subject with live
	// messages is a node below it, found by its tokens (lookup);
	// nsubjects counts them.
	root      subjectState
	nsubjects int
	// wide holds the children tables of wideSlots or more, with the
	// offset of their labels; wideHints the sizes recorded by the last
	// Close, by prefix, while the stream is being loaded (index_wide.go).
	wide      map[*children]int
	wideHints map[string]int

	msgs, bytes uint64
}

// presize makes room for about msgs messages. (The subject tree grows
// node by node; subjects is not needed.)
func (ix *index) presize(msgs, subjects int) {
	ix.entries = make([]entry, 0, msgs)
}

// entry is what the index knows of one message: 32 bytes.
type entry struct {
	seq   uint64
	time  int64
	size  uint32 // accounted bytes, see msgSize
	flags uint8  // entryFlag*
	subj  *subjectState
}

const (
	// entryNeverExpire: TTL "never"; exempt from MaxAge.
	entryNeverExpire uint8 = 1 << iota
	// entryDeleteMarker: a delete marker (Nats-Marker-Reason, or KV
	// PURGE); its removal by age places no new marker.
	entryDeleteMarker
	// entryTTL: the message has an item in the TTL heap.
	entryTTL
)

// subjectState holds the live sequences of one subject, ascending; it is
// also the subject's node in the subject tree (index_tree.go). It takes
// 48 bytes: a subject with one message (the common KV case) keeps its
// sequence in the node, one with more (or that once had more) keeps
// them in an array of its own, without a slice header.
type subjectState struct {
	subject string
	// The sequences (seqs): with arr nil, n[0] is the only one, or 0 for
	// none (sequences start at 1); otherwise they are the first
	// n[0]&0xffffffff of an array of n[0]>>32 elements at arr.
	arr *uint64
	n   [1]uint64
	// children are the nodes below, keyed by the first token of the
	// label of their edge (index_tree.go); maxSeq bounds the sequences
	// at or below this node from above.
	children *children
	maxSeq   uint64
}

// seqs returns the live sequences of ss, ascending. The slice is valid
// until the next change to ss; it must not be written to.
func (ss *subjectState) seqs() []uint64 {
	if ss.arr == nil {
		if ss.n[0] == 0 {
			return nil
		}
		return ss.n[:]
	}
	return unsafe.Slice(ss.arr, ss.n[0]>>32)[:uint32(ss.n[0])]
}

// setSeqs makes s, which is ss.seqs() resliced or an array of its own,
// the sequences of ss.
func (ss *subjectState) setSeqs(s []uint64) {
	switch {
	case ss.arr == nil && cap(s) <= 1:
		// The sequence held in n, or none.
		if len(s) == 0 {
			ss.n[0] = 0
		}
	case cap(s) == 0:
		ss.arr, ss.n[0] = nil, 0
	case cap(s) > math.MaxUint32:
		panic("store: too many messages on one subject")
	default:
		ss.arr, ss.n[0] = unsafe.SliceData(s), uint64(cap(s))<<32|uint64(len(s))
	}
}

// start makes ss, a tree node without messages, hold seq, reusing its
// array if it has one.
func (ss *subjectState) start(seq uint64) {
	if ss.arr == nil {
		ss.n[0] = seq
		return
	}
	ss.setSeqs(append(ss.seqs()[:0], seq))
}

// push appends seq, above every sequence of ss, to a subject with
// messages.
func (ss *subjectState) push(seq uint64) {
	if ss.arr == nil {
		ss.setSeqs([]uint64{ss.n[0], seq})
		return
	}
	ss.setSeqs(append(ss.seqs(), seq))
}

func (ss *subjectState) last() uint64 {
	if ss.arr == nil {
		return ss.n[0]
	}
	s := ss.seqs()
	return s[len(s)-1]
}

// empty reports whether ss holds no messages.
func (ss *subjectState) empty() bool { return ss.n[0] == 0 || uint32(ss.n[0]) == 0 }

// count returns the number of messages of ss.
func (ss *subjectState) count() int {
	if ss.arr == nil {
		return int(min(ss.n[0], 1))
	}
	return int(uint32(ss.n[0]))
}

func newIndex() *index { return &index{} }

// live returns the live part of entries, dead slots included.
func (ix *index) live() []entry { return ix.entries[ix.head:] }

// first returns the oldest live entry, or nil.
func (ix *index) first() *entry {
	if ix.head < len(ix.entries) {
		return &ix.entries[ix.head]
	}
	return nil
}

// add appends an entry for a new message; seq must exceed every indexed
// sequence.
func (ix *index) add(subject string, e entry) {
	ss := ix.treeNode(subject, e.seq)
	if ss.empty() {
		ss.start(e.seq)
		ix.nsubjects++
	} else {
		ss.push(e.seq)
	}
	e.subj = ss
	if b := len(ix.entries) / liveBlock; b == len(ix.blockLive) {
		ix.blockLive = append(ix.blockLive, 1)
	} else {
		ix.blockLive[b]++
	}
	ix.entries = append(ix.entries, e)
	ix.msgs++
	ix.bytes += uint64(e.size)
}

// pos returns the position in entries of the live message seq, or -1.
func (ix *index) pos(seq uint64) int {
	live := ix.live()
	i := sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
	if i == len(live) || live[i].seq != seq || live[i].subj == nil {
		return -1
	}
	return ix.head + i
}

// lowerBound returns the first position whose seq is >= seq.
func (ix *index) lowerBound(seq uint64) int {
	live := ix.live()
	return ix.head + sort.Search(len(live), func(i int) bool { return live[i].seq >= seq })
}

// removeAt removes the live entry at position p and returns a copy of it
// (with subj still set) and whether that emptied its subject.
func (ix *index) removeAt(p int) (e entry, emptied bool) {
	e = ix.entries[p]
	ss := e.subj
	seqs := ss.seqs()
	if n := len(seqs); seqs[0] == e.seq {
		if n <= 64 {
			// Shift short histories down so that the next append reuses
			// the array instead of reallocating it.
			copy(seqs, seqs[1:])
			seqs = seqs[:n-1]
		} else {
			seqs = seqs[1:]
		}
	} else if seqs[n-1] == e.seq {
		seqs = seqs[:n-1]
	} else {
		i, _ := slices.BinarySearch(seqs, e.seq)
		seqs = slices.Delete(seqs, i, i+1)
	}
	ss.setSeqs(seqs)
	if ss.empty() {
		ix.nsubjects--
		ix.treeRemove(ss)
		emptied = true
	}
	ix.entries[p].subj = nil
	ix.blockLive[p/liveBlock]--
	ix.msgs--
	ix.bytes -= uint64(e.size)
	ix.dead++
	for ix.head < len(ix.entries) && ix.entries[ix.head].subj == nil {
		ix.head++
		ix.dead--
	}
	return e, emptied
}

// maybeCompact drops dead slots once they take more than half the slice.
// Positions obtained before a call are invalid after it.
func (ix *index) maybeCompact() {
	if ix.head == len(ix.entries) {
		ix.entries = ix.entries[:0]
		ix.blockLive = ix.blockLive[:0]
		ix.head, ix.dead = 0, 0
		return
	}
	waste := ix.head + ix.dead
	if waste < 1024 || waste*2 < len(ix.entries) {
		return
	}
	out := make([]entry, 0, len(ix.entries)-waste+len(ix.entries)/4)
	for _, e := range ix.live() {
		if e.subj != nil {
			out = append(out, e)
		}
	}
	ix.entries, ix.head, ix.dead = out, 0, 0
	ix.blockLive = ix.blockLive[:0]
	for i := 0; i < len(out); i += liveBlock {
		ix.blockLive = append(ix.blockLive, uint16(min(liveBlock, len(out)-i)))
	}
}

// liveBlock is the size of the blocks of entries that blockLive counts.
const liveBlock = 256

// nextLive returns the first position >= p holding a live entry, or
// len(entries). It steps over whole blocks without live entries, so a
// long run of dead slots costs its blocks, not its slots.
func (ix *index) nextLive(p int) int {
	for p < len(ix.entries) {
		if ix.entries[p].subj != nil {
			return p
		}
		if b := p / liveBlock; ix.blockLive[b] == 0 {
			for b++; b < len(ix.blockLive) && ix.blockLive[b] == 0; b++ {
			}
			p = b * liveBlock
			continue
		}
		p++
	}
	return len(ix.entries)
}

// countLive counts the live entries at positions [from, to), summing
// whole blocks.
func (ix *index) countLive(from, to int) uint64 {
	var n uint64
	for from < to {
		if b := from / liveBlock; from%liveBlock == 0 && from+liveBlock <= to {
			n += uint64(ix.blockLive[b])
			from += liveBlock
			continue
		}
		if ix.entries[from].subj != nil {
			n++
		}
		from++
	}
	return n
}

// lastSeqMatching returns the highest live sequence among the subjects
// matching filter, or 0. A literal filter is one tree lookup. A wildcard
// first looks at the newest lastScanLimit entries (a filter that matches
// recent traffic ends there), then walks the subject tree, skipping the
// subtrees that cannot beat the best found so far: the work is bounded
// by the matching subjects, never by the length of the log.
func (ix *index) lastSeqMatching(filter string) uint64 {
	if !hasWildcard(filter) {
		if ss := ix.lookup(filter); ss != nil {
			return ss.last()
		}
		return 0
	}
	match := matcher(filter)
	live := ix.live()
	for i, n := len(live)-1, 0; i >= 0 && n < lastScanLimit; i, n = i-1, n+1 {
		if e := &live[i]; e.subj != nil && match(e.subj.subject) {
			return e.seq
		}
	}
	var best uint64
	w := &treeWalk{from: 1}
	w.visit = func(ss *subjectState) bool {
		if l := ss.last(); l > best {
			best = l
			w.from = l + 1
		}
		return true
	}
	ix.walkMatching(filter, w)
	return best
}

// lastScanLimit and nextScanLimit bound the entries a wildcard lookup
// tests before it walks the subject tree instead.
const (
	lastScanLimit = 64
	nextScanLimit = 64
)

// lastTime returns the time of the newest indexed entry, or 0.
func (ix *index) lastTime() int64 {
	if n := len(ix.entries); n > 0 {
		return ix.entries[n-1].time
	}
	return 0
}

// addBytes is add for a subject held in a byte slice; it allocates the
// subject string only for a subject not yet indexed.
func (ix *index) addBytes(subject []byte, e entry) {
	if ss := ix.lookupBytes(subject); ss != nil {
		ix.add(ss.subject, e)
		return
	}
	ix.add(string(subject), e)
}
