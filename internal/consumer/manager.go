package consumer

import (
	"crypto/rand"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// Manager owns the consumers of every stream. Its methods are safe for
// concurrent use.
type Manager struct {
	bus Bus
	log *slog.Logger
	// snapWait is DefaultSnapshotInterestWait unless
	// SetSnapshotInterestWait changed it before any consumer existed.
	snapWait time.Duration

	mu struct {
		sync.Mutex
		byStream map[string]map[string]*Consumer
		closed   bool
	}
}

// NewManager returns an empty manager delivering through bus. Consumers
// that end on a store error say so on log (nil discards).
func NewManager(bus Bus, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m := &Manager{bus: bus, log: log, snapWait: DefaultSnapshotInterestWait}
	m.mu.byStream = make(map[string]map[string]*Consumer)
	return m
}

// SetSnapshotInterestWait sets how long a consumer holding the snapshot
// of a watch waits for a subscriber before it removes itself (the
// inactive threshold, if shorter, applies instead); 0 means
// DefaultSnapshotInterestWait, negative only the inactive threshold.
// Call it before the first Create.
func (m *Manager) SetSnapshotInterestWait(d time.Duration) {
	if d == 0 {
		d = DefaultSnapshotInterestWait
	}
	m.snapWait = d
}

// Create starts a consumer on st. An empty cfg.Name gets a generated
// one. Creating a consumer that exists with the same configuration
// returns the existing one; with another configuration, ErrExists. A
// store error while resolving the start (or taking the snapshot of a
// last_per_subject consumer) is returned as is.
func (m *Manager) Create(st store.Stream, cfg Config) (*Consumer, error) {
	if cfg.Name == "" {
		cfg.Name = NewName()
	}
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil, ErrClosedManager
	}
	if old := m.mu.byStream[st.Name()][cfg.Name]; old != nil {
		m.mu.Unlock()
		if sameConfig(old.cfg, cfg) {
			return old, nil
		}
		return nil, ErrExists
	}
	m.mu.Unlock()

	c, err := newConsumer(st, cfg, m.bus, m.log, m.snapWait, m.forget)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if other := m.mu.byStream[st.Name()][cfg.Name]; m.mu.closed || other != nil {
		closed := m.mu.closed
		m.mu.Unlock()
		// Lost a race with Close or with a creator of the same name:
		// discard the consumer that never started.
		c.release()
		switch {
		case closed:
			return nil, ErrClosedManager
		case sameConfig(other.cfg, cfg):
			return other, nil
		}
		return nil, ErrExists
	}
	byName := m.mu.byStream[st.Name()]
	if byName == nil {
		byName = make(map[string]*Consumer)
		m.mu.byStream[st.Name()] = byName
	}
	byName[cfg.Name] = c
	m.mu.Unlock()
	c.start()
	return c, nil
}

func sameConfig(a, b Config) bool {
	return a.DeliverSubject == b.DeliverSubject && a.DeliverPolicy == b.DeliverPolicy &&
		a.OptStartSeq == b.OptStartSeq && a.OptStartTime.Equal(b.OptStartTime) &&
		slices.Equal(a.FilterSubjects, b.FilterSubjects) && a.HeadersOnly == b.HeadersOnly &&
		a.FlowControl == b.FlowControl && a.IdleHeartbeat == b.IdleHeartbeat
}

// forget drops a consumer that stopped by itself.
func (m *Manager) forget(c *Consumer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if byName := m.mu.byStream[c.sname]; byName[c.cfg.Name] == c {
		delete(byName, c.cfg.Name)
		if len(byName) == 0 {
			delete(m.mu.byStream, c.sname)
		}
	}
}

// Get returns a consumer, or ErrNotFound.
func (m *Manager) Get(stream, name string) (*Consumer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.mu.byStream[stream][name]; c != nil {
		return c, nil
	}
	return nil, ErrNotFound
}

// Delete stops and removes a consumer, or returns ErrNotFound.
func (m *Manager) Delete(stream, name string) error {
	m.mu.Lock()
	c := m.mu.byStream[stream][name]
	if c != nil {
		delete(m.mu.byStream[stream], name)
	}
	m.mu.Unlock()
	if c == nil {
		return ErrNotFound
	}
	c.Stop()
	return nil
}

// List returns a stream's consumers sorted by name.
func (m *Manager) List(stream string) []*Consumer {
	m.mu.Lock()
	out := make([]*Consumer, 0, len(m.mu.byStream[stream]))
	for _, c := range m.mu.byStream[stream] {
		out = append(out, c)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b *Consumer) int {
		switch {
		case a.cfg.Name < b.cfg.Name:
			return -1
		case a.cfg.Name > b.cfg.Name:
			return 1
		}
		return 0
	})
	return out
}

// Count returns the number of consumers of a stream.
func (m *Manager) Count(stream string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mu.byStream[stream])
}

// DeleteStream stops every consumer of a stream (the stream was
// deleted).
func (m *Manager) DeleteStream(stream string) {
	m.DetachStream(stream)()
}

// DetachStream forgets every consumer of a stream at once and returns
// the function that stops them. Stopping waits for their delivery
// goroutines, which may be running in-process handlers (a deliver
// subject in the JetStream API), so a caller holding a lock such a
// handler takes detaches under it and stops after releasing it.
func (m *Manager) DetachStream(stream string) (stop func()) {
	m.mu.Lock()
	byName := m.mu.byStream[stream]
	delete(m.mu.byStream, stream)
	m.mu.Unlock()
	return func() {
		for _, c := range byName {
			c.Stop()
		}
	}
}

// Close stops every consumer.
func (m *Manager) Close() {
	m.mu.Lock()
	m.mu.closed = true
	all := m.mu.byStream
	m.mu.byStream = map[string]map[string]*Consumer{}
	m.mu.Unlock()
	for _, byName := range all {
		for _, c := range byName {
			c.Stop()
		}
	}
}

// NewName returns an 8-character ephemeral consumer name.
func NewName() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
