package repl

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// TestSnapshotBoundedByBytes: large entries bring a snapshot long
// before SnapshotEvery entries, and the entries kept in memory after it
// hold at most SnapshotBytes of data (plus one entry): a group's memory
// is bounded by bytes, not only by a count of entries that may each be
// a 1 MiB payload.
func TestSnapshotBoundedByBytes(t *testing.T) {
	db, err := OpenDB("")
	if err != nil {
		t.Fatal(err)
	}
	const limit, size = 64 << 10, 4 << 10
	n, err := StartNode(Config{
		ID: 1, Log: db.Log(1), FSM: &countFSM{}, Bootstrap: []raft.Peer{{ID: 1}},
		Tick: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		SnapshotEvery: 1 << 20, SnapshotBytes: limit,
		Send: func(*raftpb.Message) bool { return true },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	n.Campaign()
	payload := bytes.Repeat([]byte("x"), size)
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.Propose(ctx, payload)
		cancel()
		if err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
	}
	snap, err := n.storage.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() == 0 {
		t.Fatal("no snapshot after 800 KiB of entries with SnapshotBytes 64 KiB")
	}
	first, _ := n.storage.FirstIndex()
	last, _ := n.storage.LastIndex()
	ents, err := n.storage.Entries(first, last+1, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	var held int
	for _, e := range ents {
		held += len(e.GetData())
	}
	// Entries applied after the last snapshot are held too: at most
	// another SnapshotBytes.
	if held > 2*limit+2*(size+16) {
		t.Fatalf("%d entries of %d bytes held in memory after snapshots, bound %d", len(ents), held, 2*limit+2*(size+16))
	}
}
