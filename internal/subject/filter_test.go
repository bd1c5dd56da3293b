package subject

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// The store's subject rules (formerly internal/store/subject.go).
func TestStoreSubjectAndFilter(t *testing.T) {
	cases := []struct {
		s             string
		subject, filt bool
	}{
		{"a", true, true}, {"$KV.b.k", true, true}, {"a.b-c_d/e=f", true, true},
		{"", false, true}, {"a.*", false, true}, {"a.>", false, true}, {">", false, true},
		{"*.b.>", false, true}, {"a.>.b", false, false}, {"a..b", false, false},
		{".a", false, false}, {"a.", false, false}, {"a b", false, false}, {"a*b", true, true},
		{"a.b>", true, true}, {"a\x00b", false, false}, {"a\x01b", false, false}, {"a\x7fb", false, false},
	}
	for _, c := range cases {
		if got := ValidLiteral(c.s); got != c.subject {
			t.Errorf("ValidLiteral(%q) = %v", c.s, got)
		}
		if got := ValidFilter(c.s); got != c.filt {
			t.Errorf("ValidFilter(%q) = %v", c.s, got)
		}
	}
	for f, want := range map[string]bool{"": true, ">": true, "a": false, "a.>": false, "*": false} {
		if MatchesAll(f) != want {
			t.Errorf("MatchesAll(%q) = %v", f, !want)
		}
	}
	for f, want := range map[string]bool{"": false, ">": false, "a": true, "a.*": false, "a*b": true, "a.b>": true} {
		if IsLiteral(f) != want {
			t.Errorf("IsLiteral(%q) = %v", f, !want)
		}
	}
}

// FuzzSubjectRules checks the rules the store relies on against naive
// versions written from ADR-6: validity of subjects and filters, the
// wildcard test, and Matcher (with its fast paths) against refMatch.
func FuzzSubjectRules(f *testing.F) {
	for _, s := range [][2]string{{"a.*", "a.b"}, {"a.>", "a"}, {">", "x.y"}, {"*.b.>", "a.b.c.d"},
		{"a.b", "a.b"}, {"a*.b", "a*.b"}, {"", "a"}, {"$KV.b.*", "$KV.b.k"}, {"a..b", "a. b"}, {"a.>.b", "a\x01"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, subj string) {
		if got, want := ValidFilter(filter), filter == "" || naiveValid(filter, true); got != want {
			t.Fatalf("ValidFilter(%q) = %v, want %v", filter, got, want)
		}
		if got, want := ValidLiteral(subj), naiveValid(subj, false); got != want {
			t.Fatalf("ValidLiteral(%q) = %v, want %v", subj, got, want)
		}
		if !ValidFilter(filter) || !ValidLiteral(subj) {
			return
		}
		toks := strings.Split(filter, ".")
		wild := filter == ""
		for _, tok := range toks {
			wild = wild || tok == "*" || tok == ">"
		}
		if IsLiteral(filter) == wild {
			t.Fatalf("IsLiteral(%q) = %v", filter, !wild)
		}
		want := filter == "" || refMatch(toks, strings.Split(subj, "."))
		if got := Matcher(filter)(subj); got != want {
			t.Fatalf("Matcher(%q)(%q) = %v, want %v", filter, subj, got, want)
		}
		if filter != "" && Match(filter, subj) != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", filter, subj, !want, want)
		}
	})
}

// naiveValid is ADR-6 read literally: non-empty tokens, no white space
// or control characters, wildcards only as whole tokens (when allowed),
// '>' only last.
func naiveValid(s string, wildcards bool) bool {
	if s == "" {
		return false
	}
	toks := strings.Split(s, ".")
	for i, tok := range toks {
		if tok == "" || strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return false
		}
		if (tok == "*" || tok == ">") && !wildcards {
			return false
		}
		if tok == ">" && i != len(toks)-1 {
			return false
		}
	}
	return true
}

func TestMatcherAny(t *testing.T) {
	sets := [][]string{
		nil,
		{"a.b"},
		{"a.*"},
		{"a.b", "c.>"},
		{"a.*.c", "a.b.*", "x", "*.y.>", "q.r"},
		{"a.>", "b.*.*", "*.*.*.*", "c"},
		{">"},
		{"a.b", ">"},
		{"", "a"},
	}
	subjects := []string{"a", "a.b", "a.c", "a.b.c", "a.x.c", "a.b.d", "b.c.d", "x", "x.y", "z.y", "z.y.w", "q.r", "q.r.s", "c", "c.d", "c.d.e", "a.b.c.d", "w.x.y.z", "foo"}
	for _, filters := range sets {
		m := MatcherAny(filters)
		for _, s := range subjects {
			want := len(filters) == 0
			for _, f := range filters {
				if MatchesAll(f) || Match(f, s) {
					want = true
				}
			}
			if got := m(s); got != want {
				t.Errorf("MatcherAny(%q)(%q) = %v, want %v", filters, s, got, want)
			}
		}
	}
}

// TestMatcherAnyRandom compares MatcherAny with testing each filter, on
// random filters and subjects over a small alphabet.
func TestMatcherAnyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	tok := func(wild bool) string {
		if wild {
			switch rng.IntN(6) {
			case 0:
				return "*"
			case 1:
				return ">"
			}
		}
		return string(rune('a' + rng.IntN(3)))
	}
	gen := func(wild bool) string {
		n := 1 + rng.IntN(4)
		var b strings.Builder
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte('.')
			}
			t := tok(wild)
			b.WriteString(t)
			if t == ">" {
				break
			}
		}
		return b.String()
	}
	for round := 0; round < 300; round++ {
		var filters []string
		for n := rng.IntN(12); len(filters) < n; {
			if f := gen(true); f != ">" {
				filters = append(filters, f)
			}
		}
		m := MatcherAny(filters)
		for i := 0; i < 50; i++ {
			s := gen(false)
			want := len(filters) == 0
			for _, f := range filters {
				want = want || Match(f, s)
			}
			if got := m(s); got != want {
				t.Fatalf("MatcherAny(%q)(%q) = %v, want %v", filters, s, got, want)
			}
		}
	}
}
