package store

import (
	"cmp"
	"encoding/binary"
	"slices"
)

// Wide nodes: a node with many children (the keys of a KV bucket are
// all children of $KV.<bucket>) grows its table by doubling, and every
// doubling reads the subject of every child to hash it again. On an
// open, where a million keys arrive in a row, that was a quarter of the
// CPU of indexing them. So the index remembers its wide nodes (tables
// of wideSlots or more), Close records their sizes with the stream's
// size hints, and the next open sizes those tables once, when they
// first have to grow. A hint that no longer fits (the stream changed
// after a crash) costs only memory or time, never correctness: the
// table still grows as needed.

// wideSlots is the table length from which a node counts as wide.
const wideSlots = 1 << 12

// maxWideHints bounds the wide nodes recorded per stream, the largest
// first.
const maxWideHints = 256

// wideHint is a wide node's path (its children's subjects up to the
// offset where their labels start) and its number of children.
type wideHint struct {
	prefix string
	n      int
}

// setChild makes c a child of n (subjectState.setChild), keeping the
// record of wide nodes and applying a size hint of the open.
func (ix *index) setChild(n, c *subjectState, from int) {
	if n.children == nil {
		n.children = &children{}
	}
	ch := n.children
	if ix.wideHints != nil && ch.full() {
		if want, ok := ix.wideHints[c.subject[:from]]; ok && want > ch.n {
			ch.rehash(from, tableFor(want))
		}
	}
	ch.set(c, from)
	if ch.hashed && len(ch.nodes) >= wideSlots {
		if ix.wide == nil {
			ix.wide = make(map[*children]int)
		}
		ix.wide[ch] = from
	}
}

// dropWide forgets ch as a wide node once it is no longer one.
func (ix *index) dropWide(ch *children) {
	if ch == nil || !ch.hashed || len(ch.nodes) < wideSlots {
		delete(ix.wide, ch)
	}
}

// full reports whether adding a child would grow the table.
func (ch *children) full() bool {
	if !ch.hashed {
		return ch.n >= smallChildren
	}
	return (ch.n+1)*4 > len(ch.nodes)*3
}

// tableFor returns the table length that holds n children at most 3/4
// full.
func tableFor(n int) int {
	size := 4 * smallChildren
	for size*3 < n*4 {
		size *= 2
	}
	return size
}

// wideHintsOf returns the wide nodes, the largest first, at most
// maxWideHints.
func (ix *index) wideHintsOf() []wideHint {
	hints := make([]wideHint, 0, len(ix.wide))
	for ch, from := range ix.wide {
		if ch.n == 0 {
			continue
		}
		hints = append(hints, wideHint{prefix: ch.any().subject[:from], n: ch.n})
	}
	slices.SortFunc(hints, func(a, b wideHint) int { return cmp.Compare(b.n, a.n) })
	return hints[:min(len(hints), maxWideHints)]
}

// appendWideHints encodes hints after a stream's size hint: for each,
// the number of children, the prefix's length and the prefix, as
// uvarints and bytes.
func appendWideHints(b []byte, hints []wideHint) []byte {
	for _, h := range hints {
		b = binary.AppendUvarint(b, uint64(h.n))
		b = binary.AppendUvarint(b, uint64(len(h.prefix)))
		b = append(b, h.prefix...)
	}
	return b
}

// parseWideHints decodes what appendWideHints wrote; it returns nil for
// anything malformed or implausible (more children than subjects).
func parseWideHints(b []byte, subjects uint64) map[string]int {
	hints := make(map[string]int)
	for len(b) > 0 && len(hints) < maxWideHints {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > subjects {
			return nil
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil
		}
		hints[string(b[k:k+int(l)])] = int(n)
		b = b[k+int(l):]
	}
	if len(hints) == 0 {
		return nil
	}
	return hints
}
