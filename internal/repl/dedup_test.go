package repl

import (
	"errors"
	"testing"
)

func TestDedup(t *testing.T) {
	d := newDedup()
	if !d.apply(1, 5, 10) || d.apply(1, 5, 11) {
		t.Fatal("a second application of (1, 5) was not refused")
	}
	if !d.apply(1, 3, 12) || !d.apply(2, 5, 13) {
		t.Fatal("another sequence or proposer was refused")
	}
	// The window slides: old sequences fall below the floor.
	for seq := uint64(100); seq < 100+dedupWindow; seq++ {
		d.apply(1, seq, 20+seq)
	}
	if d.apply(1, 4, 1000) || d.apply(1, 5, 1001) {
		t.Fatal("a sequence at or below the floor was applied")
	}
	if d.apply(1, 100+dedupWindow-1, 1002) {
		t.Fatal("a sequence in the window was applied twice")
	}
	// Round trip through a snapshot.
	data, err := d.wrap([]byte("fsm"))
	if err != nil {
		t.Fatal(err)
	}
	d2, fsmData, err := unwrapSnapshot(data)
	if err != nil || string(fsmData) != "fsm" {
		t.Fatalf("%q %v", fsmData, err)
	}
	if d2.apply(2, 5, 2000) || d2.apply(1, 100, 2001) || !d2.apply(1, 1000, 2002) {
		t.Fatal("the restored table decides differently")
	}
	// Proposers are bounded: the one applied longest ago goes first.
	for p := uint64(10); p < 10+dedupProposers; p++ {
		d2.apply(p, 1, 3000+p)
	}
	if len(d2.Proposers) != dedupProposers {
		t.Fatalf("%d proposers kept", len(d2.Proposers))
	}
	if _, ok := d2.Proposers[2]; ok {
		t.Fatal("the oldest proposer was kept")
	}
	if _, _, err := unwrapSnapshot([]byte{0x7f, '{'}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged snapshot: %v", err)
	}
}
