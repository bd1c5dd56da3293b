package jsapi

import "testing"

func TestMapping(t *testing.T) {
	tests := []struct {
		src, dest, in, out string
		match              bool
	}{
		{"$KV.b.>", "repub.>", "$KV.b.k1", "repub.k1", true},
		{"$KV.b.>", "repub.>", "$KV.b.a.b", "repub.a.b", true},
		{">", "r.>", "x.y", "r.x.y", true},
		{"a.*.*", "b.*.*", "a.1.2", "b.1.2", true},
		{"a.*.*", "b.$2.$1", "a.1.2", "b.2.1", true},
		{"a.*.*", "b.{{wildcard(2)}}.{{ wildcard(1) }}", "a.1.2", "b.2.1", true},
		{"a.*", "fixed", "a.1", "fixed", true},
		{"a.*", "b.*", "c.1", "", false},
	}
	for _, tt := range tests {
		m, err := newMapping(tt.src, tt.dest)
		if err != nil {
			t.Fatalf("%s -> %s: %v", tt.src, tt.dest, err)
		}
		out, ok := m.apply(tt.in)
		if ok != tt.match || out != tt.out {
			t.Errorf("%s -> %s on %s: got %q %v", tt.src, tt.dest, tt.in, out, ok)
		}
	}
}

func TestMappingInvalid(t *testing.T) {
	for _, tt := range [][2]string{
		{"a.*", "b.*.*"},
		{"a.*", "b.>"},
		{"a.>", "b.>.c"},
		{"a.*", "b.$2"},
		{"a.*", "b.{{partition(3)}}"},
		{"a..b", "c"},
		{"a.*", ""},
	} {
		if _, err := newMapping(tt[0], tt[1]); err == nil {
			t.Errorf("%s -> %s accepted", tt[0], tt[1])
		}
	}
}
