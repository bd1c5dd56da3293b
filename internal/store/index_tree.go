package store

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// The subject tree. Every subjectState is also a node of a tree with one
// level per token, rooted at index.root, so that a wildcard filter finds
// its subjects by walking the tokens it names instead of testing every
// subject or every message:
//
//	$KV.b.a   $KV.b.x.1   $KV.b.x.2      root ─ $KV ─ b ┬ a
//	                                                    └ x ┬ 1
//	                                                        └ 2
//
// "$KV.b.x.*" visits $KV, b, x and its children; "$KV.b.*.1" visits b's
// children and looks up "1" under each; a literal subject is a lookup
// per token (lookup). A node holds messages when its seqs is not empty;
// nodes without messages exist only as parents and are dropped with
// their last child. The tree is the only map of subjects: nats-server's
// stores keep a subject tree the same way.
//
// maxSeq bounds from above the sequences stored at or below a node: an
// append raises it along its path, a removal leaves it (so it may be
// stale, never too low). A walk for messages at or after a sequence
// skips every subtree whose maxSeq is below it, so a consumer caught up
// with a narrow filter costs a walk down the filter's literal tokens.
//
// Memory: a subjectState (64 bytes) and an entry in its parent's
// children map per subject, plus the few parent-only nodes.

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

// match walks the children of n that match the tokens of filter.
func (w *treeWalk) match(n *subjectState, filter string) bool {
	tok, rest, more := cutToken(filter)
	switch tok {
	case ">":
		for _, c := range n.children {
			if c.maxSeq >= w.from && !w.all(c) {
				return false
			}
		}
	case "*":
		for _, c := range n.children {
			if c.maxSeq >= w.from && !w.step(c, rest, more) {
				return false
			}
		}
	default:
		if c := n.children[tok]; c != nil && c.maxSeq >= w.from {
			return w.step(c, rest, more)
		}
	}
	return true
}

// step continues a match at c, which matched one token.
func (w *treeWalk) step(c *subjectState, rest string, more bool) bool {
	if more {
		return w.match(c, rest)
	}
	if n := len(c.seqs); n > 0 && c.seqs[n-1] >= w.from {
		return w.visit(c)
	}
	return true
}

// all visits n and every node below it.
func (w *treeWalk) all(n *subjectState) bool {
	if k := len(n.seqs); k > 0 && n.seqs[k-1] >= w.from && !w.visit(n) {
		return false
	}
	for _, c := range n.children {
		if c.maxSeq >= w.from && !w.all(c) {
			return false
		}
	}
	return true
}

// cutToken returns the first token of s, the rest after the '.', and
// whether there was a rest.
func cutToken(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// treeNode returns the node of subject, creating it and its parents as
// needed, and raises maxSeq to seq along the path. Appends come in
// sequence order, so that is an assignment.
func (ix *index) treeNode(subject string, seq uint64) *subjectState {
	n := &ix.root
	n.maxSeq = max(n.maxSeq, seq)
	for end := 0; end < len(subject); {
		start := end
		if i := strings.IndexByte(subject[start:], '.'); i >= 0 {
			end = start + i
		} else {
			end = len(subject)
		}
		tok := subject[start:end]
		c := n.children[tok]
		if c == nil {
			c = &subjectState{subject: subject[:end]}
			if n.children == nil {
				n.children = make(map[string]*subjectState, 1)
			}
			n.children[tok] = c
		}
		c.maxSeq = max(c.maxSeq, seq)
		n = c
		end++ // past the '.'
	}
	return n
}

// treeRemove drops the node of a subject that no longer holds messages,
// and every parent left without children or messages.
func (ix *index) treeRemove(ss *subjectState) {
	if len(ss.children) > 0 {
		return // still a parent
	}
	var path [16]*subjectState
	nodes := append(path[:0], &ix.root)
	toks := make([]string, 0, 8)
	for rest, more := ss.subject, true; more; {
		var tok string
		tok, rest, more = cutToken(rest)
		c := nodes[len(nodes)-1].children[tok]
		if c == nil {
			return // not in the tree (cannot happen)
		}
		nodes, toks = append(nodes, c), append(toks, tok)
	}
	for i := len(nodes) - 1; i > 0; i-- {
		n := nodes[i]
		if len(n.seqs) > 0 || len(n.children) > 0 {
			return
		}
		parent := nodes[i-1]
		delete(parent.children, toks[i-1])
		if len(parent.children) == 0 {
			parent.children = nil
		}
	}
}

// firstMatchingFrom returns the lowest live sequence >= from among the
// subjects matching filter, or 0, walking the tree.
func (ix *index) firstMatchingFrom(filter string, from uint64) uint64 {
	var best uint64
	w := &treeWalk{from: from}
	w.visit = func(ss *subjectState) bool {
		i, _ := slices.BinarySearch(ss.seqs, from)
		if i < len(ss.seqs) && (best == 0 || ss.seqs[i] < best) {
			best = ss.seqs[i]
		}
		return true
	}
	ix.walkMatching(filter, w)
	return best
}

// lookup returns the state of a literal subject with live messages, or
// nil.
func (ix *index) lookup(subject string) *subjectState {
	n := &ix.root
	for rest, more := subject, true; more; {
		var tok string
		tok, rest, more = cutToken(rest)
		if n = n.children[tok]; n == nil {
			return nil
		}
	}
	if len(n.seqs) == 0 {
		return nil
	}
	return n
}

// lookupBytes is lookup for a subject held in a byte slice; it does not
// allocate.
func (ix *index) lookupBytes(subject []byte) *subjectState {
	n := &ix.root
	for {
		i := bytes.IndexByte(subject, '.')
		tok := subject
		if i >= 0 {
			tok = subject[:i]
		}
		if n = n.children[string(tok)]; n == nil {
			return nil
		}
		if i < 0 {
			break
		}
		subject = subject[i+1:]
	}
	if len(n.seqs) == 0 {
		return nil
	}
	return n
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
