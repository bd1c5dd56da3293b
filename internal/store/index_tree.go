package store

import (
	"strings"
)

// The subject tree. Every subjectState is also a node of a radix tree
// over tokens, rooted at index.root, so that a wildcard filter finds its
// subjects by walking the tokens it names instead of testing every
// subject or every message. An edge is labelled with one or more
// tokens: a chain of nodes that would each have one child and no
// messages is a single edge, so the tree has at most two nodes per
// subject whatever the number of tokens:
//
//	$KV.b.a   $KV.b.x.1.y   $KV.b.x.2      root ─ $KV.b ┬ a
//	                                                    └ x ┬ 1.y
//	                                                        └ 2
//
// A node's subject is the subject of its path from the root (its tokens
// joined by '.'), and the label of the edge into it is what follows its
// parent's subject: no label is stored apart. Children are keyed by the
// first token of their label. "$KV.b.x.*" follows $KV.b and x and takes
// the first token of each child's label ("1.y" does not match, "2"
// does); a literal subject is a hash lookup per edge (lookup), in a
// table of child pointers whose keys are read from the children's
// subjects (index_children.go).
//
// A node holds messages when its seqs() is not empty. A node without
// messages exists only where subjects diverge: it has two children or
// more (or it is the root). Inserting a subject that leaves an edge
// mid-label splits the edge (treeNode); removing the last message of a
// subject drops its node when it has no child, and a node left with one
// child and no messages is merged into that child (treeRemove). Nodes
// that hold messages keep their place (entries point to them).
//
// Strings: a node's subject is its own subject string while it holds
// messages; otherwise it and the subjects on its path are substrings of
// the subject of a node below that holds messages. A removal re-points
// the nodes on the removed subject's path, so the tree never keeps a
// removed subject's string alive.
//
// maxSeq bounds from above the sequences stored at or below a node: an
// append raises it along its path, a removal leaves it (so it may be
// stale, never too low). A walk for messages at or after a sequence
// skips every subtree whose maxSeq is below it, so a consumer caught up
// with a narrow filter costs a walk down the filter's literal tokens.
//
// Memory: per subject, at most one subjectState (48 bytes) holding its
// messages (and its one sequence) and one node where it diverges from
// the others, each with a pointer in its parent's children table (8–16
// bytes with the table's free slots), whatever the number of tokens.

// labelStart returns the offset in a child's subject of the label of
// the edge from n to that child.
func (n *subjectState) labelStart() int {
	if n.subject == "" {
		return 0 // the root
	}
	return len(n.subject) + 1
}

// firstToken returns the first token of s.
func firstToken(s string) string {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i]
	}
	return s
}

// cutToken returns the first token of s, the rest after the '.', and
// whether there was a rest.
func cutToken(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// setChild makes c the child of n for the label that starts at from in
// c's subject, keyed by a substring of c's subject.
func (n *subjectState) setChild(c *subjectState, from int) {
	if n.children == nil {
		n.children = &children{}
	}
	n.children.set(c, from)
}

// anyChild returns a child of n, which has one at least.
func (n *subjectState) anyChild() *subjectState {
	return n.children.any()
}

// commonTokens returns the end of the tokens that a and b share from
// offset i, where both have the same first token: len of the shorter
// when it is a token prefix of the other, else the position of the '.'
// after the last shared token.
func commonTokens(a, b string, i int) int {
	n := min(len(a), len(b))
	m := i
	for m < n && a[m] == b[m] {
		m++
	}
	if m == n && (len(a) == n || a[n] == '.') && (len(b) == n || b[n] == '.') {
		return n
	}
	return i + strings.LastIndexByte(a[i:m], '.')
}

// treeNode returns the node of subject, creating it (and splitting the
// edge it leaves mid-label) as needed, and raises maxSeq to seq along
// the path. Appends come in sequence order, so that is an assignment. A
// node returned without messages takes subject as its subject, since
// the caller is about to store a message in it.
func (ix *index) treeNode(subject string, seq uint64) *subjectState {
	n := &ix.root
	n.maxSeq = max(n.maxSeq, seq)
	for i := 0; ; {
		c := n.children.get(firstToken(subject[i:]), i)
		if c == nil {
			c = &subjectState{subject: subject, maxSeq: seq}
			ix.setChild(n, c, i)
			return c
		}
		j := commonTokens(c.subject, subject, i)
		if j < len(c.subject) {
			// subject leaves (or ends inside) the edge into c: split it.
			mid := &subjectState{subject: c.subject[:j], maxSeq: c.maxSeq}
			mid.setChild(c, j+1)
			ix.setChild(n, mid, i)
			c = mid
		}
		c.maxSeq = max(c.maxSeq, seq)
		if j == len(subject) {
			if c.empty() {
				c.subject = subject
			}
			return c
		}
		n, i = c, j+1
	}
}

// treePath returns the nodes from the root down to the node of subject,
// or nil if subject has none.
func (ix *index) treePath(subject string, buf []*subjectState) []*subjectState {
	path := append(buf[:0], &ix.root)
	for n, i := &ix.root, 0; ; {
		c := n.children.get(firstToken(subject[i:]), i)
		if c == nil || !hasTokenPrefix(subject, c.subject, i) {
			return nil
		}
		path = append(path, c)
		if len(c.subject) == len(subject) {
			return path
		}
		n, i = c, len(c.subject)+1
	}
}

// hasTokenPrefix reports whether subject begins with the tokens of
// prefix, whose first i bytes are known to match.
func hasTokenPrefix(subject, prefix string, i int) bool {
	return len(subject) >= len(prefix) && subject[i:len(prefix)] == prefix[i:] &&
		(len(subject) == len(prefix) || subject[len(prefix)] == '.')
}

// treeRemove takes out of the tree the node of a subject that no longer
// holds messages: it drops the node if it has no child and merges it
// into its child if it has one, then merges its parent into the parent's
// last child if the parent is left with one child and no messages.
// Finally it re-points the path at a subject still held, so that the
// removed subject's string is not kept alive.
func (ix *index) treeRemove(ss *subjectState) {
	var buf [16]*subjectState
	path := ix.treePath(ss.subject, buf[:])
	if len(path) < 2 || path[len(path)-1] != ss {
		return // not in the tree (cannot happen)
	}
	k := len(path) - 1 // path[:k+1] are the nodes still in the tree
	switch ss.children.count() {
	case 0:
		parent := path[k-1]
		from := parent.labelStart()
		parent.children.del(firstToken(ss.subject[from:]), from)
		ix.dropWide(parent.children)
		if parent.children.count() == 0 {
			parent.children = nil
		}
		k--
		if k > 0 && parent.empty() && parent.children.count() == 1 {
			ix.mergeChild(path[k-1], parent)
			k--
		}
	case 1:
		ix.mergeChild(path[k-1], ss)
		k--
	}
	ix.repoint(path[:k+1])
}

// mergeChild replaces n, a child of parent with one child and no
// messages, by that child, whose edge label grows by n's.
func (ix *index) mergeChild(parent, n *subjectState) {
	c := n.anyChild()
	ix.setChild(parent, c, parent.labelStart())
	n.children = nil
}

// repoint makes the subjects of the nodes without messages on path, and
// the keys of its edges, substrings of the subject of a node below that
// holds messages.
func (ix *index) repoint(path []*subjectState) {
	if len(path) < 2 {
		return
	}
	held := path[len(path)-1]
	for held.empty() {
		held = held.anyChild()
	}
	live := held.subject
	for k := len(path) - 1; k > 0; k-- {
		n := path[k]
		if n.empty() {
			n.subject = live[:len(n.subject)]
		}
		ix.setChild(path[k-1], n, path[k-1].labelStart())
	}
}
