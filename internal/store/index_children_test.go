package store

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestChildrenAgainstMap: random sets, replacements and deletions in a
// children table, small and hashed, against a map, at a label offset.
func TestChildrenAgainstMap(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const prefix = "p.q."
	from := len(prefix)
	for round := 0; round < 20; round++ {
		ch := &children{}
		ref := map[string]*subjectState{}
		keys := 1 + rng.IntN(400)
		for step := 0; step < 3000; step++ {
			key := "k" + strconv.Itoa(rng.IntN(keys))
			if rng.IntN(3) == 0 {
				ch.del(key, from)
				delete(ref, key)
			} else {
				subject := prefix + key
				if rng.IntN(2) == 0 {
					subject += ".x" // a label of two tokens
				}
				c := &subjectState{subject: subject}
				ch.set(c, from)
				ref[key] = c
			}
			if ch.count() != len(ref) {
				t.Fatalf("round %d step %d: %d children, want %d", round, step, ch.count(), len(ref))
			}
			if step%97 == 0 || ch.count() < 8 {
				for k := 0; k < keys; k++ {
					key := "k" + strconv.Itoa(k)
					if got := ch.get(key, from); got != ref[key] {
						t.Fatalf("round %d step %d: get(%q) = %v, want %v", round, step, key, got, ref[key])
					}
				}
				n := 0
				for _, c := range ch.all() {
					if c != nil {
						n++
					}
				}
				if n != len(ref) {
					t.Fatalf("round %d step %d: all() has %d, want %d", round, step, n, len(ref))
				}
				checkTags(t, ch, from)
			}
		}
	}
}

// checkTags checks that a hashed table's tag of each slot is the tag of
// its key, and 0 exactly where the slot is free.
func checkTags(t *testing.T, ch *children, from int) {
	t.Helper()
	if !ch.hashed {
		if ch.tags != nil {
			t.Fatalf("small list with %d tags", len(ch.tags))
		}
		return
	}
	if len(ch.tags) != len(ch.nodes) {
		t.Fatalf("%d tags for %d slots", len(ch.tags), len(ch.nodes))
	}
	for i, c := range ch.nodes {
		want := uint8(0)
		if c != nil {
			want = tagOf(hashKey(firstToken(c.subject[from:])))
		}
		if ch.tags[i] != want {
			t.Fatalf("slot %d: tag %#x, want %#x", i, ch.tags[i], want)
		}
	}
}
