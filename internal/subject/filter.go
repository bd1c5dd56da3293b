package subject

// Filters as the store and the JetStream API use them: a filter selects
// the stored messages whose subject it matches, and the empty filter
// selects every message (like ">"). These rules are the ones the server
// applies to subscriptions (Valid, Match), so a message the server
// accepts is one the store accepts, and a filter means the same thing
// in a subscription, a consumer and a purge.

// ValidFilter reports whether f is a usable stream filter: "" (every
// message) or a valid subscription subject (Valid).
func ValidFilter(f string) bool {
	return f == "" || Valid(f)
}

// MatchesAll reports whether filter selects every subject: "" or ">".
func MatchesAll(filter string) bool { return filter == "" || filter == ">" }

// IsLiteral reports whether filter selects exactly one subject: it is
// not empty and holds no wildcard token.
func IsLiteral(filter string) bool { return filter != "" && !HasWildcard(filter) }

// Matcher returns a function reporting whether a literal subject matches
// filter (a ValidFilter), with fast paths for filters that match
// everything and for literal filters. The function is safe for
// concurrent use.
func Matcher(filter string) func(subj string) bool {
	switch {
	case MatchesAll(filter):
		return func(string) bool { return true }
	case !HasWildcard(filter):
		return func(s string) bool { return s == filter }
	}
	return func(s string) bool { return Match(filter, s) }
}

// MatcherAny returns a function reporting whether a literal subject
// matches any of filters (ValidFilters; none selects every subject).
// Its cost does not grow with the number of filters the way testing each
// in turn does: literal filters are one map lookup, and wildcard filters
// are a trie that a subject walks token by token, visiting each of its
// nodes at most once. A consumer or snapshot may carry thousands of
// filters, and it tests every stored subject against them. The function
// is safe for concurrent use.
func MatcherAny(filters []string) func(subj string) bool {
	for _, f := range filters {
		if MatchesAll(f) {
			return func(string) bool { return true }
		}
	}
	switch len(filters) {
	case 0:
		return func(string) bool { return true }
	case 1:
		return Matcher(filters[0])
	}
	literal := make(map[string]struct{})
	var wild *filterNode
	for _, f := range filters {
		if IsLiteral(f) {
			literal[f] = struct{}{}
			continue
		}
		if wild == nil {
			wild = &filterNode{}
		}
		wild.insert(f)
	}
	return func(s string) bool {
		if _, ok := literal[s]; ok {
			return true
		}
		return wild != nil && wild.match(s)
	}
}

// filterNode is a node of MatcherAny's trie of wildcard filters.
type filterNode struct {
	next map[string]*filterNode
	star *filterNode // the '*' token
	tail bool        // a filter ends with '>' after this node
	end  bool        // a filter ends at this node
}

func (n *filterNode) insert(f string) {
	for {
		tok, rest, more := cut(f)
		if tok == ">" {
			n.tail = true
			return
		}
		var c *filterNode
		if tok == "*" {
			if n.star == nil {
				n.star = &filterNode{}
			}
			c = n.star
		} else {
			if n.next == nil {
				n.next = make(map[string]*filterNode)
			}
			if c = n.next[tok]; c == nil {
				c = &filterNode{}
				n.next[tok] = c
			}
		}
		if !more {
			c.end = true
			return
		}
		n, f = c, rest
	}
}

// match reports whether the tokens s (at least one) complete a filter
// below n.
func (n *filterNode) match(s string) bool {
	if n.tail {
		return true // '>' takes one or more tokens
	}
	tok, rest, more := cut(s)
	for _, c := range [2]*filterNode{n.next[tok], n.star} {
		if c != nil && (more && c.match(rest) || !more && c.end) {
			return true
		}
	}
	return false
}
