package replica

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/repl"
	"github.com/cairn-db/cairn/internal/store"
)

// net connects in-process Hosts by server name.
type net struct {
	mu    sync.Mutex
	hosts map[string]*repl.Host
	cut   map[string]bool
}

type transport struct {
	n    *net
	from string
}

func (t transport) Send(to string, frame []byte) bool {
	t.n.mu.Lock()
	h, blocked := t.n.hosts[to], t.n.cut[t.from] || t.n.cut[to]
	t.n.mu.Unlock()
	if h == nil || blocked {
		return false
	}
	h.Receive(t.from, append([]byte(nil), frame...))
	return true
}

// group is one replicated stream on three in-process replicas.
type group struct {
	n       *net
	streams []*Stream
	stores  []*store.Store
	opts    func(*Options) // adjusts each replica's options (nil: none)
}

func newGroup(t *testing.T, cfg store.Config) *group {
	t.Helper()
	return newGroupEvery(t, cfg, 0)
}

func newGroupEvery(t *testing.T, cfg store.Config, snapshotEvery uint64) *group {
	t.Helper()
	return newGroupWith(t, cfg, func(o *Options) { o.SnapshotEvery = snapshotEvery })
}

// newGroupWith starts a group of three replicas whose options are
// adjusted by opts.
func newGroupWith(t *testing.T, cfg store.Config, opts func(*Options)) *group {
	t.Helper()
	g := &group{n: &net{hosts: map[string]*repl.Host{}, cut: map[string]bool{}}, opts: opts}
	snapshotEvery := uint64(0)
	peers := map[uint64]string{1: "r1", 2: "r2", 3: "r3"}
	for i := uint64(1); i <= 3; i++ {
		g.streams = append(g.streams, g.startReplica(t, i, peers, cfg, []uint64{1, 2, 3}, snapshotEvery))
	}
	return g
}

// startReplica starts replica id of the group's stream on a new host
// with a store of its own; boot nil: a member added later (it starts
// empty).
func (g *group) startReplica(t *testing.T, id uint64, peers map[uint64]string, cfg store.Config, boot []uint64, snapshotEvery uint64) *Stream {
	t.Helper()
	name := peers[id]
	db, err := repl.OpenDB("")
	if err != nil {
		t.Fatal(err)
	}
	h, err := repl.NewHost(repl.HostConfig{DB: db, Transport: transport{n: g.n, from: name}, Tick: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g.n.mu.Lock()
	g.n.hosts[name] = h
	g.n.mu.Unlock()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Driven = true
	ss, err := st.CreateStream(cfg, []byte("meta"))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Host: h, Group: 7, Self: id, Peers: peers, Bootstrap: boot, Stream: ss, Store: st,
		Timeout: 2 * time.Second, SnapshotEvery: snapshotEvery, Logf: t.Logf}
	if g.opts != nil {
		g.opts(&o)
	}
	rs, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	g.stores = append(g.stores, st)
	t.Cleanup(func() {
		rs.Stop()
		_ = h.Close()
		_ = st.Close()
	})
	return rs
}

// leader waits for a leader and returns its stream.
func (g *group) leader(t *testing.T) *Stream {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range g.streams {
			if s.IsLeader() {
				return s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no leader elected")
	return nil
}

// converge waits until every replica's state equals the leader's.
func (g *group) converge(t *testing.T, want store.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		same := true
		for _, s := range g.streams {
			if s.State() != want {
				same = false
			}
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			for i, s := range g.streams {
				t.Errorf("replica %d: %+v", i+1, s.State())
			}
			t.Fatalf("replicas did not converge to %+v", want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReplicasApplySameEntries(t *testing.T) {
	g := newGroup(t, store.Config{Name: "KV_b", Subjects: []string{"$KV.b.>"}, MaxMsgsPerSubject: 2, DuplicateWindow: time.Minute})
	l := g.leader(t)
	for i := range 20 {
		if _, err := l.Append(fmt.Sprintf("$KV.b.k%d", i%3), nil, []byte("v"), store.AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	// An expectation is decided at apply time, by the revision alone.
	last, err := l.GetLast("$KV.b.k0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append("$KV.b.k0", nil, []byte("x"), store.AppendOpts{ExpectedLastSubjSeq: last.Seq, HasExpectedLastSubjSeq: true}); err != nil {
		t.Fatalf("update with the right revision: %v", err)
	}
	_, err = l.Append("$KV.b.k0", nil, []byte("y"), store.AppendOpts{ExpectedLastSubjSeq: last.Seq, HasExpectedLastSubjSeq: true})
	var wrong *store.WrongSequenceError
	if !errors.As(err, &wrong) {
		t.Fatalf("update with a stale revision: %v, want a wrong sequence", err)
	}
	// A message id is de-duplicated on every replica alike.
	r1, err := l.Append("$KV.b.k1", nil, []byte("d"), store.AppendOpts{MsgID: "id1"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Append("$KV.b.k1", nil, []byte("d"), store.AppendOpts{MsgID: "id1"})
	if err != nil || !r2.Duplicate || r2.Seq != r1.Seq {
		t.Fatalf("duplicate: %+v %v", r2, err)
	}
	if err := l.Delete(r1.Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Purge(store.PurgeOpts{Subject: "$KV.b.k2"}); err != nil {
		t.Fatal(err)
	}
	g.converge(t, l.State())
	// Same messages, same timestamps: the leader's.
	st := l.State()
	for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
		want, werr := l.Get(seq)
		for i, s := range g.streams {
			got, gerr := s.Get(seq)
			if (werr == nil) != (gerr == nil) || (werr == nil && (got.Time != want.Time || got.Subject != want.Subject || string(got.Data) != string(want.Data))) {
				t.Fatalf("replica %d seq %d: %+v %v, leader %+v %v", i+1, seq, got, gerr, want, werr)
			}
		}
	}
}

func TestLeaderExpiresForEveryone(t *testing.T) {
	g := newGroup(t, store.Config{Name: "KV_t", Subjects: []string{"$KV.t.>"}, AllowMsgTTL: true})
	l := g.leader(t)
	if _, err := l.Append("$KV.t.a", nil, []byte("v"), store.AppendOpts{TTL: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append("$KV.t.b", nil, []byte("v"), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		done := true
		for _, s := range g.streams {
			if s.State().Msgs != 1 {
				done = false
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the TTL message did not expire everywhere: %+v %+v %+v", g.streams[0].State(), g.streams[1].State(), g.streams[2].State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.converge(t, l.State())
}

func TestMinorityCannotWrite(t *testing.T) {
	g := newGroup(t, store.Config{Name: "S", Subjects: []string{"s.>"}})
	l := g.leader(t)
	if _, err := l.Append("s.a", nil, []byte("1"), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
	name := l.opts.Peers[l.opts.Self]
	g.n.mu.Lock()
	g.n.cut[name] = true
	g.n.mu.Unlock()
	_, err := l.Append("s.a", nil, []byte("2"), store.AppendOpts{})
	if !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("append on a cut-off leader: %v, want ErrNoQuorum", err)
	}
	if err := l.Barrier(t.Context()); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("barrier on a cut-off leader: %v, want ErrNoQuorum", err)
	}
	// The majority elects another leader and goes on.
	var nl *Stream
	deadline := time.Now().Add(5 * time.Second)
	for nl == nil && time.Now().Before(deadline) {
		for _, s := range g.streams {
			if s != l && s.IsLeader() {
				nl = s
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if nl == nil {
		t.Fatal("the majority elected no leader")
	}
	if _, err := nl.Append("s.a", nil, []byte("3"), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
}

// TestFollowerBehindSnapshotCatchesUp: a replica cut off while the
// others compact their log past what it has receives a snapshot and
// fetches the stream from a peer, then follows the log again.
func TestFollowerBehindSnapshotCatchesUp(t *testing.T) {
	g := newGroupEvery(t, store.Config{Name: "KV_c", Subjects: []string{"$KV.c.>"}, MaxMsgsPerSubject: 3, DuplicateWindow: time.Minute}, 16)
	l := g.leader(t)
	var lagging *Stream
	for _, s := range g.streams {
		if s != l {
			lagging = s
			break
		}
	}
	name := lagging.opts.Peers[lagging.opts.Self]
	g.n.mu.Lock()
	g.n.cut[name] = true
	g.n.mu.Unlock()
	for i := range 300 {
		o := store.AppendOpts{}
		if i%7 == 0 {
			o.MsgID = fmt.Sprintf("id%d", i)
		}
		if _, err := l.Append(fmt.Sprintf("$KV.c.k%d", i%40), nil, []byte(fmt.Sprintf("v%d", i)), o); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Delete(l.State().LastSeq - 1); err != nil {
		t.Fatal(err)
	}
	g.n.mu.Lock()
	g.n.cut[name] = false
	g.n.mu.Unlock()
	g.converge(t, l.State())
	if a, b := lagging.Applied(), l.Applied(); a == 0 || b == 0 {
		t.Fatalf("applied: lagging %d, leader %d", a, b)
	}
	// It follows the log after the catch-up.
	if _, err := l.Append("$KV.c.after", nil, []byte("x"), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
	g.converge(t, l.State())
	m, err := lagging.GetLast("$KV.c.k5")
	want, werr := l.GetLast("$KV.c.k5")
	if err != nil || werr != nil || m.Seq != want.Seq || m.Time != want.Time || string(m.Data) != string(want.Data) {
		t.Fatalf("lagging replica's k5: %+v %v, leader's %+v %v", m, err, want, werr)
	}
	// The duplicate window came along: a repeated id is a duplicate
	// on every replica.
	r, err := l.Append("$KV.c.k0", nil, []byte("dup"), store.AppendOpts{MsgID: "id294"})
	if err != nil || !r.Duplicate {
		t.Fatalf("repeated id after catch-up: %+v %v", r, err)
	}
}

// TestMembersFollowPeers: a member added to the peers is added to the
// group by the leader and catches up; a member taken out is removed
// and the group goes on without it.
func TestMembersFollowPeers(t *testing.T) {
	cfg := store.Config{Name: "KV_m", Subjects: []string{"$KV.m.>"}}
	g := newGroupEvery(t, cfg, 16)
	l := g.leader(t)
	for i := range 50 {
		if _, err := l.Append(fmt.Sprintf("$KV.m.k%d", i), nil, []byte("v"), store.AppendOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	peers := map[uint64]string{1: "r1", 2: "r2", 3: "r3", 4: "r4"}
	r4 := g.startReplica(t, 4, peers, cfg, nil, 16)
	for _, s := range g.streams {
		if err := s.SetPeers(peers); err != nil {
			t.Fatal(err)
		}
	}
	g.streams = append(g.streams, r4)
	g.converge(t, l.State())
	// Remove a follower: the group keeps a quorum of the three left.
	var gone *Stream
	for _, s := range g.streams[:3] {
		if s != l {
			gone = s
			break
		}
	}
	delete(peers, gone.opts.Self)
	for _, s := range g.streams {
		if err := s.SetPeers(peers); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for slices.Contains(l.nd().Status().Voters, gone.opts.Self) {
		if time.Now().After(deadline) {
			t.Fatalf("member %d not removed: voters %v", gone.opts.Self, l.nd().Status().Voters)
		}
		time.Sleep(10 * time.Millisecond)
	}
	gone.Stop()
	if _, err := l.Append("$KV.m.after", nil, []byte("x"), store.AppendOpts{}); err != nil {
		t.Fatal(err)
	}
	if got := len(l.Info().Replicas); got != 2 {
		t.Fatalf("replicas after removal: %+v", l.Info())
	}
}

// TestAtomicBatchReplicated: a batch is one entry, applied whole on
// every replica with consecutive sequences; a refusal carried by a
// message crosses the log as a Refusal.
func TestAtomicBatchReplicated(t *testing.T) {
	g := newGroup(t, store.Config{Name: "KV_x", Subjects: []string{"$KV.x.>"}})
	l := g.leader(t)
	res, err := l.AppendBatch([]store.BatchMsg{
		{Subject: "$KV.x.a", Data: []byte("1"), HasExpectedLastSubjSeq: true},
		{Subject: "$KV.x.b", Data: []byte("2")},
		{Subject: "$KV.x.c", Data: []byte("3")},
	})
	if err != nil || res.First != 1 || res.Last != 3 {
		t.Fatalf("batch: %+v %v", res, err)
	}
	g.converge(t, l.State())
	_, err = l.AppendBatch([]store.BatchMsg{
		{Subject: "$KV.x.d", Data: []byte("4")},
		{Subject: "$KV.x.e", Data: []byte("5"), Refuse: &Refusal{Code: 400, ErrCode: 10199, Description: "no"}},
	})
	var r *Refusal
	if !errors.As(err, &r) || r.ErrCode != 10199 {
		t.Fatalf("refused batch: %v, want the refusal", err)
	}
	_, err = l.AppendBatch([]store.BatchMsg{{Subject: "$KV.x.f", Refuse: errors.New("plain")}})
	if !errors.Is(err, errRefusalForm) {
		t.Fatalf("a refusal without a wire form: %v", err)
	}
	g.converge(t, l.State())
	if st := l.State(); st.LastSeq != 3 || st.Msgs != 3 {
		t.Fatalf("state after refusals: %+v", st)
	}
}

// TestCatchUpSessionsBounded: a peer opening fetch after fetch never
// holds more than maxSessions point-in-time reads of a replica.
func TestCatchUpSessionsBounded(t *testing.T) {
	g := newGroup(t, store.Config{Name: "KV_s", Subjects: []string{"$KV.s.>"}})
	l := g.leader(t)
	for id := uint64(1); id <= 3*maxSessions; id++ {
		l.serve(request{from: "r9", data: encodeRequest(reqOpen, id, 0)})
	}
	l.catch.mu.Lock()
	n := len(l.catch.sessions)
	l.catch.mu.Unlock()
	if n != maxSessions {
		t.Fatalf("%d sessions open, want %d", n, maxSessions)
	}
}

// TestAppendAsyncBusyWhenBacklogged: a leader that cannot commit takes
// at most Options.MaxInFlight asynchronous appends; the next is refused
// at once with ErrBusy, which is not ErrNoQuorum (it was not proposed,
// so it can be answered).
func TestAppendAsyncBusyWhenBacklogged(t *testing.T) {
	g := newGroupWith(t, store.Config{Name: "S", Subjects: []string{"s.>"}}, func(o *Options) { o.MaxInFlight = 16 })
	l := g.leader(t)
	name := l.opts.Peers[l.opts.Self]
	g.n.mu.Lock()
	g.n.cut[name] = true
	g.n.mu.Unlock()
	var pending atomic.Int64
	for i := range 16 {
		var answered atomic.Bool
		l.AppendAsync("s.a", nil, []byte("x"), store.AppendOpts{}, func(_ store.AppendResult, err error) {
			answered.Store(true)
			if errors.Is(err, ErrBusy) {
				t.Errorf("append %d refused as busy below the bound", i)
			}
		})
		if !answered.Load() {
			pending.Add(1)
		}
	}
	if pending.Load() != 16 {
		t.Fatalf("%d of 16 appends in flight on a cut-off leader", pending.Load())
	}
	var got error
	var answered bool
	l.AppendAsync("s.a", nil, []byte("x"), store.AppendOpts{}, func(_ store.AppendResult, err error) { got, answered = err, true })
	if !answered || !errors.Is(got, ErrBusy) || errors.Is(got, ErrNoQuorum) {
		t.Fatalf("append past the bound: answered %v, %v; want ErrBusy at once", answered, got)
	}
}

// TestExpiryPassKeepsLaterDeadlines: an expiry pass whose entry is
// applied before a TTL message's append must not, when its proposer
// returns after that append was applied, replace the message's deadline
// with the one it computed without it (the message then never expired:
// TestLeaderExpiresForEveryone failed so, once, in CI).
func TestExpiryPassKeepsLaterDeadlines(t *testing.T) {
	g := newGroup(t, store.Config{Name: "KV_t", Subjects: []string{"$KV.t.>"}, AllowMsgTTL: true})
	l := g.leader(t)
	for i := range 100 {
		key := fmt.Sprintf("$KV.t.k%d", i)
		passes := make(chan struct{})
		go func() {
			defer close(passes)
			l.expire()
		}()
		if _, err := l.Append(key, nil, []byte("v"), store.AppendOpts{TTL: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		<-passes
		deadline := time.Now().Add(3 * time.Second)
		for l.State().Msgs != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the TTL message never expired (deadline %v from now)",
					i, time.Until(time.Unix(0, l.deadline.Load())))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
