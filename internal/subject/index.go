package subject

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrInvalidSubject is returned by Index.Insert for a subject that is not
// a valid subscription subject.
var ErrInvalidSubject = errors.New("subject: invalid subject")

// cacheLimit bounds the number of cached match results.
const cacheLimit = 4096

// Result is the set of subscriptions that match one subject. Plain holds
// the subscriptions without a queue group; Groups holds one slice per
// queue group, of which a publisher delivers to exactly one member.
// A Result is shared between callers and must not be modified.
type Result[T comparable] struct {
	Plain  []T
	Groups [][]T
}

// Empty reports whether the result matches no subscription.
func (r *Result[T]) Empty() bool { return len(r.Plain) == 0 && len(r.Groups) == 0 }

// Index is a concurrency-safe subscription trie with a match cache.
// Values of T identify subscriptions; the same value may be inserted
// under several subjects. All methods may be called from any goroutine.
type Index[T comparable] struct {
	mu    sync.RWMutex // guards root, count, inserts and removes
	root  *node[T]
	count int
	// inserts and removes count the successful Inserts and Removes;
	// hits the matches answered from the cache and misses the others
	// (counted on the slow path, where the trie is walked anyway).
	inserts, removes uint64
	hits, misses     atomic.Uint64

	cache struct {
		sync.RWMutex
		m map[string]*Result[T]
	}
}

type node[T comparable] struct {
	children map[string]*node[T]
	star     *node[T] // the '*' token
	tail     *node[T] // the '>' token
	plain    []T
	groups   map[string][]T
}

// NewIndex returns an empty index.
func NewIndex[T comparable]() *Index[T] {
	idx := &Index[T]{root: &node[T]{}}
	idx.cache.m = make(map[string]*Result[T])
	return idx
}

// Count returns the number of subscriptions in the index.
func (idx *Index[T]) Count() int {
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	return idx.count
}

// Insert adds v as a subscription to subj (which may contain wildcards)
// in queue group queue ("" for none). It returns ErrInvalidSubject for an
// invalid subject.
func (idx *Index[T]) Insert(subj, queue string, v T) error {
	if !Valid(subj) {
		return ErrInvalidSubject
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	n := idx.root
	for rest, more := subj, true; more; {
		var tok string
		tok, rest, more = cut(rest)
		n = n.child(tok, true)
	}
	if queue == "" {
		n.plain = append(n.plain, v)
	} else {
		if n.groups == nil {
			n.groups = make(map[string][]T)
		}
		n.groups[queue] = append(n.groups[queue], v)
	}
	idx.count++
	idx.inserts++
	idx.evictLocked(subj)
	return nil
}

// Remove deletes the subscription v from subj and queue. It reports
// whether the subscription was present.
func (idx *Index[T]) Remove(subj, queue string, v T) bool {
	if !Valid(subj) {
		return false
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	path := make([]*node[T], 0, 8)
	toks := make([]string, 0, 8)
	n := idx.root
	for rest, more := subj, true; more; {
		var tok string
		tok, rest, more = cut(rest)
		path = append(path, n)
		toks = append(toks, tok)
		if n = n.child(tok, false); n == nil {
			return false
		}
	}
	var ok bool
	if queue == "" {
		n.plain, ok = without(n.plain, v)
	} else {
		var members []T
		members, ok = without(n.groups[queue], v)
		if len(members) == 0 {
			delete(n.groups, queue)
		} else {
			n.groups[queue] = members
		}
	}
	if !ok {
		return false
	}
	idx.count--
	idx.removes++
	// Prune empty nodes from the leaf upwards.
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		path[i].drop(toks[i])
		n = path[i]
	}
	idx.evictLocked(subj)
	return true
}

// Match returns the subscriptions matching the literal subject subj.
// The result is shared and must not be modified.
func (idx *Index[T]) Match(subj string) *Result[T] {
	idx.cache.RLock()
	r, ok := idx.cache.m[subj]
	idx.cache.RUnlock()
	if ok {
		idx.hits.Add(1)
		return r
	}
	idx.misses.Add(1)
	idx.mu.RLock()
	defer idx.mu.RUnlock()
	r = &Result[T]{}
	collect(idx.root, subj, r)
	// Stored while the trie is read-locked, so no insert or removal can
	// slip between computing the result and caching it.
	idx.cache.Lock()
	if len(idx.cache.m) >= cacheLimit {
		n := 0
		for k := range idx.cache.m {
			delete(idx.cache.m, k)
			if n++; n >= cacheLimit/4 {
				break
			}
		}
	}
	idx.cache.m[subj] = r
	idx.cache.Unlock()
	return r
}

// MatchBytes is Match for a subject held in a byte slice; a cached
// result is found without converting it to a string.
func (idx *Index[T]) MatchBytes(subj []byte) *Result[T] {
	idx.cache.RLock()
	r, ok := idx.cache.m[string(subj)]
	idx.cache.RUnlock()
	if ok {
		idx.hits.Add(1)
		return r
	}
	return idx.Match(string(subj))
}

// evictLocked drops the cached results that subscriptions on subj could
// change. Called with idx.mu held for writing.
func (idx *Index[T]) evictLocked(subj string) {
	idx.cache.Lock()
	defer idx.cache.Unlock()
	if !HasWildcard(subj) {
		delete(idx.cache.m, subj)
		return
	}
	for k := range idx.cache.m {
		if Match(subj, k) {
			delete(idx.cache.m, k)
		}
	}
}

func collect[T comparable](n *node[T], subj string, r *Result[T]) {
	tok, rest, more := cut(subj)
	if n.tail != nil {
		n.tail.addTo(r)
	}
	if n.star != nil {
		if more {
			collect(n.star, rest, r)
		} else {
			n.star.addTo(r)
		}
	}
	if c := n.children[tok]; c != nil {
		if more {
			collect(c, rest, r)
		} else {
			c.addTo(r)
		}
	}
}

func (n *node[T]) addTo(r *Result[T]) {
	r.Plain = append(r.Plain, n.plain...)
	for _, members := range n.groups {
		r.Groups = append(r.Groups, members)
	}
}

func (n *node[T]) child(tok string, create bool) *node[T] {
	switch tok {
	case "*":
		if n.star == nil && create {
			n.star = &node[T]{}
		}
		return n.star
	case ">":
		if n.tail == nil && create {
			n.tail = &node[T]{}
		}
		return n.tail
	}
	c := n.children[tok]
	if c == nil && create {
		if n.children == nil {
			n.children = make(map[string]*node[T])
		}
		c = &node[T]{}
		n.children[tok] = c
	}
	return c
}

func (n *node[T]) drop(tok string) {
	switch tok {
	case "*":
		n.star = nil
	case ">":
		n.tail = nil
	default:
		delete(n.children, tok)
	}
}

func (n *node[T]) empty() bool {
	return len(n.plain) == 0 && len(n.groups) == 0 && len(n.children) == 0 && n.star == nil && n.tail == nil
}

// without removes one occurrence of v from s, keeping s's backing array
// private to the index (results handed out earlier keep their copy).
func without[T comparable](s []T, v T) ([]T, bool) {
	for i := range s {
		if s[i] == v {
			out := make([]T, 0, len(s)-1)
			out = append(out, s[:i]...)
			return append(out, s[i+1:]...), true
		}
	}
	return s, false
}
