package consumer

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
	"github.com/cairn-db/cairn/internal/wire"
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
	created time.Time
	onGone  func(*Consumer) // called once when the consumer stops by itself

	ackPrefix string // "$JS.ACK.<stream>.<name>.1."
	fcPrefix  string // "$JS.FC.<stream>.<name>."
	deliverTo []byte // cfg.DeliverSubject

	// Scratch buffers of the delivery goroutine, reused per message.
	scratch struct{ subj, reply, hdr []byte }

	// appended counts matching messages stored since the consumer was
	// created; pending counts are estimated from it without rescanning.
	appended atomic.Uint64

	wake    chan struct{} // new message stored or flow control answered
	quit    chan struct{}
	done    chan struct{}
	cancel  func() // stream subscription
	unsubFC func() // flow-control reply subscription
	stop    sync.Once

	mu struct {
		sync.Mutex
		sseq       uint64    // next stream sequence to examine
		dseq       uint64    // consumer sequence: messages delivered
		lastStream uint64    // stream sequence of the last delivery
		lastActive time.Time // of the last delivery
		initial    uint64    // messages left in the last-per-subject snapshot
		fcSent     uint64    // flow-control requests sent
		fcAcked    uint64    // highest request answered
		fcBytes    int       // bytes delivered since the last request
	}
}

// newConsumer prepares a consumer; start begins delivery.
func newConsumer(st store.Stream, cfg Config, bus Bus, onGone func(*Consumer)) (*Consumer, error) {
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
		created:   time.Now().UTC(),
		onGone:    onGone,
		ackPrefix: "$JS.ACK." + st.Name() + "." + cfg.Name + ".1.",
		deliverTo: []byte(cfg.DeliverSubject),
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
	// can be missed.
	c.cancel = st.Subscribe(func(m *store.Msg) {
		if c.matches(m.Subject) {
			c.appended.Add(1)
		}
		c.signal()
	})
	c.mu.sseq = c.startSeq()
	return c, nil
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
// examine.
func (c *Consumer) startSeq() uint64 {
	state := c.stream.State()
	switch c.cfg.DeliverPolicy {
	case DeliverNew:
		return state.LastSeq + 1
	case DeliverByStartSequence:
		return max(c.cfg.OptStartSeq, 1)
	case DeliverByStartTime:
		for seq := state.FirstSeq; ; {
			m, err := c.next(seq)
			if err != nil || m.Time >= c.cfg.OptStartTime.UnixNano() {
				if err != nil {
					return state.LastSeq + 1
				}
				return m.Seq
			}
			seq = m.Seq + 1
		}
	case DeliverLast:
		var last uint64
		for _, f := range c.filters() {
			if m, err := c.lastMatching(f, state.LastSeq); err == nil {
				last = max(last, m)
			}
		}
		if last == 0 {
			return state.LastSeq + 1
		}
		return last
	case DeliverLastPerSubject:
		// The snapshot phase covers everything up to the current last
		// sequence; live delivery starts after it.
		return state.LastSeq + 1
	}
	return max(state.FirstSeq, 1)
}

// lastMatching finds the highest sequence <= upTo matching filter.
func (c *Consumer) lastMatching(filter string, upTo uint64) (uint64, error) {
	if !subject.HasWildcard(filter) && filter != "" {
		m, err := c.stream.GetLast(filter)
		if err != nil {
			return 0, err
		}
		return m.Seq, nil
	}
	var last uint64
	err := c.stream.LastPerSubject(filter, func(m *store.Msg) bool {
		if m.Seq <= upTo {
			last = max(last, m.Seq)
		}
		return true
	})
	if last == 0 && err == nil {
		err = store.ErrNotFound
	}
	return last, err
}

func (c *Consumer) filters() []string {
	if len(c.cfg.FilterSubjects) == 0 {
		return []string{">"}
	}
	return c.cfg.FilterSubjects
}

// matches reports whether subj passes the filters.
func (c *Consumer) matches(subj string) bool {
	if len(c.cfg.FilterSubjects) == 0 {
		return true
	}
	for _, f := range c.cfg.FilterSubjects {
		if subject.Match(f, subj) {
			return true
		}
	}
	return false
}

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
	if c.cfg.DeliverPolicy == DeliverLastPerSubject {
		if !c.deliverSnapshot() {
			return
		}
	}
	c.deliverLive()
}

// deliverSnapshot delivers the last message of every matching subject
// stored before the consumer started, in sequence order. It reports
// false when the consumer was stopped.
func (c *Consumer) deliverSnapshot() bool {
	c.mu.Lock()
	upTo := c.mu.sseq - 1
	c.mu.Unlock()
	var total uint64
	for _, f := range c.filters() {
		total += c.stream.NumPending(f, 0, true)
	}
	c.mu.Lock()
	c.mu.initial = total
	c.mu.Unlock()
	// One message of look-ahead: the last of the snapshot is known to be
	// last when it is delivered, so its pending count is exact.
	var held *store.Msg
	ok := true
	each := func(m *store.Msg) bool {
		if m.Seq > upTo || !c.matches(m.Subject) {
			return true
		}
		if held != nil {
			c.mu.Lock()
			c.mu.initial = max(c.mu.initial, 2) - 1
			pending := c.mu.initial
			c.mu.Unlock()
			// Not the last of the snapshot, so never 0, which would
			// tell the client the initial data is complete.
			if !c.deliver(held, max(pending+c.appended.Load(), 1)) {
				ok = false
				return false
			}
		}
		held = m
		return true
	}
	var err error
	if len(c.cfg.FilterSubjects) == 1 {
		err = c.stream.LastPerSubject(c.cfg.FilterSubjects[0], each)
	} else {
		// Several filters: one pass over every subject keeps the
		// sequence order.
		err = c.stream.LastPerSubject(">", each)
	}
	if err != nil || !ok {
		return ok && !c.stopped()
	}
	c.mu.Lock()
	c.mu.initial = 0
	c.mu.Unlock()
	if held != nil {
		// The last of the snapshot: pending is 0 exactly when nothing
		// matching was stored since.
		var pending uint64
		if _, err := c.next(upTo + 1); err == nil {
			pending = max(c.appended.Load(), 1)
		}
		return c.deliver(held, pending)
	}
	return !c.stopped()
}

// deliverLive delivers every matching message from the current position
// and then waits for more, until stopped.
func (c *Consumer) deliverLive() {
	w := c.newWaiter()
	defer w.stop()
	// Pending counts: one scan now, then an estimate kept by counting
	// deliveries and appends. Whether pending is 0 (the end of the data
	// a client waits for) is always exact: each message is delivered
	// after looking one matching message ahead.
	appendedBase := c.appended.Load()
	c.mu.Lock()
	seq := c.mu.sseq
	c.mu.Unlock()
	base := c.pendingAfter(seq - 1)
	var delivered uint64
	var ahead *store.Msg
	for {
		if !c.fcBlocked() {
			m, err := ahead, error(nil)
			if m == nil {
				m, err = c.next(seq)
			}
			ahead = nil
			if err == nil {
				var pending uint64
				if nxt, err := c.next(m.Seq + 1); err == nil {
					ahead = nxt
					est := int64(base+c.appended.Load()-appendedBase) - int64(delivered+1)
					pending = uint64(max(est, 1))
				}
				if !c.deliver(m, pending) {
					return
				}
				delivered++
				seq = m.Seq + 1
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				// The stream is gone or closed.
				c.gone()
				return
			}
		}
		select {
		case <-c.quit:
			return
		case <-c.wake:
		case <-w.heartbeat:
			c.heartbeat()
		case now := <-w.interest.C:
			if w.abandoned(c, now) {
				c.gone()
				return
			}
		}
	}
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

// deliver publishes one message and advances the position. It reports
// false when the consumer was stopped meanwhile.
func (c *Consumer) deliver(m *store.Msg, pending uint64) bool {
	if c.stopped() || !c.waitInterest() {
		return false
	}
	c.mu.Lock()
	c.mu.dseq++
	dseq := c.mu.dseq
	c.mu.sseq = m.Seq + 1
	c.mu.lastStream = m.Seq
	c.mu.lastActive = time.Now()
	c.mu.Unlock()

	reply := append(c.scratch.reply[:0], c.ackPrefix...)
	reply = strconv.AppendUint(reply, m.Seq, 10)
	reply = append(reply, '.')
	reply = strconv.AppendUint(reply, dseq, 10)
	reply = append(reply, '.')
	reply = strconv.AppendInt(reply, m.Time, 10)
	reply = append(reply, '.')
	reply = strconv.AppendUint(reply, pending, 10)
	c.scratch.reply = reply

	hdr, data := m.Header, m.Data
	if c.cfg.HeadersOnly {
		c.scratch.hdr = appendHeader(c.scratch.hdr[:0], hdr, "Nats-Msg-Size", strconv.Itoa(len(data)))
		hdr, data = c.scratch.hdr, nil
	}
	c.scratch.subj = append(c.scratch.subj[:0], m.Subject...)
	c.bus.PublishAs(c.deliverTo, c.scratch.subj, reply, hdr, data)
	if c.cfg.FlowControl && !c.flowControlAfter(len(hdr)+len(data)) {
		return false
	}
	return true
}

// waitInterest holds delivery until the deliver subject has a
// subscriber: clients may create the consumer before subscribing (the
// JavaScript client does), and nats-server does not deliver into the
// void either. Without interest for the inactive threshold the consumer
// removes itself; waitInterest then reports false.
func (c *Consumer) waitInterest() bool {
	if c.bus.HasInterest(c.cfg.DeliverSubject) {
		return true
	}
	deadline := time.Now().Add(c.cfg.InactiveThreshold)
	wait := time.Millisecond
	for !c.bus.HasInterest(c.cfg.DeliverSubject) {
		if time.Now().After(deadline) {
			c.gone()
			return false
		}
		select {
		case <-c.quit:
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	return true
}

// appendHeader appends to dst the header block hdr (nil for none) with
// one more "key: value" line.
func appendHeader(dst, hdr []byte, key, value string) []byte {
	if len(hdr) < 4 {
		dst = append(dst, "NATS/1.0\r\n"...)
	} else {
		dst = append(dst, hdr[:len(hdr)-2]...) // without the closing CRLF
	}
	dst = append(dst, key...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n\r\n"...)
}

// flowControlAfter counts delivered bytes and sends a flow-control
// request after each chunk. It reports false when the consumer stopped
// while waiting for answers.
func (c *Consumer) flowControlAfter(n int) bool {
	c.mu.Lock()
	c.mu.fcBytes += n
	if c.mu.fcBytes < fcChunk {
		c.mu.Unlock()
		return true
	}
	c.mu.fcBytes = 0
	c.mu.fcSent++
	id := c.mu.fcSent
	c.mu.Unlock()
	hdr := wire.NewStatusHeader(100, "FlowControl Request").Bytes()
	c.bus.PublishAs(c.deliverTo, c.deliverTo, []byte(c.fcPrefix+strconv.FormatUint(id, 10)), hdr, nil)
	return c.waitFlowControl()
}

// waitFlowControl blocks while too many requests are unanswered. It
// reports false when the consumer was stopped, or removed itself because
// its deliver subject lost interest: a client that went away never
// answers.
func (c *Consumer) waitFlowControl() bool {
	w := c.newWaiter()
	defer w.stop()
	for {
		if !c.fcBlocked() {
			return true
		}
		select {
		case <-c.quit:
			return false
		case <-c.wake:
		case <-w.heartbeat:
			c.heartbeat()
		case now := <-w.interest.C:
			if w.abandoned(c, now) {
				c.gone()
				return false
			}
		}
	}
}

// fcBlocked reports whether delivery must wait for flow-control answers.
func (c *Consumer) fcBlocked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.fcSent-c.mu.fcAcked >= fcMaxOutstanding
}

// waiter holds the timers a consumer watches while it waits: idle
// heartbeats (nil channel when disabled) and the interest check.
type waiter struct {
	heartbeat <-chan time.Time
	hb        *time.Ticker
	interest  *time.Ticker
	idleTracker
}

func (c *Consumer) newWaiter() *waiter {
	w := &waiter{interest: time.NewTicker(min(max(c.cfg.InactiveThreshold/4, 50*time.Millisecond), time.Second))}
	if c.cfg.IdleHeartbeat > 0 {
		w.hb = time.NewTicker(c.cfg.IdleHeartbeat)
		w.heartbeat = w.hb.C
	}
	return w
}

func (w *waiter) stop() {
	w.interest.Stop()
	if w.hb != nil {
		w.hb.Stop()
	}
}

// idleTracker measures how long a deliver subject has lacked interest.
type idleTracker struct{ since time.Time }

// abandoned reports whether c's deliver subject has had no subscriber
// for the inactive threshold, as of now.
func (t *idleTracker) abandoned(c *Consumer, now time.Time) bool {
	if c.bus.HasInterest(c.cfg.DeliverSubject) {
		t.since = time.Time{}
		return false
	}
	if t.since.IsZero() {
		t.since = now
	}
	return now.Sub(t.since) >= c.cfg.InactiveThreshold
}

// flowControlReply handles a client's answer to a flow-control request.
func (c *Consumer) flowControlReply(subj, _ string, _, _ []byte) {
	id, err := strconv.ParseUint(subj[len(c.fcPrefix):], 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	if id > c.mu.fcAcked && id <= c.mu.fcSent {
		c.mu.fcAcked = id
	}
	c.mu.Unlock()
	c.signal()
}

// heartbeat sends an idle heartbeat with the last sequences, and the
// pending flow-control subject when delivery is stalled on it.
func (c *Consumer) heartbeat() {
	c.mu.Lock()
	dseq, sseq := c.mu.dseq, c.mu.lastStream
	var stalled string
	if c.mu.fcSent > c.mu.fcAcked {
		stalled = c.fcPrefix + strconv.FormatUint(c.mu.fcSent, 10)
	}
	c.mu.Unlock()
	b := wire.NewStatusHeader(100, "Idle Heartbeat").
		Add("Nats-Last-Consumer", strconv.FormatUint(dseq, 10)).
		Add("Nats-Last-Stream", strconv.FormatUint(sseq, 10))
	if stalled != "" {
		b.Add("Nats-Consumer-Stalled", stalled)
	}
	c.bus.PublishAs(c.deliverTo, c.deliverTo, nil, b.Bytes(), nil)
}

// SequenceInfo is a position in the consumer and in the stream.
type SequenceInfo struct {
	Consumer, Stream uint64
	Last             time.Time // zero before the first delivery
}

// Info is a snapshot of a consumer's state.
type Info struct {
	Stream     string
	Name       string
	Created    time.Time
	Config     Config
	Delivered  SequenceInfo
	NumPending uint64
	PushBound  bool
}

// Info returns the consumer's current state. With acknowledgements off,
// the ack floor equals Delivered.
func (c *Consumer) Info() Info {
	c.mu.Lock()
	sseq, dseq, last, lastActive, initial := c.mu.sseq, c.mu.dseq, c.mu.lastStream, c.mu.lastActive, c.mu.initial
	c.mu.Unlock()
	info := Info{
		Stream:    c.sname,
		Name:      c.cfg.Name,
		Created:   c.created,
		Config:    c.cfg,
		PushBound: c.bus.HasInterest(c.cfg.DeliverSubject),
	}
	info.Delivered = SequenceInfo{Consumer: dseq, Stream: last, Last: lastActive}
	if dseq == 0 {
		// Before any delivery nats-server reports the position just
		// before the start.
		info.Delivered.Stream = max(sseq, 1) - 1
	}
	if c.cfg.DeliverPolicy == DeliverLastPerSubject && dseq == 0 {
		for _, f := range c.filters() {
			info.NumPending += c.stream.NumPending(f, 0, true)
		}
		return info
	}
	info.NumPending = initial
	if sseq > 0 {
		info.NumPending += c.pendingAfter(sseq - 1)
	}
	return info
}
