package store

import "hash/maphash"

// children holds the children of a subject tree node (index_tree.go)
// without storing their keys: the key of a child, the first token of
// the label of its edge, is read from the child's subject at the offset
// where the label starts (from, the parent's labelStart), so a child
// costs one pointer. A map[string]*subjectState costs a string header
// and a pointer per slot plus its load factor: about 47 bytes per child
// for the 200k keys of a bucket, against 8–16 here.
//
// Up to smallChildren children are kept in nodes[:n] and found by a
// scan; more are kept in an open-addressing hash table (linear probing,
// deletion by backward shift, no tombstones) of a power-of-two length,
// at most 3/4 full. Beside the table, one byte per slot holds 7 bits of
// the hash of the slot's key (0: free), so a probe past another key
// reads a byte instead of that child's subject: a key not in a table
// 3/4 full passes about 8 slots, which cost as many cache misses
// without it (the open of a store of a million keys spent 1.2 s of CPU
// indexing them without it, 0.85 s with it). A full hash per slot would also spare reading
// the subjects when the table grows, but costs 8 bytes per key against
// 1 to 3. Every method takes from.
type children struct {
	nodes  []*subjectState // small: the children; hashed: the table, nil slots free
	tags   []uint8         // hashed: tagOf the hash of each slot's key, 0 when free
	n      int
	hashed bool
}

// smallChildren is the most children kept unhashed.
const smallChildren = 4

// childSeed seeds the hash of keys; one per process.
var childSeed = maphash.MakeSeed()

// hasKey reports whether the label of c, which starts at from in c's
// subject, has tok as its first token.
func hasKey(c *subjectState, from int, tok string) bool {
	s, end := c.subject, from+len(tok)
	return len(s) >= end && s[from:end] == tok && (len(s) == end || s[end] == '.')
}

// hashKey returns the hash of a key.
func hashKey(key string) uint64 { return maphash.String(childSeed, key) }

// tagOf returns the tag of a hash: its top 7 bits, never 0.
func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

// slot returns the home slot of a key of hash h in a table of
// len(ch.nodes).
func (ch *children) slot(h uint64) int { return int(h & uint64(len(ch.nodes)-1)) }

// get returns the child keyed tok, or nil.
func (ch *children) get(tok string, from int) *subjectState {
	if ch == nil {
		return nil
	}
	if !ch.hashed {
		for _, c := range ch.nodes {
			if hasKey(c, from, tok) {
				return c
			}
		}
		return nil
	}
	mask := len(ch.nodes) - 1
	h := hashKey(tok)
	tag := tagOf(h)
	for i := ch.slot(h); ; i = (i + 1) & mask {
		switch ch.tags[i] {
		case 0:
			return nil
		case tag:
			if c := ch.nodes[i]; hasKey(c, from, tok) {
				return c
			}
		}
	}
}

// set makes c the child for its key, replacing the child that had it.
func (ch *children) set(c *subjectState, from int) {
	key := firstToken(c.subject[from:])
	if !ch.hashed {
		for i, o := range ch.nodes {
			if hasKey(o, from, key) {
				ch.nodes[i] = c
				return
			}
		}
		if ch.n < smallChildren {
			ch.nodes = append(ch.nodes, c)
			ch.n++
			return
		}
		ch.rehash(from, 4*smallChildren)
	} else if (ch.n+1)*4 > len(ch.nodes)*3 {
		ch.rehash(from, 2*len(ch.nodes))
	}
	mask := len(ch.nodes) - 1
	h := hashKey(key)
	tag := tagOf(h)
	for i := ch.slot(h); ; i = (i + 1) & mask {
		switch ch.tags[i] {
		case 0:
			ch.nodes[i], ch.tags[i] = c, tag
			ch.n++
			return
		case tag:
			if hasKey(ch.nodes[i], from, key) {
				ch.nodes[i] = c
				return
			}
		}
	}
}

// rehash moves the children into a table of size slots (a power of
// two).
func (ch *children) rehash(from, size int) {
	old := ch.nodes
	ch.nodes, ch.tags, ch.hashed = make([]*subjectState, size), make([]uint8, size), true
	mask := size - 1
	for _, c := range old {
		if c == nil {
			continue
		}
		h := hashKey(firstToken(c.subject[from:]))
		i := ch.slot(h)
		for ch.tags[i] != 0 {
			i = (i + 1) & mask
		}
		ch.nodes[i], ch.tags[i] = c, tagOf(h)
	}
}

// del removes the child keyed tok, if any.
func (ch *children) del(tok string, from int) {
	if !ch.hashed {
		for i, c := range ch.nodes {
			if hasKey(c, from, tok) {
				last := len(ch.nodes) - 1
				ch.nodes[i] = ch.nodes[last]
				ch.nodes[last] = nil
				ch.nodes = ch.nodes[:last]
				ch.n--
				return
			}
		}
		return
	}
	mask := len(ch.nodes) - 1
	h := hashKey(tok)
	tag := tagOf(h)
	i := ch.slot(h)
	for ; ; i = (i + 1) & mask {
		t := ch.tags[i]
		if t == 0 {
			return
		}
		if t == tag && hasKey(ch.nodes[i], from, tok) {
			break
		}
	}
	// Shift back the entries after i that may not sit at or before their
	// home slot once i is free.
	for j := (i + 1) & mask; ch.tags[j] != 0; j = (j + 1) & mask {
		home := ch.slot(hashKey(firstToken(ch.nodes[j].subject[from:])))
		if (j-home)&mask >= (j-i)&mask {
			ch.nodes[i], ch.tags[i] = ch.nodes[j], ch.tags[j]
			i = j
		}
	}
	ch.nodes[i], ch.tags[i] = nil, 0
	ch.n--
	if ch.n <= smallChildren/2 {
		ch.unhash()
	}
}

// unhash packs the children of a table into a small list.
func (ch *children) unhash() {
	small := make([]*subjectState, 0, smallChildren)
	for _, c := range ch.nodes {
		if c != nil {
			small = append(small, c)
		}
	}
	ch.nodes, ch.tags, ch.hashed = small, nil, false
}

// all returns the children to range over, skipping nil entries; valid
// until the next change.
func (ch *children) all() []*subjectState {
	if ch == nil {
		return nil
	}
	return ch.nodes
}

// any returns a child; ch has one at least.
func (ch *children) any() *subjectState {
	for _, c := range ch.nodes {
		if c != nil {
			return c
		}
	}
	return nil
}

// count returns the number of children of a node whose table is ch.
func (ch *children) count() int {
	if ch == nil {
		return 0
	}
	return ch.n
}
