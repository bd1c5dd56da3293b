package jsapi

// subjectTrie answers "does this subject overlap any subject in the
// set?" (subject.Overlap against each member) without comparing against
// every member: subjects are stored token by token, '*' and '>' as
// ordinary keys, and a query follows only the branches that can
// overlap. For a literal query that is at most two branches per token
// (the literal and '*'), so the usual cost is proportional to the
// query's length, not to the set's size; a query with wildcards visits
// only the members it could overlap.
//
// It bounds the checks that are quadratic when done pairwise: a stream's
// subjects among themselves, a new stream's subjects against every
// other stream's, a consumer's filters among themselves. It is not safe
// for concurrent use; jsapi uses it under API.ctl or on a request's own
// data.
//
// Example: with {"$KV.a.>", "orders.*.new"}, the query "orders.eu.new"
// walks orders → * → new and finds a member; "$KV.b.x" stops at $KV
// (no "b" or "*" child there); "$KV.>" finds "$KV.a.>" through the
// count of members below $KV.
type subjectTrie struct {
	root trieNode
}

type trieNode struct {
	children map[string]*trieNode
	// members counts the subjects ending here, below the members here
	// and in every subtree.
	members, below int
}

// insert adds a subject (it may already be present: members count).
func (t *subjectTrie) insert(subj string) {
	n := &t.root
	for rest, more := subj, true; more; {
		var tok string
		tok, rest, more = cutToken(rest)
		n.below++
		if n.children == nil {
			n.children = make(map[string]*trieNode)
		}
		c := n.children[tok]
		if c == nil {
			c = &trieNode{}
			n.children[tok] = c
		}
		n = c
	}
	n.members++
}

// remove drops one occurrence of a subject inserted before; it reports
// whether there was one.
func (t *subjectTrie) remove(subj string) bool {
	path := []*trieNode{&t.root}
	toks := []string{}
	n := &t.root
	for rest, more := subj, true; more; {
		var tok string
		tok, rest, more = cutToken(rest)
		if n = n.children[tok]; n == nil {
			return false
		}
		path, toks = append(path, n), append(toks, tok)
	}
	if n.members == 0 {
		return false
	}
	n.members--
	for i := len(path) - 2; i >= 0; i-- {
		p := path[i]
		p.below--
		if c := path[i+1]; c.members == 0 && c.below == 0 {
			delete(p.children, toks[i])
		}
	}
	return true
}

// overlaps reports whether some member overlaps subj.
func (t *subjectTrie) overlaps(subj string) bool {
	return t.root.overlaps(subj)
}

func (n *trieNode) overlaps(subj string) bool {
	tok, rest, more := cutToken(subj)
	if tok == ">" {
		// Every member with at least one more token overlaps.
		return n.below > 0
	}
	if n.children[">"] != nil {
		return true
	}
	try := func(c *trieNode) bool {
		if c == nil {
			return false
		}
		if !more {
			return c.members > 0
		}
		return c.overlaps(rest)
	}
	if tok == "*" {
		for key, c := range n.children {
			if key != ">" && try(c) {
				return true
			}
		}
		return false
	}
	return try(n.children[tok]) || try(n.children["*"])
}

// cutToken returns the first token of s, the rest after the '.', and
// whether there was a rest.
func cutToken(s string) (token, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// firstSelfOverlap returns the index of the first subject that overlaps
// a later one in the list, and that later one's index, or -1, -1. It
// inserts from the end, so each subject is compared with the later ones
// through the trie, then finds the partner with one linear pass: the
// same pair a pairwise loop in list order would report, at the cost of
// one trie query per subject.
func firstSelfOverlap(subjects []string, overlap func(a, b string) bool) (int, int) {
	var t subjectTrie
	first := -1
	for i := len(subjects) - 1; i >= 0; i-- {
		if t.overlaps(subjects[i]) {
			first = i
		}
		t.insert(subjects[i])
	}
	if first < 0 {
		return -1, -1
	}
	for j := first + 1; j < len(subjects); j++ {
		if overlap(subjects[first], subjects[j]) {
			return first, j
		}
	}
	return -1, -1
}
