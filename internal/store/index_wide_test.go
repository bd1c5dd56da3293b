package store

import (
	"fmt"
	"testing"
)

// TestWideNodesRecordedAndForgotten: a node whose table reaches
// wideSlots is recorded with its prefix and size, and forgotten when its
// children are removed again.
func TestWideNodesRecordedAndForgotten(t *testing.T) {
	ix := newIndex()
	const keys = 5000
	for i := range keys {
		ix.add(fmt.Sprintf("$KV.b.k%05d", i), entry{seq: uint64(i + 1), size: 1})
	}
	hints := ix.wideHintsOf()
	if len(hints) != 1 || hints[0].prefix != "$KV.b." || hints[0].n != keys {
		t.Fatalf("wide hints %+v, want [{$KV.b. %d}]", hints, keys)
	}
	for seq := uint64(1); seq <= keys-2; seq++ {
		ix.removeAt(ix.pos(seq))
	}
	if len(ix.wide) != 0 || len(ix.wideHintsOf()) != 0 {
		t.Fatalf("%d wide nodes left with 2 keys", len(ix.wide))
	}
}

// TestWideHintSizesTableOnce: with a hint for its prefix, a node's table
// takes the hinted size when it first outgrows its small list, and only
// for that prefix.
func TestWideHintSizesTableOnce(t *testing.T) {
	ix := newIndex()
	ix.wideHints = map[string]int{"$KV.b.": 5000}
	for i := range smallChildren + 1 {
		ix.add(fmt.Sprintf("$KV.b.k%d", i), entry{seq: uint64(i + 1), size: 1})
		ix.add(fmt.Sprintf("$KV.c.k%d", i), entry{seq: uint64(100 + i), size: 1})
	}
	b := ix.lookup("$KV.b.k0")
	c := ix.lookup("$KV.c.k0")
	if b == nil || c == nil {
		t.Fatal("subjects not found")
	}
	kv := ix.root.children.any()
	var bNode, cNode *subjectState
	for _, n := range kv.children.all() {
		switch {
		case n == nil:
		case n.subject == "$KV.b":
			bNode = n
		case n.subject == "$KV.c":
			cNode = n
		}
	}
	if bNode == nil || cNode == nil {
		t.Fatalf("nodes of $KV.b and $KV.c not found under %q", kv.subject)
	}
	if got, want := len(bNode.children.nodes), tableFor(5000); got != want {
		t.Fatalf("hinted table has %d slots, want %d", got, want)
	}
	if got := len(cNode.children.nodes); got != 4*smallChildren {
		t.Fatalf("table without a hint has %d slots, want %d", got, 4*smallChildren)
	}
}

// TestWideHintsSurviveReopen: Close records the wide nodes of a file
// stream, the next Open reads them back (and drops them once loaded),
// and the reopened index answers as before.
func TestWideHintsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.CreateStream(Config{Name: "KV_b", Subjects: []string{"$KV.b.>"}, MaxMsgsPerSubject: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const keys = 6000
	for i := range keys {
		if _, err := s.Append(fmt.Sprintf("$KV.b.k%05d", i), nil, []byte("v"), AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, ok, err := st.getValue(hintKey(1))
	if err != nil || !ok {
		t.Fatalf("hint record: %v %v", ok, err)
	}
	hints := parseWideHints(v[16:], keys)
	if len(hints) != 1 || hints["$KV.b."] != keys {
		t.Fatalf("recorded wide hints %v, want map[$KV.b.:%d]", hints, keys)
	}
	rs, err := st.Stream("KV_b")
	if err != nil {
		t.Fatal(err)
	}
	ss := rs.(*stream)
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	if ss.ix.wideHints != nil {
		t.Fatal("hints kept after the open")
	}
	if ss.ix.nsubjects != keys || ss.ix.lookup("$KV.b.k01234") == nil {
		t.Fatalf("reopened index: %d subjects", ss.ix.nsubjects)
	}
}

// TestParseWideHintsRejectsBadInput: truncated or implausible hints are
// ignored whole.
func TestParseWideHintsRejectsBadInput(t *testing.T) {
	good := appendWideHints(nil, []wideHint{{"a.", 10}, {"b.c.", 20}})
	if h := parseWideHints(good, 100); len(h) != 2 || h["a."] != 10 || h["b.c."] != 20 {
		t.Fatalf("round trip: %v", h)
	}
	for name, b := range map[string][]byte{
		"truncated":   good[:len(good)-1],
		"long prefix": {5, 200, 'a'},
		"bad varint":  {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	} {
		if h := parseWideHints(b, 100); h != nil {
			t.Errorf("%s: parsed %v", name, h)
		}
	}
	if h := parseWideHints(good, 15); h != nil {
		t.Errorf("more children than subjects accepted: %v", h)
	}
}
