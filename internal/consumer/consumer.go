package consumer

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// Bus is what a consumer needs of the core server.
type Bus interface {
	// PublishAs delivers to the subscriptions matching routeSubj,
	// showing the message as published on subj. The slices are not
	// retained after it returns.
	PublishAs(routeSubj, subj, reply, hdr, data []byte)
	// Subscribe registers an in-process handler; the returned function
	// removes it.
	Subscribe(subj string, h func(subj, reply string, hdr, data []byte)) (func(), error)
	// HasInterest reports whether any subscription matches subj.
	HasInterest(subj string) bool
}

// Flow control window: a request goes out after every fcChunk bytes
// delivered, and delivery pauses while fcMaxOutstanding requests are
// unanswered.
const (
	fcChunk          = 2 << 20
	fcMaxOutstanding = 2
)

// Consumer is one running push consumer. Its methods are safe for
// concurrent use.
type Consumer struct {
	stream  store.Stream
	sname   string
	cfg     Config
	bus     Bus
	log     *slog.Logger
	created time.Time
	onGone  func(*Consumer) // called once when the consumer stops by itself

	ackPrefix string                 // "$JS.ACK.<stream>.<name>.1."
	fcPrefix  string                 // "$JS.FC.<stream>.<name>."
	deliverTo []byte                 // cfg.DeliverSubject
	match     func(subj string) bool // the filters

	// snap is the initial data of a last_per_subject consumer, pinned at
	// creation; the delivery goroutine owns and closes it (nil for the
	// other policies).
	snap store.Snapshot
	// snapWait bounds how long delivery waits for a subscriber while
	// the snapshot is held (holding, owned by the delivery goroutine);
	// see interestLimit.
	snapWait time.Duration
	holding  bool

	// Scratch buffers of the delivery goroutine, reused per message.
	scratch struct{ subj, reply, hdr []byte }

	// appended counts matching messages stored since the consumer was
	// created; pending counts are estimated from it without rescanning.
	appended atomic.Uint64
	// notified is the highest sequence the stream has told the consumer
	// about, matching or not. Every message up to it is readable, so a
	// search that found nothing has examined everything up to it.
	notified atomic.Uint64

	wake    chan struct{} // matching message stored or flow control answered
	quit    chan struct{}
	done    chan struct{}
	cancel  func() // stream subscription
	unsubFC func() // flow-control reply subscription
	stop    sync.Once

	mu struct {
		sync.Mutex
		sseq       uint64    // next stream sequence to examine live
		dseq       uint64    // consumer sequence: messages delivered
		lastStream uint64    // stream sequence of the last delivery
		lastActive time.Time // of the last delivery
		initial    uint64    // snapshot messages not yet delivered
		atCreation *Info     // the state at creation, until Info reports it
		fcSent     uint64    // flow-control requests sent
		fcAcked    uint64    // highest request answered
		fcBytes    int       // bytes delivered since the last request
	}
}

// newConsumer prepares a consumer: it resolves the start position and,
// for last_per_subject, pins the initial data. start begins delivery;
// a consumer that is not started must be discarded.
func newConsumer(st store.Stream, cfg Config, bus Bus, log *slog.Logger, snapWait time.Duration, onGone func(*Consumer)) (*Consumer, error) {
	if cfg.DeliverSubject == "" {
		return nil, ErrNoDeliver
	}
	if cfg.InactiveThreshold <= 0 {
		cfg.InactiveThreshold = DefaultInactiveThreshold
	}
	c := &Consumer{
		stream:    st,
		sname:     st.Name(),
		cfg:       cfg,
		bus:       bus,
		log:       log,
		created:   time.Now().UTC(),
		onGone:    onGone,
		snapWait:  snapWait,
		ackPrefix: "$JS.ACK." + st.Name() + "." + cfg.Name + ".1.",
		deliverTo: []byte(cfg.DeliverSubject),
		match:     subject.MatcherAny(cfg.FilterSubjects),
		fcPrefix:  "$JS.FC." + st.Name() + "." + cfg.Name + ".",
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	unsub, err := bus.Subscribe(c.fcPrefix+"*", c.flowControlReply)
	if err != nil {
		return nil, err
	}
	c.unsubFC = unsub
	// Subscribe before reading the stream, so nothing stored from now on
	// can be missed. Only a matching message wakes the consumer: a
	// watcher whose filter matches nothing costs an append one match.
	c.cancel = st.Subscribe(func(m *store.Msg) {
		c.notified.Store(m.Seq)
		if c.matches(m.Subject) {
			c.appended.Add(1)
			c.signal()
		}
	})
	start, err := c.startSeq()
	if err != nil {
		c.release()
		return nil, err
	}
	c.mu.sseq = start
	in := c.currentInfo()
	if c.snap != nil {
		// The initial data is the snapshot; what was stored since it
		// was taken is live.
		in.NumPending = c.mu.initial
	}
	c.mu.atCreation = &in
	return c, nil
}

// release drops the subscriptions and the snapshot of a consumer whose
// delivery goroutine never ran.
func (c *Consumer) release() {
	c.stop.Do(func() { close(c.quit); c.cancel(); c.unsubFC() })
	if c.snap != nil {
		c.snap.Close()
	}
	close(c.done)
}

// Name returns the consumer name.
func (c *Consumer) Name() string { return c.cfg.Name }

// Config returns the configuration.
func (c *Consumer) Config() Config { return c.cfg }

func (c *Consumer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// startSeq resolves the deliver policy to the first stream sequence to
// examine live. For last_per_subject it takes the snapshot, and live
// delivery starts right after it.
func (c *Consumer) startSeq() (uint64, error) {
	if c.cfg.DeliverPolicy == DeliverLastPerSubject {
		snap, err := c.stream.SnapshotLastPerSubject(c.cfg.FilterSubjects)
		if err != nil {
			return 0, err
		}
		c.snap = snap
		c.mu.initial = uint64(snap.Remaining())
		return snap.LastSeq() + 1, nil
	}
	state := c.stream.State()
	switch c.cfg.DeliverPolicy {
	case DeliverNew:
		return state.LastSeq + 1, nil
	case DeliverByStartSequence:
		return max(c.cfg.OptStartSeq, 1), nil
	case DeliverByStartTime:
		// Timestamps never decrease along the sequence, so the first
		// message at or after the time, whatever its subject, is where
		// the filtered read may start: a binary search, not a walk.
		return c.stream.SeqForTime(c.cfg.OptStartTime.UnixNano()), nil
	case DeliverLast:
		var last uint64
		for _, f := range c.filters() {
			m, err := c.lastMatching(f)
			if err != nil {
				return 0, err
			}
			last = max(last, m)
		}
		if last == 0 {
			return state.LastSeq + 1, nil
		}
		return last, nil
	}
	return max(state.FirstSeq, 1), nil
}

// lastMatching finds the highest sequence matching filter, or 0. The
// store answers through its subject index, in work bounded by the
// matching subjects.
func (c *Consumer) lastMatching(filter string) (uint64, error) {
	m, err := c.stream.LastMatching(filter)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return m.Seq, nil
}

func (c *Consumer) filters() []string {
	if len(c.cfg.FilterSubjects) == 0 {
		return []string{">"}
	}
	return c.cfg.FilterSubjects
}

// matches reports whether subj passes the filters. It runs for every
// message stored, under the stream's delivery lock, so it tests subj
// once however many filters there are (subject.MatcherAny).
func (c *Consumer) matches(subj string) bool { return c.match(subj) }

// next returns the first matching message with Seq >= seq.
//
// With several filters it asks the store once per filter; each answer is
// consistent on its own, but a message on one filter can be stored
// between two questions while a later one on another filter is found.
// So only answers at or below the last sequence read beforehand count,
// and the question is asked again when an answer lies beyond it.
func (c *Consumer) next(seq uint64) (*store.Msg, error) {
	if len(c.cfg.FilterSubjects) <= 1 {
		return c.stream.GetNext(c.filters()[0], seq)
	}
	for {
		hi := c.stream.State().LastSeq
		var best *store.Msg
		beyond := false
		for _, f := range c.cfg.FilterSubjects {
			m, err := c.stream.GetNext(f, seq)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue
			case err != nil:
				return nil, err
			case m.Seq > hi:
				beyond = true
			case best == nil || m.Seq < best.Seq:
				best = m
			}
		}
		if best != nil {
			return best, nil
		}
		if !beyond {
			return nil, store.ErrNotFound
		}
	}
}

// find is next for the live phase: when nothing matches at or after
// *from, it moves *from past every message notified before the search,
// as the search examined them all. A wake-up then looks only at what
// was stored since, however many non-matching messages went by.
func (c *Consumer) find(from *uint64) (*store.Msg, error) {
	examined := c.notified.Load()
	m, err := c.next(*from)
	if errors.Is(err, store.ErrNotFound) && examined >= *from {
		*from = examined + 1
	}
	return m, err
}

// pendingAfter counts matching messages with a sequence above seq.
func (c *Consumer) pendingAfter(seq uint64) uint64 {
	if seq >= c.stream.State().LastSeq {
		return 0
	}
	var n uint64
	for _, f := range c.filters() {
		n += c.stream.NumPending(f, seq+1, false)
	}
	return n
}

// start begins delivery on its own goroutine.
func (c *Consumer) start() { go c.run() }

// Stop ends delivery and releases the consumer's subscriptions. It waits
// for the delivery goroutine and is idempotent.
func (c *Consumer) Stop() {
	c.stop.Do(func() {
		close(c.quit)
		c.cancel()
		c.unsubFC()
	})
	<-c.done
}

func (c *Consumer) stopped() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

func (c *Consumer) run() {
	defer close(c.done)
	if c.snap != nil {
		c.holding = true
		ok := c.deliverSnapshot()
		c.snap.Close()
		c.holding = false
		if !ok {
			return
		}
	}
	c.deliverLive()
}

// gone stops the consumer from its own goroutine and tells the manager.
func (c *Consumer) gone() {
	c.stop.Do(func() {
		close(c.quit)
		c.cancel()
		c.unsubFC()
	})
	if c.onGone != nil {
		c.onGone(c)
	}
}

// fail ends a consumer whose stream could not be read: it logs the
// error and removes the consumer, so that the client sees it go away
// (its heartbeats stop and its info is gone; an ordered consumer then
// recreates it) instead of silently missing messages. A stream that was
// deleted or a store that is closing ends it quietly.
func (c *Consumer) fail(err error) {
	if !errors.Is(err, store.ErrClosed) && !c.stopped() {
		c.log.Error("consumer: reading the stream failed; removing the consumer",
			"stream", c.sname, "consumer", c.cfg.Name, "err", err)
	}
	c.gone()
}
