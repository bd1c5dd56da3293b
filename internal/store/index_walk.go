package store

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"unsafe"
)

// Lookups and walks over the subject tree (index_tree.go).

// treeWalk visits the subjects of a filter holding messages at or after
// from. visit returns false to stop the walk; it may raise from, which
// prunes the rest of the walk.
type treeWalk struct {
	from  uint64
	visit func(*subjectState) bool
}

// walkMatching visits the subjects matching filter (a valid filter, ""
// for all) with a message at or after w.from, in no particular order.
// It reports whether the walk ran to the end.
func (ix *index) walkMatching(filter string, w *treeWalk) bool {
	if matchAll(filter) {
		return w.all(&ix.root)
	}
	return w.match(&ix.root, filter)
}

// match walks the children of n whose edges match the tokens of filter:
// the one keyed by a literal first token, every one for a wildcard.
func (w *treeWalk) match(n *subjectState, filter string) bool {
	from := n.labelStart()
	switch tok, rest, more := cutToken(filter); tok {
	case ">":
		for _, c := range n.children.all() {
			if c != nil && c.maxSeq >= w.from && !w.all(c) {
				return false
			}
		}
	case "*":
		for _, c := range n.children.all() {
			if c != nil && c.maxSeq >= w.from && !w.edge(c, from+len(firstToken(c.subject[from:])), rest, more) {
				return false
			}
		}
	default:
		if c := n.children.get(tok, from); c != nil && c.maxSeq >= w.from {
			return w.edge(c, from+len(tok), rest, more)
		}
	}
	return true
}

// edge continues a match along the label of the edge into c, whose
// first token matched and ends at offset end of c's subject: rest is the
// filter after that token, more whether there is a rest. It matches the
// label's other tokens, then continues at c. A label of one token (end
// is the end of c's subject) is not read, so a walk over many children
// touches their nodes, not their strings.
func (w *treeWalk) edge(c *subjectState, end int, rest string, more bool) bool {
	for end < len(c.subject) {
		if !more {
			return true // the filter ends inside the label
		}
		labelTok := c.subject[end+1:]
		if i := strings.IndexByte(labelTok, '.'); i >= 0 {
			labelTok = labelTok[:i]
		}
		end += 1 + len(labelTok)
		var tok string
		tok, rest, more = cutToken(rest)
		if tok == ">" {
			return w.all(c) // the label has a token at least
		}
		if tok != "*" && tok != labelTok {
			return true
		}
	}
	if more {
		return w.match(c, rest)
	}
	if !c.empty() && c.last() >= w.from {
		return w.visit(c)
	}
	return true
}

// all visits n and every node below it.
func (w *treeWalk) all(n *subjectState) bool {
	if !n.empty() && n.last() >= w.from && !w.visit(n) {
		return false
	}
	for _, c := range n.children.all() {
		if c != nil && c.maxSeq >= w.from && !w.all(c) {
			return false
		}
	}
	return true
}

// firstMatchingFrom returns the lowest live sequence >= from among the
// subjects matching filter, or 0, walking the tree.
func (ix *index) firstMatchingFrom(filter string, from uint64) uint64 {
	var best uint64
	w := &treeWalk{from: from}
	w.visit = func(ss *subjectState) bool {
		seqs := ss.seqs()
		i, _ := slices.BinarySearch(seqs, from)
		if i < len(seqs) && (best == 0 || seqs[i] < best) {
			best = seqs[i]
		}
		return true
	}
	ix.walkMatching(filter, w)
	return best
}

// lookup returns the state of a literal subject with live messages, or
// nil: a hash lookup and a comparison per edge.
func (ix *index) lookup(subject string) *subjectState {
	n := &ix.root
	for i := 0; ; {
		c := n.children.get(firstToken(subject[i:]), i)
		if c == nil || !hasTokenPrefix(subject, c.subject, i) {
			return nil
		}
		if len(c.subject) == len(subject) {
			if c.empty() {
				return nil
			}
			return c
		}
		n, i = c, len(c.subject)+1
	}
}

// lookupBytes is lookup for a subject held in a byte slice; it does not
// allocate.
func (ix *index) lookupBytes(subject []byte) *subjectState {
	n := &ix.root
	for i := 0; ; {
		tok := subject[i:]
		if j := bytes.IndexByte(tok, '.'); j >= 0 {
			tok = tok[:j]
		}
		// A view of tok for the lookup, which does not keep it.
		c := n.children.get(unsafe.String(unsafe.SliceData(tok), len(tok)), i)
		if c == nil || len(subject) < len(c.subject) || string(subject[i:len(c.subject)]) != c.subject[i:] ||
			(len(subject) > len(c.subject) && subject[len(c.subject)] != '.') {
			return nil
		}
		if len(c.subject) == len(subject) {
			if c.empty() {
				return nil
			}
			return c
		}
		n, i = c, len(c.subject)+1
	}
}

// eachSubject calls fn for every subject matching filter that has live
// messages; fn must not add or remove subjects.
func (ix *index) eachSubject(filter string, fn func(*subjectState)) {
	ix.walkMatching(filter, &treeWalk{visit: func(ss *subjectState) bool {
		fn(ss)
		return true
	}})
}

// lastsMatching appends to seqs and subjects, in ascending sequence
// order, the last sequence and the name of every subject matching filter
// when there are at most limit of them, and reports whether it did; it
// gives up (appending nothing) after limit+1 subjects, so a filter with
// few subjects is answered from the tree and a wide one costs at most
// limit visits before the caller scans the log instead.
func (ix *index) lastsMatching(filter string, limit int, seqs *[]uint64, subjects *[]string) bool {
	type last struct {
		seq     uint64
		subject string
	}
	var found []last
	complete := ix.walkMatching(filter, &treeWalk{visit: func(ss *subjectState) bool {
		found = append(found, last{ss.last(), ss.subject})
		return len(found) <= limit
	}})
	if !complete {
		return false
	}
	slices.SortFunc(found, func(a, b last) int { return cmp.Compare(a.seq, b.seq) })
	for _, l := range found {
		*seqs, *subjects = append(*seqs, l.seq), append(*subjects, l.subject)
	}
	return true
}
