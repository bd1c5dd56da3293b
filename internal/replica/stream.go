package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/cairn-db/cairn/internal/repl"
	"github.com/cairn-db/cairn/internal/store"
)

// Errors of a replicated stream's writes.
var (
	// ErrNoQuorum: the write was not applied before the timeout (no
	// leader, no quorum); it may still be applied later.
	ErrNoQuorum = errors.New("replica: no quorum")
	// ErrNotLeader: the operation needs this replica to lead.
	ErrNotLeader = errors.New("replica: not the stream's leader")
	// ErrNoCatchUp: a replica behind a snapshot could not fetch the
	// stream from a peer.
	ErrNoCatchUp = errors.New("replica: cannot catch up")
	// ErrBusy: the write was refused, and not proposed, because the
	// leader already has as many writes of this stream in flight as it
	// takes (repl.ErrBacklog).
	ErrBusy = errors.New("replica: too many writes in flight")
)

// Options configure a replicated stream.
type Options struct {
	Host  *repl.Host
	Group uint64
	// Self is this replica's Raft id; Peers maps every member's id
	// (this one's included) to its server name: the members the group
	// should have (its leader adds and removes members to match, one
	// at a time; SetPeers changes them).
	Self  uint64
	Peers map[uint64]string
	// Bootstrap, when this member's log is empty, starts it with these
	// ids as the group's first configuration (every member of a new
	// group is given the same ids); nil starts it empty, waiting for
	// the leader to add it and send it the log or a snapshot.
	Bootstrap []uint64
	// Initial: the stream existed before its group (an R1 stream made
	// replicated; its store's Applied() must be 1): an empty log starts
	// from a snapshot at index 1 with Bootstrap as the voters, so that
	// members added later fetch the stream rather than replay entries
	// that never held it.
	Initial bool
	// Stream is the local store stream (Config.Driven), of Store,
	// which serves peers' catch-ups and imports this replica's.
	Stream store.Stream
	Store  *store.Store
	// Timeout bounds a proposal and a read barrier (default 4 s).
	Timeout time.Duration
	// SnapshotEvery: entries between two snapshots (default 16384).
	SnapshotEvery uint64
	// MaxInFlight bounds the writes proposed and not yet applied on the
	// leader (repl.Config.MaxAsyncProposals; default 8192): past it an
	// AppendAsync fails at once with ErrBusy.
	MaxInFlight int
	Logf        func(format string, args ...any)
}

// Stream is a replicated stream: a store.Stream whose mutations are
// proposed to the stream's Raft group and applied, on every replica, to
// the local driven stream, and whose reads are the local stream's.
// Append, Delete, Purge and UpdateConfig return once the entry was
// applied here (a quorum has it in its log); ErrNoQuorum when that does
// not happen within Options.Timeout. Its methods are safe for
// concurrent use.
type Stream struct {
	cur   atomic.Pointer[current] // the local store stream (catch-up replaces it)
	peers atomic.Pointer[map[uint64]string]
	opts  Options
	node  atomic.Pointer[repl.Node] // set once StartGroup returned

	ctx      context.Context // canceled by Stop: ends the goroutine's waits
	cancel   context.CancelFunc
	leading  atomic.Bool
	deadline atomic.Int64 // earliest expiry deadline known (Unix ns)
	kick     chan struct{}
	settled  chan struct{} // wakes settler
	lead     chan struct{} // leadership changed
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu struct {
		sync.Mutex
		onLeader []func(bool)
		subs     map[uint64]*subscriber // Subscribe's callbacks (reads.go)
		nextSub  uint64
	}
	catch   catchState // catchup.go
	handOff onceAtATime
}

// current holds the local store stream.
type current struct{ st store.Stream }

// nd returns the group's node; nil only while StartGroup runs (a
// snapshot restored at start, catchUp).
func (s *Stream) nd() *repl.Node { return s.node.Load() }

// raw returns the local store stream.
func (s *Stream) raw() store.Stream { return s.cur.Load().st }

// Start starts the stream's group on opts.Host and returns the stream.
func Start(opts Options) (*Stream, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 4 * time.Second
	}
	if opts.SnapshotEvery == 0 {
		opts.SnapshotEvery = 16384
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if !opts.Stream.Config().Driven {
		return nil, fmt.Errorf("replica: stream %s is not driven", opts.Stream.Name())
	}
	s := &Stream{opts: opts,
		kick: make(chan struct{}, 1), lead: make(chan struct{}, 1), settled: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.cur.Store(&current{st: opts.Stream})
	s.mu.subs = map[uint64]*subscriber{}
	s.catch.init()
	s.deadline.Store(math.MaxInt64)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	peers := maps.Clone(opts.Peers)
	s.peers.Store(&peers)
	var boot []raft.Peer
	for _, id := range opts.Bootstrap {
		boot = append(boot, raft.Peer{ID: id})
	}
	sort.Slice(boot, func(i, j int) bool { return boot[i].ID < boot[j].ID })
	gc := repl.GroupConfig{}
	if opts.Initial {
		gc.Initial = slices.Clone(opts.Bootstrap)
		data, err := json.Marshal(snapshotData{Applied: 1})
		if err != nil {
			return nil, err
		}
		gc.InitialData, boot = data, nil
	}
	n, err := opts.Host.StartGroup(repl.GroupConfig{
		Initial: gc.Initial, InitialData: gc.InitialData,
		ID: opts.Group, Self: opts.Self, Peers: peers, FSM: fsm{s},
		Bootstrap: boot, ElectionTicks: 20, HeartbeatTicks: 2,
		SnapshotEvery: opts.SnapshotEvery, MaxAsyncProposals: opts.MaxInFlight,
		// Writes are proposed by the leader only, never forwarded: a
		// publish reaches both an old leader still subscribed and its
		// successor, and each would store its copy.
		LeaderOnly:     true,
		OnApplied:      s.settleSoon,
		OnFrame:        s.onFrame,
		OnLostFollower: s.handOver,
		OnLeader: func(_ uint64, self bool) {
			s.leading.Store(self)
			select {
			case s.lead <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.node.Store(n)
	if opts.Initial && len(opts.Bootstrap) == 1 && opts.Bootstrap[0] == opts.Self {
		n.Campaign() // the only voter: elected at once
	}
	if len(boot) > 0 && opts.Stream.Applied() == 0 && n.Applied() == 0 && opts.Self == boot[0].ID {
		// A new group: its first peer stands at once (again every
		// 50 ms while the other peers start their groups), so that
		// the stream has a leader before its creation is answered.
		go s.standFirst()
	}
	go s.run()
	go s.serveCatchUps()
	go s.settler()
	return s, nil
}

func (s *Stream) logf(format string, args ...any) { s.opts.Logf(format, args...) }

// Stop stops the group (its log stays) and the stream's goroutine; it
// does not close the store stream. Idempotent.
func (s *Stream) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.cancel()
		<-s.done
		if err := s.opts.Host.StopGroup(s.opts.Group); err != nil && !errors.Is(err, repl.ErrNoGroup) {
			s.logf("replica: stream %s: stopping group %d: %v", s.raw().Name(), s.opts.Group, err)
		}
	})
}

// Remove stops the group and deletes its log (the stream is deleted).
func (s *Stream) Remove() error {
	s.Stop()
	return s.opts.Host.RemoveGroup(s.opts.Group)
}

// IsLeader reports whether this replica leads the group now.
func (s *Stream) IsLeader() bool { return s.leading.Load() }

// Leader returns the leader's server name, "" when none is known.
func (s *Stream) Leader() string {
	return s.peerName(s.nd().Leader())
}

// peerName returns the server name of member id ("" if unknown).
func (s *Stream) peerName(id uint64) string { return (*s.peers.Load())[id] }

// peerMap returns the wanted members (not to be modified).
func (s *Stream) peerMap() map[uint64]string { return *s.peers.Load() }

// SetPeers replaces the members the group should have (ids to server
// names, this one's included). The leader adds and removes members to
// match, one at a time.
func (s *Stream) SetPeers(peers map[uint64]string) error {
	if maps.Equal(s.peerMap(), peers) {
		return nil // the reconciler repeats the placement every 2 s
	}
	cp := maps.Clone(peers)
	s.peers.Store(&cp)
	if err := s.opts.Host.SetPeers(s.opts.Group, cp); err != nil {
		return err
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return nil
}

// standFirst campaigns until the new group has a leader, for at most
// an election timeout's worth of tries.
func (s *Stream) standFirst() {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range 40 {
		if s.nd().Leader() != 0 {
			return
		}
		s.nd().Campaign()
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

// WaitLeader waits until the group knows a leader; false when ctx ends
// first.
func (s *Stream) WaitLeader(ctx context.Context) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.nd().Leader() == 0 {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// OnLeader registers fn, called on the stream's own goroutine (never
// concurrently) with true once this replica leads and has applied
// everything its predecessors committed, and with false when it stops
// leading.
func (s *Stream) OnLeader(fn func(leader bool)) {
	s.mu.Lock()
	s.mu.onLeader = append(s.mu.onLeader, fn)
	s.mu.Unlock()
	select {
	case s.lead <- struct{}{}:
	default:
	}
}

// Barrier returns once this replica applied everything committed when
// it was called, as confirmed by a quorum (Raft's read index): a read
// of the local stream after it sees every write acknowledged before
// the call. A replica cut off from the quorum (or paused while another
// was elected) cannot confirm and returns ErrNoQuorum.
func (s *Stream) Barrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := s.nd().ReadIndex(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	return nil
}

// propose replicates data and returns its result as applied here.
func (s *Stream) propose(data []byte) (result, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	r, err := s.nd().Propose(ctx, data)
	if err != nil {
		return result{}, fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	res := r.(result)
	return res, res.err
}

// Append replicates an append; the time is this node's clock.
func (s *Stream) Append(subject string, hdr, data []byte, opts store.AppendOpts) (store.AppendResult, error) {
	r, err := s.propose(appendEntry(time.Now().UnixNano(), subject, hdr, data, &opts))
	return r.append, err
}

// Delete replicates the removal of message seq.
func (s *Stream) Delete(seq uint64) error {
	_, err := s.propose(deleteEntry(seq))
	return err
}

// Purge replicates a purge.
func (s *Stream) Purge(opts store.PurgeOpts) (uint64, error) {
	r, err := s.propose(purgeEntry(opts))
	return r.purged, err
}

// UpdateConfig replicates a configuration change (the stream stays
// driven).
func (s *Stream) UpdateConfig(cfg store.Config, meta []byte) error {
	cfg.Driven = true
	data, err := configEntry(cfg, meta)
	if err != nil {
		return err
	}
	_, err = s.propose(data)
	return err
}

// noteAppend lowers the expiry deadline for a message appended at t.
func (s *Stream) noteAppend(t int64, o *store.AppendOpts) {
	cfg := s.raw().Config()
	if cfg.MaxAge > 0 {
		s.noteDeadline(satAdd(t, int64(cfg.MaxAge)))
	}
	if o.TTL > 0 {
		s.noteDeadline(satAdd(t, int64(o.TTL)))
	}
	if o.MsgID != "" && cfg.DuplicateWindow > 0 {
		s.noteDeadline(satAdd(t, int64(cfg.DuplicateWindow)))
	}
}

// noteDeadline lowers the deadline to t and wakes the leader's timer.
func (s *Stream) noteDeadline(t int64) {
	for {
		cur := s.deadline.Load()
		if t >= cur {
			return
		}
		if s.deadline.CompareAndSwap(cur, t) {
			break
		}
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// setDeadline replaces the deadline (after an expiry pass).
func (s *Stream) setDeadline(t int64) {
	s.deadline.Store(t)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// run is the stream's goroutine: it tells leadership changes to the
// OnLeader functions and, while leading, proposes expiry passes when
// the deadline comes.
func (s *Stream) run() {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	told := false // what the OnLeader functions were last told
	toldFns := 0  // how many of them were told it (later ones are told on registering)
	for {
		leading := s.leading.Load()
		if leading != told {
			if leading && !s.catchUpLeader() {
				leading = false // lost it meanwhile, or stopping
			}
			if leading != told {
				told = leading
				toldFns = s.tell(leading, 0)
				if leading {
					s.expire() // learn the deadline, do what is due
				}
			}
		}
		if told {
			// A function registered after this replica became the
			// leader (jsapi registers once Start returned, and a new
			// group's first peer may lead by then) is told now, else
			// the stream would never subscribe until the next change.
			toldFns = s.tell(true, toldFns)
		}
		wait := time.Hour
		if told {
			wait = time.Until(time.Unix(0, s.deadline.Load()))
			wait = max(wait, 0)
		}
		timer.Reset(wait)
		select {
		case <-s.stop:
			if told {
				s.tell(false, 0)
			}
			return
		case <-s.lead:
		case <-s.kick:
			if told && s.leading.Load() && !s.membersMatch() {
				s.reconcileMembers()
			}
		case <-timer.C:
			if told && s.leading.Load() {
				s.expire()
			}
		}
	}
}

// catchUpLeader waits, as a new leader, until it applied everything
// committed before it was elected; false when it stops leading first.
func (s *Stream) catchUpLeader() bool {
	for s.leading.Load() {
		select {
		case <-s.stop:
			return false
		default:
		}
		if s.Barrier(s.ctx) == nil && s.reconcileMembers() {
			return s.leading.Load()
		}
	}
	return false
}

// tell tells leader to the OnLeader functions from the from-th on, and
// returns how many are registered.
func (s *Stream) tell(leader bool, from int) int {
	s.mu.Lock()
	fns := slices.Clone(s.mu.onLeader)
	s.mu.Unlock()
	for _, fn := range fns[min(from, len(fns)):] {
		fn(leader)
	}
	return len(fns)
}

// expire proposes an expiry pass at the leader's now.
func (s *Stream) expire() {
	if _, err := s.propose(expireEntry(time.Now().UnixNano())); err != nil {
		s.logf("replica: stream %s: expiry pass: %v", s.raw().Name(), err)
		// Try again in a second rather than spin.
		s.setDeadline(time.Now().Add(time.Second).UnixNano())
	}
	// On success the pass's apply set the deadline, in log order (fsm
	// opExpire); setting it again here, after appends applied since
	// lowered it, would lose theirs.
}

// AppendAsync replicates an append without waiting: done is called
// once, with the append's result when it was applied here (on the
// group's goroutine: it must not block), or ErrNoQuorum when it was not
// applied within the timeout (it may still be, later), or ErrBusy when
// the leader refused it, too many being in flight. Appends made by
// one goroutine are proposed, and so stored, in call order.
func (s *Stream) AppendAsync(subject string, hdr, data []byte, opts store.AppendOpts, done func(store.AppendResult, error)) {
	s.nd().ProposeAsync(appendEntry(time.Now().UnixNano(), subject, hdr, data, &opts), s.opts.Timeout, func(r any, err error) {
		if errors.Is(err, repl.ErrBacklog) {
			done(store.AppendResult{}, ErrBusy)
			return
		}
		if err != nil {
			done(store.AppendResult{}, fmt.Errorf("%w: %w", ErrNoQuorum, err))
			return
		}
		res := r.(result)
		done(res.append, res.err)
	})
}

// settleSoon asks the settler to settle the batch just applied (the
// group's goroutine goes on with the next Ready meanwhile).
func (s *Stream) settleSoon() {
	select {
	case s.settled <- struct{}{}:
	default:
	}
}

// settler settles applied batches until Stop, and once more then.
func (s *Stream) settler() {
	for {
		select {
		case <-s.stop:
			s.settle()
			return
		case <-s.settled:
			s.settle()
		}
	}
}

// settle waits until the store's writes of the batches applied so far
// are durable (their appends did not wait: store.AppendOpts.NoWait);
// readers wait for that too.
func (s *Stream) settle() {
	if st, ok := s.raw().(store.Settler); ok {
		if err := st.Settle(); err != nil {
			s.logf("replica: stream %s: %v", s.raw().Name(), err)
		}
	}
}
