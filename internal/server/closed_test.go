package server

import (
	"strings"
	"testing"
)

func closedEntry(cid uint64, subs int, subjectLen int) ClosedConnInfo {
	ci := ClosedConnInfo{ConnInfo: ConnInfo{CID: cid, Name: "c"}, Reason: "Client Closed"}
	for i := 0; i < subs; i++ {
		ci.Subs = append(ci.Subs, SubInfo{Subject: strings.Repeat("s", subjectLen), SID: "1"})
	}
	return ci
}

// TestClosedRingKeepsTheLatest: past MaxClosedConns the oldest go, and
// the list is oldest first.
func TestClosedRingKeepsTheLatest(t *testing.T) {
	var r closedRing
	for cid := uint64(1); cid <= MaxClosedConns+5; cid++ {
		r.add(closedEntry(cid, 1, 10))
	}
	all := r.all()
	if len(all) != MaxClosedConns || all[0].CID != 6 || all[len(all)-1].CID != MaxClosedConns+5 {
		t.Fatalf("%d kept, from cid %d to %d", len(all), all[0].CID, all[len(all)-1].CID)
	}
	for i := 1; i < len(all); i++ {
		if all[i].CID != all[i-1].CID+1 {
			t.Fatalf("not oldest first at %d: %d after %d", i, all[i].CID, all[i-1].CID)
		}
	}
}

// TestClosedRingBoundsBytes: connections that held many long subjects
// cannot make the ring hold more than maxClosedBytes: the oldest give up
// their subscriptions first, the newest keeps its own.
func TestClosedRingBoundsBytes(t *testing.T) {
	var r closedRing
	const subs, subjectLen = maxClosedSubs, 4096 // 4 MiB of subjects each
	for cid := uint64(1); cid <= 50; cid++ {
		r.add(closedEntry(cid, subs, subjectLen))
		if r.bytes > maxClosedBytes {
			t.Fatalf("after %d: %d bytes held", cid, r.bytes)
		}
	}
	all := r.all()
	if len(all) != 50 {
		t.Fatalf("%d connections kept, want all 50 (without their subscriptions)", len(all))
	}
	if last := all[len(all)-1]; len(last.Subs) != subs {
		t.Fatalf("the newest kept %d subscriptions, want %d", len(last.Subs), subs)
	}
	if len(all[0].Subs) != 0 {
		t.Fatalf("the oldest kept %d subscriptions", len(all[0].Subs))
	}
	held := 0
	for i := range all {
		held += all[i].fixedSize() + all[i].subsSize()
	}
	if held != r.bytes {
		t.Fatalf("counted %d bytes, held %d", r.bytes, held)
	}
}

// TestClosedRingDropsWhenNamesAlone: when even the connections' own
// strings pass the bound, the oldest connections go.
func TestClosedRingDropsWhenNamesAlone(t *testing.T) {
	var r closedRing
	for cid := uint64(1); cid <= 20; cid++ {
		ci := closedEntry(cid, 0, 0)
		ci.Name = strings.Repeat("n", 1<<20)
		r.add(ci)
	}
	all := r.all()
	if r.bytes > maxClosedBytes || len(all) >= 20 || all[len(all)-1].CID != 20 {
		t.Fatalf("%d kept (last %d), %d bytes", len(all), all[len(all)-1].CID, r.bytes)
	}
	r.add(closedEntry(21, 1, 1))
	if all := r.all(); all[len(all)-1].CID != 21 {
		t.Fatalf("after a drop, the newest is %d", all[len(all)-1].CID)
	}
}
