package store

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// liveHeap returns the bytes of live heap objects after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSubjectTreeHeapFollowsBytes: a node and a map per token cost about
// 314 bytes a token, so 1000 subjects of 1000 tokens (2 MB of subjects)
// took about 300 MiB. The tree's heap must follow the number and bytes
// of the subjects, not their tokens.
func TestSubjectTreeHeapFollowsBytes(t *testing.T) {
	const n, tokens = 1000, 1000
	tail := strings.Repeat(".t", tokens-1)
	subjects := make([]string, n)
	var subjectBytes int
	for i := range subjects {
		subjects[i] = fmt.Sprintf("s%d%s", i, tail) // diverging at the first token
		subjectBytes += len(subjects[i])
	}
	ix := newIndex()
	ix.presize(n, n)
	before := liveHeap()
	for i, s := range subjects {
		ix.add(s, entry{seq: uint64(i + 1)})
	}
	grown := int64(liveHeap()) - int64(before)
	bound := int64(4*subjectBytes + n*1024)
	t.Logf("%d subjects of %d tokens (%d bytes): heap %+d KiB, %.0f bytes per subject",
		n, tokens, subjectBytes, grown>>10, float64(grown)/n)
	if grown > bound {
		t.Fatalf("heap grew %d KiB for %d KiB of subjects (bound %d KiB)", grown>>10, subjectBytes>>10, bound>>10)
	}
	if ix.lookup(subjects[n-1]) == nil || ix.nsubjects != n {
		t.Fatal("subjects not indexed")
	}
	runtime.KeepAlive(subjects)
}

// TestSubjectTreeDropsRemovedStrings: a node where subjects diverge
// takes its subject from one of the subjects below it; once that
// subject is removed, the node must not keep its (long) string alive.
func TestSubjectTreeDropsRemovedStrings(t *testing.T) {
	const n = 500
	long := strings.Repeat("x", 4000)
	ix := newIndex()
	before := liveHeap()
	seq := uint64(0)
	for i := 0; i < n; i++ {
		// The long subject comes first, so the node "p<i>" takes its
		// string from it when "p<i>.a" splits the edge.
		for _, s := range []string{fmt.Sprintf("p%d.%s", i, long), fmt.Sprintf("p%d.a", i), fmt.Sprintf("p%d.b", i)} {
			seq++
			ix.add(s, entry{seq: seq})
		}
	}
	for p := range ix.entries {
		if e := &ix.entries[p]; e.subj != nil && len(e.subj.subject) > 100 {
			ix.removeAt(p)
		}
	}
	ix.maybeCompact()
	grown := int64(liveHeap()) - int64(before)
	t.Logf("heap %+d KiB for %d short subjects left", grown>>10, 2*n)
	if grown > n*1024 {
		t.Fatalf("heap grew %d KiB for %d short subjects: removed subjects kept alive", grown>>10, 2*n)
	}
	checkTree(t, ix, nil)
}

// refIndex is the reference for the subject tree: every subject's live
// sequences in a map.
type refIndex map[string][]uint64

// refMatch is a naive subject matcher.
func refMatch(filter, subject string) bool {
	if filter == "" {
		return true
	}
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// checkTree checks the structure of the tree against ref (unless nil):
// labels and keys agree with subjects, a node without messages is where
// two subjects diverge, maxSeq bounds every sequence below, at most two
// nodes per subject, and every string the tree holds is part of a
// subject with live messages.
func checkTree(t *testing.T, ix *index, ref refIndex) {
	t.Helper()
	type span struct{ start, end uintptr }
	var live []span
	var strs []string
	nodes, subjects := 0, 0
	var walk func(p, n *subjectState) uint64
	walk = func(p, n *subjectState) uint64 {
		nodes++
		top := uint64(0)
		if !n.empty() {
			subjects++
			top = n.last()
			d := uintptr(unsafe.Pointer(unsafe.StringData(n.subject)))
			live = append(live, span{d, d + uintptr(len(n.subject))})
			if ref != nil && !slices.Equal(n.seqs(), ref[n.subject]) {
				t.Fatalf("%s: seqs %v, want %v", n.subject, n.seqs(), ref[n.subject])
			}
		} else if p != nil && n.children.count() < 2 {
			t.Fatalf("%q: no messages and %d children", n.subject, n.children.count())
		}
		if p != nil {
			strs = append(strs, n.subject)
		}
		kids := 0
		for _, c := range n.children.all() {
			if c == nil {
				continue
			}
			kids++
			from := n.labelStart()
			k := firstToken(c.subject[min(from, len(c.subject)):])
			if len(c.subject) <= from || c.subject[:max(from-1, 0)] != n.subject ||
				(from > 0 && c.subject[from-1] != '.') || n.children.get(k, from) != c {
				t.Fatalf("child %q of %q under key %q", c.subject, n.subject, k)
			}
			strs = append(strs, k)
			top = max(top, walk(n, c))
		}
		if kids != n.children.count() || (n.children != nil && kids == 0) {
			t.Fatalf("%q: %d children, counted %d", n.subject, kids, n.children.count())
		}
		if n.maxSeq < top {
			t.Fatalf("%q: maxSeq %d below %d", n.subject, n.maxSeq, top)
		}
		return top
	}
	walk(nil, &ix.root)
	if subjects != ix.nsubjects || (ref != nil && subjects != len(ref)) {
		t.Fatalf("%d subjects in the tree, nsubjects %d, reference %d", subjects, ix.nsubjects, len(ref))
	}
	if nodes > 2*subjects+1 {
		t.Fatalf("%d nodes for %d subjects", nodes, subjects)
	}
	slices.SortFunc(live, func(a, b span) int { return int(a.start) - int(b.start) })
	for _, s := range strs {
		d := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		i, _ := slices.BinarySearchFunc(live, d, func(sp span, d uintptr) int { return int(sp.start) - int(d) })
		if i == len(live) || live[i].start != d {
			i--
		}
		if i < 0 || d+uintptr(len(s)) > live[i].end {
			t.Fatalf("%q is not part of a live subject", s)
		}
	}
}

// randomSubject returns a new subject of 1 to 8 tokens from a small
// alphabet, often sharing a prefix with a subject of ref, so that edges
// are split and merged all the time.
func randomSubject(rng *rand.Rand, ref refIndex, known []string) string {
	alphabet := []string{"a", "b", "c", "ab", "a2", "zz"}
	var toks []string
	if len(known) > 0 && rng.IntN(3) > 0 {
		k := strings.Split(known[rng.IntN(len(known))], ".")
		toks = k[:1+rng.IntN(len(k))]
	}
	for n := rng.IntN(4); n > 0 || len(toks) == 0; n-- {
		toks = append(toks, alphabet[rng.IntN(len(alphabet))])
	}
	return strings.Clone(strings.Join(toks, ".")) // a string of its own
}

// randomFilter returns a filter derived from subject: tokens replaced by
// '*', a '>' in place of the tail, or unchanged.
func randomFilter(rng *rand.Rand, subject string) string {
	toks := strings.Split(subject, ".")
	for i := range toks {
		if rng.IntN(4) == 0 {
			toks[i] = "*"
		}
	}
	if rng.IntN(3) == 0 {
		i := rng.IntN(len(toks))
		toks = append(toks[:i], ">")
	}
	return strings.Join(toks, ".")
}

// TestSubjectTreeAgainstReference applies random appends and removals
// over subjects sharing prefixes to the index and to a map, and compares
// the tree's structure, literal lookups, wildcard walks and last and
// first sequence queries with the map after every few operations.
func TestSubjectTreeAgainstReference(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { treeAgainstReference(t, seed) })
	}
}

func treeAgainstReference(t *testing.T, seed uint64) {
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	ix := newIndex()
	ref := refIndex{}
	var known []string
	seq := uint64(0)
	removeSeq := func(seq uint64) {
		p := ix.pos(seq)
		e, emptied := ix.removeAt(p)
		subj := e.subj.subject
		ref[subj] = slices.DeleteFunc(ref[subj], func(s uint64) bool { return s == seq })
		if len(ref[subj]) == 0 {
			delete(ref, subj)
			if !emptied {
				t.Fatalf("removing %d did not empty %s", seq, subj)
			}
		}
	}
	for step := 0; step < 6000; step++ {
		switch r := rng.IntN(100); {
		case r < 55 || ix.msgs == 0:
			subj := randomSubject(rng, ref, known)
			if rng.IntN(2) == 0 && len(known) > 0 {
				subj = strings.Clone(known[rng.IntN(len(known))]) // another message
			}
			seq++
			ix.add(subj, entry{seq: seq, time: int64(seq), size: 1})
			ref[subj] = append(ref[subj], seq)
			known = append(known, subj)
			if len(known) > 300 {
				known = known[len(known)-300:]
			}
		case r < 92:
			live := ix.live()
			if e := live[rng.IntN(len(live))]; e.subj != nil {
				removeSeq(e.seq)
			}
		case r < 98:
			for _, s := range slices.Clone(ix.entries[ix.nextLive(ix.head)].subj.seqs()) {
				removeSeq(s) // a whole subject
			}
		default:
			ix.maybeCompact()
		}
		if step%40 == 0 {
			checkTree(t, ix, ref)
			compareLookups(t, rng, ix, ref, seq)
		}
	}
	for ix.msgs > 0 {
		removeSeq(ix.entries[ix.nextLive(ix.head)].seq)
	}
	if ix.root.children != nil || ix.nsubjects != 0 {
		t.Fatalf("tree not empty at the end: %d children", ix.root.children.count())
	}
}

// compareLookups compares the tree's answers with the reference for
// every subject and for random filters.
func compareLookups(t *testing.T, rng *rand.Rand, ix *index, ref refIndex, lastSeq uint64) {
	t.Helper()
	var subjects []string
	for s, seqs := range ref {
		subjects = append(subjects, s)
		if ss := ix.lookup(s); ss == nil || !slices.Equal(ss.seqs(), seqs) {
			t.Fatalf("lookup(%q) = %v, want %v", s, ss, seqs)
		}
		if ss := ix.lookupBytes([]byte(s)); ss == nil || ss.subject != s {
			t.Fatalf("lookupBytes(%q) = %v", s, ss)
		}
		// Prefixes and extensions of a subject, held or not.
		for _, other := range []string{s[:max(0, strings.LastIndexByte(s, '.'))], s + ".a", s[:len(s)-1], s + "a"} {
			_, held := ref[other]
			if ss := ix.lookup(other); (ss != nil) != held || (held && ss.subject != other) {
				t.Fatalf("lookup(%q) = %v, held %v", other, ss, held)
			}
		}
	}
	slices.Sort(subjects)
	if len(subjects) == 0 {
		return
	}
	for k := 0; k < 25; k++ {
		filter := randomFilter(rng, subjects[rng.IntN(len(subjects))])
		if k == 0 {
			filter = ""
		}
		from := 1 + uint64(rng.IntN(int(lastSeq)+1))
		var want []string
		var wantFirst, wantLast, wantPending, wantLastPending uint64
		for _, s := range subjects {
			if !refMatch(filter, s) {
				continue
			}
			want = append(want, s)
			seqs := ref[s]
			wantLast = max(wantLast, seqs[len(seqs)-1])
			if i, _ := slices.BinarySearch(seqs, from); i < len(seqs) {
				if wantFirst == 0 || seqs[i] < wantFirst {
					wantFirst = seqs[i]
				}
				wantPending += uint64(len(seqs) - i)
				wantLastPending++
			}
		}
		var got []string
		ix.eachSubject(filter, func(ss *subjectState) { got = append(got, ss.subject) })
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("eachSubject(%q) = %v, want %v", filter, got, want)
		}
		if got := ix.firstMatchingFrom(filter, from); got != wantFirst {
			t.Fatalf("firstMatchingFrom(%q, %d) = %d, want %d", filter, from, got, wantFirst)
		}
		if got := ix.nextMatching(filter, from); got != wantFirst {
			t.Fatalf("nextMatching(%q, %d) = %d, want %d", filter, from, got, wantFirst)
		}
		if got := ix.lastSeqMatching(filter); got != wantLast {
			t.Fatalf("lastSeqMatching(%q) = %d, want %d", filter, got, wantLast)
		}
		if got := ix.numPending(filter, from, false); got != wantPending {
			t.Fatalf("numPending(%q, %d) = %d, want %d", filter, from, got, wantPending)
		}
		if got := ix.numPending(filter, from, true); got != wantLastPending {
			t.Fatalf("numPending(%q, %d, last) = %d, want %d", filter, from, got, wantLastPending)
		}
		for _, limit := range []int{len(want), len(want) - 1} {
			var seqs []uint64
			var names []string
			ok := ix.lastsMatching(filter, limit, &seqs, &names)
			if ok != (limit >= len(want)) || (!ok && len(seqs) > 0) {
				t.Fatalf("lastsMatching(%q, %d) = %v for %d subjects", filter, limit, ok, len(want))
			}
			for i := range seqs {
				if s := ref[names[i]]; s[len(s)-1] != seqs[i] || (i > 0 && seqs[i] <= seqs[i-1]) {
					t.Fatalf("lastsMatching(%q): %s at %d", filter, names[i], seqs[i])
				}
			}
			if ok && len(seqs) != len(want) {
				t.Fatalf("lastsMatching(%q) found %d of %d", filter, len(seqs), len(want))
			}
		}
	}
}
