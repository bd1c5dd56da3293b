package repl

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

func app(to, term, index, logTerm, commit uint64, data ...string) *raftpb.Message {
	m := &raftpb.Message{To: new(to), Type: raftpb.MsgApp.Enum(), Term: new(term),
		Index: new(index), LogTerm: new(logTerm), Commit: new(commit)}
	for i, d := range data {
		m.Entries = append(m.Entries, &raftpb.Entry{Index: new(index + 1 + uint64(i)), Term: new(term), Data: []byte(d)})
	}
	return m
}

func appResp(to, term, index uint64, reject bool) *raftpb.Message {
	return &raftpb.Message{To: new(to), Type: raftpb.MsgAppResp.Enum(), Term: new(term), Index: new(index), Reject: new(reject)}
}

func entryData(m *raftpb.Message) string {
	s := ""
	for _, e := range m.GetEntries() {
		s += string(e.GetData())
	}
	return s
}

// TestCoalesceAppends: a leader's MsgApps to one follower that continue
// one another (the commit-only empty ones included) go out as one, per
// follower, with every entry in order and the latest commit index; the
// entries Raft handed over are not written to.
func TestCoalesceAppends(t *testing.T) {
	a1 := app(2, 5, 10, 5, 9, "a")
	raftOwned := make([]*raftpb.Entry, 1, 4) // room to grow: an append in place would write here
	copy(raftOwned, a1.Entries)
	a1.Entries = raftOwned
	msgs := []*raftpb.Message{
		a1,
		app(3, 5, 10, 5, 9, "a"),
		app(2, 5, 11, 5, 10), // commit-only
		app(2, 5, 11, 5, 10, "b", "c"),
		app(3, 5, 11, 5, 10, "b", "c"),
		app(2, 5, 13, 5, 12, "d"),
	}
	out := coalesce(msgs, maxMsgBytes)
	if len(out) != 2 {
		t.Fatalf("%d messages, want one per follower", len(out))
	}
	for _, m := range out {
		want, commit := "abcd", uint64(12)
		if m.GetTo() == 3 {
			want, commit = "abc", 10
		}
		if got := entryData(m); got != want || m.GetIndex() != 10 || m.GetCommit() != commit {
			t.Errorf("to %d: entries %q index %d commit %d, want %q index 10 commit %d",
				m.GetTo(), got, m.GetIndex(), m.GetCommit(), want, commit)
		}
		for i, e := range m.GetEntries() {
			if e.GetIndex() != 11+uint64(i) {
				t.Errorf("to %d: entry %d has index %d", m.GetTo(), i, e.GetIndex())
			}
		}
	}
	if got := raftOwned[:cap(raftOwned)]; got[1] != nil || got[2] != nil {
		t.Error("coalesce appended into the entries slice Raft handed over")
	}
}

// TestCoalesceKeepsWhatMatters: nothing is merged across a message of
// another kind, across a gap or a term, past the size bound; rejections
// are all sent; of accepting responses the last covers the others.
func TestCoalesceKeepsWhatMatters(t *testing.T) {
	hb := &raftpb.Message{To: new(uint64(2)), Type: raftpb.MsgHeartbeat.Enum(), Term: new(uint64(5))}
	cases := []struct {
		name string
		msgs []*raftpb.Message
		max  int
		want int
	}{
		{"heartbeat between", []*raftpb.Message{app(2, 5, 10, 5, 9, "a"), hb, app(2, 5, 11, 5, 9, "b")}, maxMsgBytes, 3},
		{"gap", []*raftpb.Message{app(2, 5, 10, 5, 9, "a"), app(2, 5, 12, 5, 9, "b")}, maxMsgBytes, 2},
		{"other term", []*raftpb.Message{app(2, 5, 10, 5, 9, "a"), app(2, 6, 11, 5, 9, "b")}, maxMsgBytes, 2},
		{"log term differs", []*raftpb.Message{app(2, 5, 10, 5, 9, "a"), app(2, 5, 11, 4, 9, "b")}, maxMsgBytes, 2},
		{"size bound", []*raftpb.Message{app(2, 5, 10, 5, 9, "aaaa"), app(2, 5, 11, 5, 9, "bbbb")}, 6, 2},
		{"commit-only past size bound", []*raftpb.Message{app(2, 5, 10, 5, 9, "aaaa"), app(2, 5, 11, 5, 10)}, 2, 1},
		{"rejections", []*raftpb.Message{appResp(1, 5, 10, true), appResp(1, 5, 9, true)}, maxMsgBytes, 2},
		{"accept then reject", []*raftpb.Message{appResp(1, 5, 10, false), appResp(1, 5, 9, true)}, maxMsgBytes, 2},
		{"accepts", []*raftpb.Message{appResp(1, 5, 10, false), appResp(1, 5, 12, false), appResp(1, 5, 13, false)}, maxMsgBytes, 1},
		{"accepts across terms", []*raftpb.Message{appResp(1, 5, 10, false), appResp(1, 6, 12, false)}, maxMsgBytes, 2},
	}
	for _, c := range cases {
		out := coalesce(c.msgs, c.max)
		if len(out) != c.want {
			t.Errorf("%s: %d messages, want %d", c.name, len(out), c.want)
		}
	}
	out := coalesce([]*raftpb.Message{appResp(1, 5, 10, false), appResp(1, 5, 12, false)}, maxMsgBytes)
	if len(out) != 1 || out[0].GetIndex() != 12 {
		t.Errorf("accepting responses: kept %d messages, the first of index %d; want the last (12) alone", len(out), out[0].GetIndex())
	}
}
