package jsapi

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/subject"
)

// The trie must agree with pairwise subject.Overlap on every set and
// query; random subjects over a small alphabet make overlaps frequent.
func TestSubjectTrieMatchesPairwise(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	tokens := []string{"a", "b", "c", "*", ">"}
	randSubject := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = tokens[rng.IntN(len(tokens))]
			if parts[i] == ">" && i != n-1 {
				parts[i] = "a"
			}
		}
		return strings.Join(parts, ".")
	}
	for round := 0; round < 300; round++ {
		var trie subjectTrie
		var set []string
		for range rng.IntN(8) {
			s := randSubject()
			set = append(set, s)
			trie.insert(s)
		}
		// Remove some again, as stream updates and deletes do.
		for i := 0; i < len(set); i++ {
			if rng.IntN(3) == 0 {
				if !trie.remove(set[i]) {
					t.Fatalf("remove %q from %q failed", set[i], set)
				}
				set = append(set[:i], set[i+1:]...)
				i--
			}
		}
		for range 20 {
			q := randSubject()
			want := false
			for _, s := range set {
				want = want || subject.Overlap(s, q)
			}
			if got := trie.overlaps(q); got != want {
				t.Fatalf("set %q, query %q: trie %v, pairwise %v", set, q, got, want)
			}
		}
	}
}

func TestFirstSelfOverlap(t *testing.T) {
	for _, tt := range []struct {
		subjects []string
		i, j     int
	}{
		{[]string{"a", "b", "c"}, -1, -1},
		{[]string{"a.*", "b", "a.x"}, 0, 2},
		{[]string{"b", "a.x", "a.*", "a.>"}, 1, 2},
		{[]string{"x.>", "y", "x.a", "y"}, 0, 2},
	} {
		i, j := firstSelfOverlap(tt.subjects, subject.Overlap)
		if i != tt.i || j != tt.j {
			t.Errorf("%q: %d, %d; want %d, %d", tt.subjects, i, j, tt.i, tt.j)
		}
	}
}

// Long subject lists used to cost a pairwise comparison of every pair
// (and every pair with every other stream's subjects); 50,000 subjects
// were over a billion comparisons in one request.
func TestManySubjectsStayCheap(t *testing.T) {
	_, bus := newTestAPI(t, Options{})
	const n = 50_000
	subjects := make([]string, n)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("\"s%d.*.x\"", i)
	}
	start := time.Now()
	createStream(t, bus, `{"name":"A","subjects":[`+strings.Join(subjects, ",")+`]}`)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("\"t%d.>\"", i)
	}
	createStream(t, bus, `{"name":"B","subjects":[`+strings.Join(subjects, ",")+`]}`)
	filters := make([]string, n)
	for i := range filters {
		filters[i] = fmt.Sprintf("\"s%d.a.x\"", i)
	}
	wantOK(t, createConsumer(bus, t, "A", `{"deliver_subject":"d","filter_subjects":[`+strings.Join(filters, ",")+`]}`))
	wantErr(t, ask(t, bus, "$JS.API.STREAM.CREATE.C", `{"name":"C","subjects":["other","s49999.y.x"]}`), 10065, "subjects overlap")
	// The pairwise checks took minutes here; the tries take well under
	// a second even on a loaded machine.
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %v", d)
	}
}
