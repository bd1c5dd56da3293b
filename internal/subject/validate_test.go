package subject

import "testing"

func TestValid(t *testing.T) {
	cases := []struct {
		subj             string
		literal, pattern bool
	}{
		{"foo", true, true},
		{"foo.bar", true, true},
		{"$KV.my-kv.Key1", true, true},
		{"foo.*", false, true},
		{"foo.>", false, true},
		{">", false, true},
		{"*", false, true},
		{"foo.>.bar", false, false},
		{"foo*.bar", true, true},
		{"foo.b>r", true, true},
		{"", false, false},
		{".", false, false},
		{"foo.", false, false},
		{".foo", false, false},
		{"foo..bar", false, false},
		{"foo bar", false, false},
		{"foo\tbar", false, false},
		{"foo\r\n", false, false},
		{"foo\x00", false, false},
	}
	for _, c := range cases {
		if got := ValidLiteral(c.subj); got != c.literal {
			t.Errorf("ValidLiteral(%q) = %v, want %v", c.subj, got, c.literal)
		}
		if got := Valid(c.subj); got != c.pattern {
			t.Errorf("Valid(%q) = %v, want %v", c.subj, got, c.pattern)
		}
	}
}

func TestValidKeyAndBucket(t *testing.T) {
	keys := map[string]bool{
		"Key1": true, "a.b.c": true, "a/b=c_d-e": true, "a..b": false, ".a": false,
		"a.": false, "": false, "a b": false, "a*": false, "a.>": false, "ü": false,
	}
	for k, want := range keys {
		if got := ValidKey(k); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", k, got, want)
		}
	}
	filters := map[string]bool{
		"a.*": true, "a.>": true, ">": true, "*": true, "a.>.b": false, "a..b": false, "a b": false,
	}
	for k, want := range filters {
		if got := ValidKeyFilter(k); got != want {
			t.Errorf("ValidKeyFilter(%q) = %v, want %v", k, got, want)
		}
	}
	buckets := map[string]bool{
		"my-kv": true, "MY_kv_2": true, "": false, "a.b": false, "a b": false, "a*": false,
	}
	for b, want := range buckets {
		if got := ValidBucket(b); got != want {
			t.Errorf("ValidBucket(%q) = %v, want %v", b, got, want)
		}
	}
	streams := map[string]bool{
		"KV_my-kv": true, "a.b": false, "a*": false, "a>": false, "a/b": false, "a b": false, "": false,
	}
	for s, want := range streams {
		if got := ValidStreamName(s); got != want {
			t.Errorf("ValidStreamName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestMatchOverlapSubset(t *testing.T) {
	cases := []struct {
		pattern, subj string
		want          bool
	}{
		{"foo", "foo", true},
		{"foo", "bar", false},
		{"foo.*", "foo.bar", true},
		{"foo.*", "foo", false},
		{"foo.*", "foo.bar.baz", false},
		{"foo.>", "foo.bar.baz", true},
		{"foo.>", "foo", false},
		{">", "a", true},
		{"*.b", "a.b", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.subj); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.subj, got, c.want)
		}
	}
	if !Overlap("a.*", "*.b") || Overlap("a.*", "b.*") || !Overlap("a.>", "a.b.c") || Overlap("a.*", "a") {
		t.Error("Overlap gave a wrong answer")
	}
	if !SubsetOf("a.b", "a.*") || SubsetOf("a.*", "a.b") || !SubsetOf("a.b.>", "a.>") || SubsetOf("a.>", "a.*") {
		t.Error("SubsetOf gave a wrong answer")
	}
}
