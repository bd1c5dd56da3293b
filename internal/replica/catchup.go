package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/repl"
	"github.com/cairn-db/cairn/internal/store"
)

// Catch-up (docs/REPLICATION.md, "Catch-up and snapshots"): the log of
// a stream group is compacted at snapshots, and a snapshot holds only
// the index the store must have reached (fsm.go). A replica whose
// store is behind a snapshot it receives (it was down while the log
// was compacted, or its store directory is new) fetches the stream
// from a peer whose store is at least there: a point-in-time read of
// the peer's stream (store.ReadReplica) shipped in chunks of at most
// chunkBytes over the group's frames (repl.KindCatchup requests,
// repl.KindCatchupData answers), rebuilt with store.NewReplicaImport
// and installed in place of the local stream. The fetching replica
// asks for each chunk in turn (so a slow one is never flooded) and asks
// again when an answer does not come (frames may be dropped); the
// serving replica keeps the last chunk of each fetch to send it again.
//
//	follower                         peer
//	open(session, index) ─────────▶  ReadReplica, chunk 0 = header
//	           ◀───────── chunk 0
//	next(session, 1)   ─────────▶    messages up to chunkBytes
//	           ◀───────── chunk 1 … final
//	close(session)     ─────────▶    releases the read

const (
	reqOpen  byte = 1 // session, index
	reqNext  byte = 2 // session, chunk
	reqClose byte = 3 // session

	flagFinal byte = 1
	flagError byte = 2

	chunkBytes    = 256 << 10
	askTimeout    = 2 * time.Second
	askTries      = 5
	sessionIdle   = 30 * time.Second
	maxSessions   = 16 // fetches served at once (each holds a point-in-time read)
	catchUpBudget = 10 * time.Minute
)

// catchState is a stream's catch-up state, both sides.
type catchState struct {
	work    chan request  // requests to serve, in arrival order
	answers chan response // answers to this replica's own fetch
	session atomic.Uint64 // the fetch in progress (0: none)

	mu       sync.Mutex
	sessions map[sessionKey]*source
}

type sessionKey struct {
	from string
	id   uint64
}

// source is one fetch being served.
type source struct {
	rr    *store.ReplicaRead
	chunk uint64 // last chunk sent
	last  []byte // its frame payload, sent again when asked again
	eof   bool
	used  time.Time
}

type request struct {
	from string
	data []byte
}

type response struct {
	session, chunk uint64
	flags          byte
	body           []byte
}

func (c *catchState) init() {
	c.work = make(chan request, 64)
	c.answers = make(chan response, 8)
	c.sessions = map[sessionKey]*source{}
}

// onceAtATime runs one thing at a time and refuses the others.
type onceAtATime struct{ busy atomic.Bool }

func (o *onceAtATime) Do(fn func()) {
	if o.busy.CompareAndSwap(false, true) {
		fn()
	}
}

func (o *onceAtATime) Reset() { o.busy.Store(false) }

// onFrame receives the group's catch-up frames (the route's reader:
// never blocks; a frame that does not fit is dropped and asked again).
func (s *Stream) onFrame(from string, kind repl.Kind, payload []byte) {
	switch kind {
	case repl.KindCatchup:
		select {
		case s.catch.work <- request{from: from, data: append([]byte(nil), payload...)}:
		default:
		}
	case repl.KindCatchupData:
		r, err := decodeResponse(payload)
		if err != nil || r.session == 0 || r.session != s.catch.session.Load() {
			return
		}
		r.body = append([]byte(nil), r.body...)
		select {
		case s.catch.answers <- r:
		default:
		}
	}
}

// serveCatchUps serves the peers' fetches until Stop.
func (s *Stream) serveCatchUps() {
	tick := time.NewTicker(sessionIdle / 3)
	defer tick.Stop()
	defer s.closeSources(func(*source) bool { return true })
	for {
		select {
		case <-s.stop:
			return
		case r := <-s.catch.work:
			s.serve(r)
		case <-tick.C:
			s.closeSources(func(src *source) bool { return time.Since(src.used) > sessionIdle })
		}
	}
}

func (s *Stream) closeSources(drop func(*source) bool) {
	s.catch.mu.Lock()
	defer s.catch.mu.Unlock()
	for k, src := range s.catch.sessions {
		if drop(src) {
			src.rr.Close()
			delete(s.catch.sessions, k)
		}
	}
}

// serve answers one request of a peer's fetch.
func (s *Stream) serve(r request) {
	d := &decoder{b: r.data}
	op := d.byte()
	var id uint64
	if len(d.b) >= 8 {
		id = binary.BigEndian.Uint64(d.b)
		d.b = d.b[8:]
	} else {
		return
	}
	arg := d.uvarint()
	if d.err != nil {
		return
	}
	key := sessionKey{r.from, id}
	s.catch.mu.Lock()
	src := s.catch.sessions[key]
	s.catch.mu.Unlock()
	switch op {
	case reqOpen:
		if src != nil {
			s.send(r.from, src.last)
			return
		}
		s.catch.mu.Lock()
		full := len(s.catch.sessions) >= maxSessions
		s.catch.mu.Unlock()
		if full {
			s.send(r.from, encodeResponse(id, 0, flagError, []byte("too many catch-ups in progress")))
			return
		}
		src, resp := s.open(id, arg)
		if src != nil {
			s.catch.mu.Lock()
			s.catch.sessions[key] = src
			s.catch.mu.Unlock()
		}
		s.send(r.from, resp)
	case reqNext:
		if src == nil {
			s.send(r.from, encodeResponse(id, arg, flagError, []byte("no such fetch")))
			return
		}
		src.used = time.Now()
		switch arg {
		case src.chunk:
			s.send(r.from, src.last)
		case src.chunk + 1:
			src.chunk = arg
			src.last = s.nextChunk(id, src)
			s.send(r.from, src.last)
		}
	case reqClose:
		if src != nil {
			s.closeSources(func(x *source) bool { return x == src })
		}
	}
}

// open starts serving a fetch that needs the store at index or beyond.
func (s *Stream) open(id, index uint64) (*source, []byte) {
	if s.opts.Store == nil {
		return nil, encodeResponse(id, 0, flagError, []byte("no store"))
	}
	if applied := s.raw().Applied(); applied < index {
		return nil, encodeResponse(id, 0, flagError, fmt.Appendf(nil, "applied %d, below %d", applied, index))
	}
	rr, err := s.opts.Store.ReadReplica(s.raw().Name())
	if err != nil {
		return nil, encodeResponse(id, 0, flagError, []byte(err.Error()))
	}
	resp := encodeResponse(id, 0, 0, rr.Header().Encode())
	return &source{rr: rr, last: resp, used: time.Now()}, resp
}

// nextChunk reads the next messages of a fetch.
func (s *Stream) nextChunk(id uint64, src *source) []byte {
	var body []byte
	flags := byte(0)
	for len(body) < chunkBytes {
		m, err := src.rr.Next()
		if errors.Is(err, io.EOF) {
			flags = flagFinal
			src.eof = true
			break
		}
		if err != nil {
			return encodeResponse(id, src.chunk, flagError, []byte(err.Error()))
		}
		body = appendMsg(body, &m)
	}
	return encodeResponse(id, src.chunk, flags, body)
}

func (s *Stream) send(to string, payload []byte) {
	s.opts.Host.SendFrame(s.opts.Group, to, repl.KindCatchupData, payload)
}

func encodeResponse(session, chunk uint64, flags byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 20+len(body)), session)
	b = binary.AppendUvarint(b, chunk)
	b = append(b, flags)
	return append(b, body...)
}

func decodeResponse(b []byte) (response, error) {
	if len(b) < 8 {
		return response{}, errEntry
	}
	d := &decoder{b: b[8:]}
	r := response{session: binary.BigEndian.Uint64(b), chunk: d.uvarint(), flags: d.byte()}
	r.body = d.b
	return r, d.err
}

func appendMsg(b []byte, m *store.ExportedMsg) []byte {
	b = binary.AppendUvarint(b, m.Seq)
	b = binary.AppendVarint(b, m.Time)
	b = appendBytes(b, []byte(m.Subject))
	b = appendBytes(b, m.Header)
	b = appendBytes(b, m.Data)
	b = binary.AppendVarint(b, int64(m.TTL))
	return appendBytes(b, []byte(m.MsgID))
}

func decodeMsgs(body []byte, fn func(store.ExportedMsg) error) error {
	d := &decoder{b: body}
	for len(d.b) > 0 {
		var m store.ExportedMsg
		m.Seq = d.uvarint()
		m.Time = d.varint()
		m.Subject = string(d.bytes())
		m.Header = d.bytes()
		m.Data = d.bytes()
		m.TTL = time.Duration(d.varint())
		m.MsgID = string(d.bytes())
		if d.err != nil {
			return d.err
		}
		if len(m.Header) == 0 {
			m.Header = nil
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// catchUp brings the local store up to at least log index applied from
// a peer (the leader first), within catchUpBudget. It runs on the
// group's goroutine (a snapshot being restored).
func (s *Stream) catchUp(applied uint64) error {
	start := time.Now()
	for time.Since(start) < catchUpBudget {
		var order []uint64
		if n := s.nd(); n != nil && n.Leader() != 0 && n.Leader() != s.opts.Self {
			l := n.Leader()
			order = append(order, l)
		}
		for id := range s.peerMap() {
			if id != s.opts.Self && (len(order) == 0 || id != order[0]) {
				order = append(order, id)
			}
		}
		for _, id := range order {
			err := s.fetch(s.peerName(id), applied)
			if err == nil {
				s.logf("replica: stream %s caught up from %s at index %d in %v", s.raw().Name(), s.peerName(id), s.raw().Applied(), time.Since(start).Round(time.Millisecond))
				return nil
			}
			s.logf("replica: stream %s: catching up from %s: %v", s.raw().Name(), s.peerName(id), err)
			if s.stopping() {
				return ErrNoCatchUp
			}
		}
		select {
		case <-s.stop:
			return ErrNoCatchUp
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w: stream %s holds index %d, the snapshot needs %d", ErrNoCatchUp, s.raw().Name(), s.raw().Applied(), applied)
}

func (s *Stream) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// fetch copies the stream from peer, which must hold index applied.
func (s *Stream) fetch(peer string, applied uint64) error {
	if s.opts.Store == nil {
		return errors.New("no store to import into")
	}
	id := rand.Uint64() | 1
	s.catch.session.Store(id)
	defer s.catch.session.Store(0)
	defer s.opts.Host.SendFrame(s.opts.Group, peer, repl.KindCatchup, encodeRequest(reqClose, id, 0))
	r, err := s.ask(peer, encodeRequest(reqOpen, id, applied), id, 0)
	if err != nil {
		return err
	}
	h, err := store.DecodeReplicaHeader(r.body)
	if err != nil {
		return err
	}
	if h.Applied < applied || h.Config.Name != s.raw().Name() {
		return fmt.Errorf("peer sent stream %s at index %d", h.Config.Name, h.Applied)
	}
	im, err := s.opts.Store.NewReplicaImport(h)
	if err != nil {
		return err
	}
	for chunk := uint64(1); r.flags&flagFinal == 0; chunk++ {
		if r, err = s.ask(peer, encodeRequest(reqNext, id, chunk), id, chunk); err == nil {
			err = decodeMsgs(r.body, im.Add)
		}
		if err != nil {
			im.Abort()
			return err
		}
	}
	st, err := im.Commit()
	if err != nil {
		return err
	}
	s.replace(st)
	s.noteDeadline(time.Now().UnixNano()) // expiry state unknown: look
	return nil
}

// ask sends a request until its answer comes, askTries times at most.
func (s *Stream) ask(peer string, req []byte, session, chunk uint64) (response, error) {
	for range askTries {
		s.opts.Host.SendFrame(s.opts.Group, peer, repl.KindCatchup, req)
		timeout := time.NewTimer(askTimeout)
		for waiting := true; waiting; {
			select {
			case r := <-s.catch.answers:
				if r.session != session || r.chunk != chunk {
					continue
				}
				timeout.Stop()
				if r.flags&flagError != 0 {
					return r, fmt.Errorf("peer %s: %s", peer, r.body)
				}
				return r, nil
			case <-timeout.C:
				waiting = false
			case <-s.stop:
				timeout.Stop()
				return response{}, ErrNoCatchUp
			}
		}
	}
	return response{}, fmt.Errorf("peer %s does not answer", peer)
}

func encodeRequest(op byte, session, arg uint64) []byte {
	b := binary.BigEndian.AppendUint64([]byte{op}, session)
	return binary.AppendUvarint(b, arg)
}
