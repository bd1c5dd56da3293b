package repl

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func entry(term, index uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Term: &term, Index: &index, Type: raftpb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: &term, Vote: &vote, Commit: &commit}
}

func TestLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, other := db.Log(0), db.Log(7)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Save(hardState(1, 1, 0), []*raftpb.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")}, nil, true))
	// A new leader's entries replace the tail from their first index.
	must(l.Save(hardState(2, 2, 2), []*raftpb.Entry{entry(2, 3, "C")}, nil, true))
	must(other.Save(hardState(9, 9, 9), []*raftpb.Entry{entry(9, 1, "x")}, nil, true))
	idx, term := uint64(2), uint64(1)
	snap := &raftpb.Snapshot{Data: []byte("state"), Metadata: &raftpb.SnapshotMetadata{Index: &idx, Term: &term, ConfState: &raftpb.ConfState{Voters: []uint64{1}}}}
	must(l.Compact(snap))
	must(l.SetMeta("cluster", []byte{1, 2}))
	must(db.Close())

	db, err = OpenDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.Log(0).Load()
	if err != nil {
		t.Fatal(err)
	}
	if st.HardState.GetTerm() != 2 || st.HardState.GetCommit() != 2 {
		t.Errorf("hard state %v", st.HardState)
	}
	if string(st.Snapshot.GetData()) != "state" || st.Snapshot.GetMetadata().GetIndex() != 2 {
		t.Errorf("snapshot %v", st.Snapshot)
	}
	if len(st.Entries) != 1 || st.Entries[0].GetIndex() != 3 || string(st.Entries[0].GetData()) != "C" {
		t.Errorf("entries %v", st.Entries)
	}
	if v, ok, err := db.Log(0).Meta("cluster"); err != nil || !ok || string(v) != "\x01\x02" {
		t.Errorf("meta %q %v %v", v, ok, err)
	}
	if st, _ := db.Log(7).Load(); len(st.Entries) != 1 || st.HardState.GetTerm() != 9 {
		t.Errorf("group 7: %v", st)
	}
	if st, _ := db.Log(8).Load(); !st.Empty() {
		t.Errorf("group 8 not empty: %v", st)
	}
}

// Records that do not decode, or a gap in the entries, are ErrCorrupt.
func TestLogCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
		val  []byte
	}{
		{"hard state", (&Log{group: 0}).key('h', 0), []byte{0xff, 0xff, 0xff}},
		{"snapshot", (&Log{group: 0}).key('s', 0), []byte{0x0a, 0x50}},
		{"entry", (&Log{group: 0}).entryKey(2), []byte{0xff}},
		{"gap", (&Log{group: 0}).entryKey(5), mustMarshal(t, entry(1, 5, "x"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := OpenDB(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Log(0).Save(hardState(1, 1, 1), []*raftpb.Entry{entry(1, 1, "a")}, nil, true); err != nil {
				t.Fatal(err)
			}
			if err := db.db.Set(tc.key, tc.val, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			_, err = db.Log(0).Load()
			db.Close()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestFrameRoundTrip(t *testing.T) {
	b := AppendFrame(nil, Frame{Kind: KindHello, Cluster: 0xdeadbeef, Group: 300, Payload: []byte("hi")})
	f, err := ParseFrame(b)
	if err != nil || f.Kind != KindHello || f.Cluster != 0xdeadbeef || f.Group != 300 || string(f.Payload) != "hi" {
		t.Fatalf("%+v %v", f, err)
	}
	for _, bad := range [][]byte{nil, b[:5], append([]byte{2}, b[1:]...), append(b[:10:10], 0x80)} {
		if _, err := ParseFrame(bad); !errors.Is(err, ErrFrame) {
			t.Errorf("ParseFrame(%x): %v", bad, err)
		}
	}
}

func mustMarshal(t *testing.T, e *raftpb.Entry) []byte {
	t.Helper()
	b, err := proto.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A snapshot received from the leader replaces every entry, those after
// its index included (raft discards the whole log for it).
func TestLogSnapshotReplacesLog(t *testing.T) {
	db, err := OpenDB(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := db.Log(0)
	if err := l.Save(hardState(1, 1, 1), []*raftpb.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")}, nil, true); err != nil {
		t.Fatal(err)
	}
	idx, term := uint64(2), uint64(3)
	snap := &raftpb.Snapshot{Data: []byte("s"), Metadata: &raftpb.SnapshotMetadata{Index: &idx, Term: &term, ConfState: &raftpb.ConfState{}}}
	if err := l.Save(hardState(3, 0, 2), nil, snap, true); err != nil {
		t.Fatal(err)
	}
	st, err := l.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entries) != 0 || st.Snapshot.GetMetadata().GetIndex() != 2 {
		t.Fatalf("after a received snapshot: %v", st)
	}
}
