package subject

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestIndexMatch(t *testing.T) {
	idx := NewIndex[int]()
	subs := []struct {
		subj, queue string
		id          int
	}{
		{"foo.bar", "", 1}, {"foo.*", "", 2}, {"foo.>", "", 3}, {">", "", 4},
		{"foo.bar", "q", 5}, {"foo.bar", "q", 6}, {"*.bar", "r", 7}, {"foo.baz", "", 8},
	}
	for _, s := range subs {
		if err := idx.Insert(s.subj, s.queue, s.id); err != nil {
			t.Fatal(err)
		}
	}
	r := idx.Match("foo.bar")
	plain := slices.Sorted(slices.Values(r.Plain))
	if !slices.Equal(plain, []int{1, 2, 3, 4}) {
		t.Fatalf("plain = %v", plain)
	}
	if len(r.Groups) != 2 {
		t.Fatalf("groups = %v", r.Groups)
	}
	if idx.Count() != len(subs) {
		t.Fatalf("count = %d", idx.Count())
	}
	// Removing evicts the cached result.
	if !idx.Remove("foo.*", "", 2) || idx.Remove("foo.*", "", 2) {
		t.Fatal("remove reported wrongly")
	}
	if got := slices.Sorted(slices.Values(idx.Match("foo.bar").Plain)); !slices.Equal(got, []int{1, 3, 4}) {
		t.Fatalf("after remove plain = %v", got)
	}
	idx.Remove("foo.bar", "q", 5)
	idx.Remove("foo.bar", "q", 6)
	if r := idx.Match("foo.bar"); len(r.Groups) != 1 {
		t.Fatalf("groups after removal = %v", r.Groups)
	}
	if err := idx.Insert("foo..bar", "", 9); err == nil {
		t.Fatal("invalid subject accepted")
	}
}

// naiveMatch is the reference: every subscription checked with Match.
type naiveSub struct {
	subj string
	id   int
}

func naive(subs []naiveSub, subj string) []int {
	var out []int
	for _, s := range subs {
		if Match(s.subj, subj) {
			out = append(out, s.id)
		}
	}
	slices.Sort(out)
	return out
}

func randSubject(r *rand.Rand, wild bool) string {
	n := 1 + r.Intn(4)
	toks := make([]string, n)
	for i := range toks {
		toks[i] = string(rune('a' + r.Intn(3)))
		if wild && r.Intn(5) == 0 {
			toks[i] = "*"
		}
	}
	if wild && r.Intn(6) == 0 {
		toks[n-1] = ">"
	}
	return strings.Join(toks, ".")
}

// TestIndexAgainstNaive inserts and removes random subscriptions while
// matching, and compares every match with the naive matcher.
func TestIndexAgainstNaive(t *testing.T) {
	seed := rand.Int63()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	idx := NewIndex[int]()
	var subs []naiveSub
	for i := 0; i < 5000; i++ {
		switch op := r.Intn(10); {
		case op < 4:
			s := naiveSub{randSubject(r, true), i}
			subs = append(subs, s)
			if err := idx.Insert(s.subj, "", s.id); err != nil {
				t.Fatal(err)
			}
		case op < 6 && len(subs) > 0:
			j := r.Intn(len(subs))
			if !idx.Remove(subs[j].subj, "", subs[j].id) {
				t.Fatalf("remove %v failed", subs[j])
			}
			subs = append(subs[:j], subs[j+1:]...)
		default:
			subj := randSubject(r, false)
			got := slices.Sorted(slices.Values(idx.Match(subj).Plain))
			if want := naive(subs, subj); !slices.Equal(got, want) {
				t.Fatalf("Match(%q) = %v, want %v", subj, got, want)
			}
		}
	}
}

func TestIndexConcurrent(t *testing.T) {
	idx := NewIndex[int]()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				subj := fmt.Sprintf("g%d.%d", g, i%50)
				_ = idx.Insert(subj, "", g*10000+i)
				idx.Match(subj)
				idx.Match("g0.1")
				idx.Remove(subj, "", g*10000+i)
			}
		}(g)
	}
	wg.Wait()
	if idx.Count() != 0 {
		t.Fatalf("count = %d after all removals", idx.Count())
	}
	if !idx.Match("g0.1").Empty() {
		t.Fatal("stale cached result")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("foo.*", "foo.bar")
	f.Add("foo.>", "foo.bar.baz")
	f.Add(">", "a")
	f.Add("a.*.c", "a.b.c")
	f.Fuzz(func(t *testing.T, pattern, subj string) {
		if !Valid(pattern) || !ValidLiteral(subj) {
			return
		}
		idx := NewIndex[int]()
		if err := idx.Insert(pattern, "", 1); err != nil {
			t.Fatal(err)
		}
		got := !idx.Match(subj).Empty()
		if want := refMatch(Tokens(pattern), Tokens(subj)); got != want || Match(pattern, subj) != want {
			t.Fatalf("pattern %q subject %q: index %v, Match %v, want %v", pattern, subj, got, Match(pattern, subj), want)
		}
	})
}

// refMatch is a recursive token matcher written independently of Match.
func refMatch(p, s []string) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	if p[0] == ">" {
		return len(s) >= 1
	}
	if len(s) == 0 {
		return false
	}
	return (p[0] == "*" || p[0] == s[0]) && refMatch(p[1:], s[1:])
}
