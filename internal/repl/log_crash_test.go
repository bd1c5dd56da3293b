package repl

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// TestLogSnapshotWrittenBeforeSaveReturns: a snapshot received from the
// leader is in the files when Save returns, even when Raft does not ask
// for a sync (a snapshot in the follower's term changes only its commit
// index, and raft.MustSync ignores snapshots): the follower acknowledges
// the snapshot's index right after, so a kill -9 then must not take it
// back. The copy of the directory made while the DB is open is what a
// process killed at that moment leaves.
func TestLogSnapshotWrittenBeforeSaveReturns(t *testing.T) {
	for range 5 {
		dir := t.TempDir()
		db, err := OpenDBWith(dir, DBOptions{NoFsync: true})
		if err != nil {
			t.Fatal(err)
		}
		l := db.Log(3)
		if err := l.Save(hardState(1, 1, 1), []*raftpb.Entry{entry(1, 1, "a")}, nil, true); err != nil {
			t.Fatal(err)
		}
		idx, term := uint64(50), uint64(1)
		snap := &raftpb.Snapshot{Data: []byte("s"), Metadata: &raftpb.SnapshotMetadata{
			Index: &idx, Term: &term, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
		if err := l.Save(hardState(1, 1, 50), nil, snap, false); err != nil {
			t.Fatal(err)
		}
		killed := t.TempDir()
		copyFiles(t, dir, killed)
		db2, err := OpenDBWith(killed, DBOptions{NoFsync: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := db2.Log(3).Load()
		db2.Close()
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Snapshot.GetMetadata().GetIndex(); got != 50 || len(st.Entries) != 0 {
			t.Fatalf("after a kill -9 right after Save: snapshot at %d, %d entries; want the snapshot at 50", got, len(st.Entries))
		}
	}
}

// copyFiles copies the regular files of from into to (not LOCK).
func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || e.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
