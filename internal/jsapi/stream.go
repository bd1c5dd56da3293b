package jsapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/store"
	"github.com/cairn-db/cairn/internal/subject"
)

// stream is a live stream: its configuration, its store, and its
// subscriptions on the bus.
type stream struct {
	api     *API
	st      store.Stream
	name    string
	created time.Time

	// pubAckPrefix is `{"stream":"<name>","seq":`, the fixed start of
	// every PubAck.
	pubAckPrefix []byte

	// snap is the current configuration with what is derived from it;
	// an update replaces it whole, readers never lock.
	snap atomic.Pointer[snapshot]

	// pubMu is taken shared by every publish and exclusively by a
	// publish with Nats-Expected-Last-Msg-Id, whose check must not
	// interleave with other appends.
	pubMu     sync.RWMutex
	lastMsgID struct {
		sync.Mutex
		id string
	}

	unsubs      []func()
	cancelWatch func()

	// rep is the stream's group when it is replicated (nil: R1); s.st
	// is then rep. lead guards the subscriptions of a replicated
	// stream, which follow its leadership (replicated.go).
	rep  Replicated
	lead struct {
		sync.Mutex
		stopped, subscribed bool
	}
}

// snapshot is an immutable view of a stream's configuration.
type snapshot struct {
	cfg   StreamConfig
	repub *republisher // nil without republish
	// kvPrefix is "$KV.<bucket>." when the stream is a KV bucket (named
	// KV_<bucket>, capturing exactly $KV.<bucket>.>): published keys must
	// then be valid KV keys.
	kvPrefix string
}

// kvBucket returns the bucket a stream configuration describes, or "".
func kvBucket(cfg *StreamConfig) string {
	bucket, ok := strings.CutPrefix(cfg.Name, "KV_")
	if !ok || len(cfg.Subjects) != 1 || cfg.Subjects[0] != "$KV."+bucket+".>" {
		return ""
	}
	return bucket
}

// meta is what jsapi keeps in the store's meta blob for a stream.
type meta struct {
	Config  StreamConfig `json:"config"`
	Created time.Time    `json:"created"`
}

// toStoreConfig maps a normalized JetStream configuration onto the
// store's limits. -1 ("unlimited") becomes 0. Durations are clamped to
// maxDeadlineDuration: nats-server accepts any max_age, and a deadline
// computed from math.MaxInt64 nanoseconds would wrap.
func toStoreConfig(c *StreamConfig) store.Config {
	pos := func(v int64) int64 { return max(v, 0) }
	sc := store.Config{
		Name:                   c.Name,
		Subjects:               append([]string(nil), c.Subjects...),
		MaxMsgs:                pos(c.MaxMsgs),
		MaxBytes:               pos(c.MaxBytes),
		MaxAge:                 clampDuration(c.MaxAge),
		MaxMsgSize:             max(c.MaxMsgSize, 0),
		MaxMsgsPerSubject:      pos(c.MaxMsgsPer),
		DuplicateWindow:        clampDuration(c.Duplicates),
		AllowMsgTTL:            c.AllowMsgTTL,
		SubjectDeleteMarkerTTL: clampDuration(c.SubjectDeleteMarkerTTL),
	}
	if c.Storage == StorageMemory {
		sc.Storage = store.MemoryStorage
	}
	if c.Discard == DiscardNew {
		sc.Discard = store.DiscardNew
	}
	sc.Driven = c.Replicas > 1 // replicas apply their group's log
	return sc
}

func encodeMeta(cfg *StreamConfig, created time.Time) ([]byte, error) {
	return json.Marshal(meta{Config: *cfg, Created: created})
}

// openStream wraps a store stream and subscribes it to the bus.
func (a *API) openStream(st store.Stream, cfg StreamConfig, created time.Time) (*stream, error) {
	s := &stream{api: a, st: st, name: cfg.Name, created: created}
	s.pubAckPrefix = append(appendJSONString([]byte(`{"stream":`), cfg.Name), `,"seq":`...)
	if err := s.applyConfig(&cfg); err != nil {
		return nil, err
	}
	s.cancelWatch = st.Subscribe(s.stored)
	if rep, ok := st.(Replicated); ok {
		// Subscribed by leaderChanged while this replica leads.
		s.rep = rep
		rep.OnLeader(s.leaderChanged)
		return s, nil
	}
	if err := s.subscribe(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// applyConfig installs cfg's derived state (the republish mapping).
func (s *stream) applyConfig(cfg *StreamConfig) error {
	var rp *republisher
	if cfg.RePublish != nil {
		m, err := newMapping(cfg.RePublish.Source, cfg.RePublish.Destination)
		if err != nil {
			return fmt.Errorf("jsapi: stream %s: republish: %w", cfg.Name, err)
		}
		rp = newRepublisher(m, cfg.RePublish.HeadersOnly)
	}
	sn := &snapshot{cfg: *cfg, repub: rp}
	if bucket := kvBucket(cfg); bucket != "" {
		sn.kvPrefix = "$KV." + bucket + "."
	}
	s.snap.Store(sn)
	if !cfg.AllowAtomicPublish {
		s.api.dropAtomicBatches(s) // batch.go: as nats-server, on an update turning it off
	}
	return nil
}

// subscribe registers the ingest handler on every stream subject and,
// with allow_direct, the two DIRECT.GET forms.
func (s *stream) subscribe() error {
	type route struct {
		subject string
		h       Handler
	}
	cfg := s.config()
	routes := make([]route, 0, len(cfg.Subjects)+2)
	for _, subj := range cfg.Subjects {
		routes = append(routes, route{subj, s.ingest})
	}
	if cfg.AllowDirect {
		routes = append(routes,
			route{directGetPrefix + s.name, s.directGet},
			route{directGetPrefix + s.name + ".>", s.directGetLast})
	}
	for _, r := range routes {
		unsub, err := s.api.bus.Subscribe(r.subject, r.h)
		if err != nil {
			return fmt.Errorf("jsapi: stream %s: subscribe %s: %w", s.name, r.subject, err)
		}
		s.unsubs = append(s.unsubs, unsub)
	}
	return nil
}

// resubscribe replaces the bus subscriptions after a config change.
func (s *stream) resubscribe() error {
	s.unsubscribe()
	return s.subscribe()
}

func (s *stream) unsubscribe() {
	for _, u := range s.unsubs {
		u()
	}
	s.unsubs = nil
}

// stop detaches the stream from the bus and from the store's
// notifications. It does not delete anything.
func (s *stream) stop() {
	s.lead.Lock()
	s.lead.stopped = true
	s.unsubscribe()
	s.lead.Unlock()
	if s.rep != nil {
		s.rep.Stop() // outside s.lead: its goroutine may be waiting for it
	}
	s.api.dropAtomicBatches(s) // batch.go
	if s.cancelWatch != nil {
		s.cancelWatch()
		s.cancelWatch = nil
	}
}

// config returns the current configuration.
func (s *stream) config() StreamConfig {
	return s.snap.Load().cfg
}

// info builds the stream info; with a non-empty filter the per-subject
// counts are included (paged by offset), and with details the deleted
// sequences.
func (s *stream) info(dynamicMeta bool) *StreamInfo {
	cfg := s.config()
	if dynamicMeta {
		cfg = withDynamicMetadata(cfg, s.api.opts.ServerVersion, s.api.opts.APILevel)
	}
	return &StreamInfo{
		Config:    cfg,
		Created:   s.created,
		State:     s.state(),
		TimeStamp: now(),
	}
}

// state converts the store's counters to the wire form.
func (s *stream) state() StreamState {
	st := s.st.State()
	ss := StreamState{
		Msgs:        st.Msgs,
		Bytes:       st.Bytes,
		FirstSeq:    st.FirstSeq,
		FirstTime:   wireTime(st.FirstTime),
		LastSeq:     st.LastSeq,
		LastTime:    wireTime(st.LastTime),
		NumSubjects: st.NumSubjects,
		NumDeleted:  st.NumDeleted,
	}
	if s.api.consumers != nil {
		ss.Consumers = s.api.consumers.Count(s.name)
	}
	// A stream that never held a message reports 0, not 1, as its first
	// sequence (as nats-server does).
	if st.LastSeq == 0 && st.Msgs == 0 {
		ss.FirstSeq = 0
	}
	return ss
}

// wireTime converts store nanoseconds to a UTC time; 0 is the zero time
// ("0001-01-01T00:00:00Z" on the wire).
func wireTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// loadStreams opens every stream the store holds. A stream whose meta
// cannot be read is skipped with a warning rather than stopping the
// others.
func (a *API) loadStreams() error {
	for _, st := range a.st.Streams() {
		if st.Config().Driven {
			// A replica: attached to its group by EnsureReplica once
			// the metadata group says this server still holds it.
			a.dormant[st.Name()] = st
			continue
		}
		var m meta
		if err := json.Unmarshal(st.Meta(), &m); err != nil {
			// Like any corruption: refuse to start rather than serve
			// without the stream (docs/STORE.md, recovering).
			return &store.CorruptError{Stream: st.Name(), Problem: "unreadable stream configuration", Err: err}
		}
		s, err := a.openStream(st, m.Config, m.Created)
		if err != nil {
			return err
		}
		a.mu.streams[s.name] = s
		a.replaceSubjects(nil, m.Config.Subjects)
	}
	return nil
}

// overlaps reports whether subjects collide with another stream's. It
// asks the trie of every stream's subjects (a.subjects), with the
// stream's own current subjects taken out meanwhile, so the cost follows
// the new subjects, not the number of streams times their subjects.
// Callers hold a.ctl.
func (a *API) overlaps(name string, subjects []string) bool {
	var own []string
	if s := a.lookup(name); s != nil {
		own = s.config().Subjects
	}
	for _, o := range own {
		a.subjects.remove(o)
	}
	defer func() {
		for _, o := range own {
			a.subjects.insert(o)
		}
	}()
	for _, s := range subjects {
		if a.subjects.overlaps(s) {
			return true
		}
	}
	return false
}

// replaceSubjects updates the trie of every stream's subjects after a
// change. Callers hold a.ctl.
func (a *API) replaceSubjects(old, cur []string) {
	for _, o := range old {
		a.subjects.remove(o)
	}
	for _, c := range cur {
		a.subjects.insert(c)
	}
}

// republishCycle reports whether, with cfg in place of the stream of the
// same name, republished messages could come back to a stream they came
// from through other streams' subjects. Republishing happens
// synchronously inside the store's delivery to subscribers, so such a
// loop would deadlock; nats-server only checks a stream against itself.
func (a *API) republishCycle(cfg *StreamConfig) bool {
	return a.flowCycle(cfg.Name, cfg, "", false)
}

// deliveryCycle reports whether, with cfg (when not nil) in place of the
// stream of the same name and a consumer of stream from delivering to
// deliver (when not empty), messages could come back to a stream they
// came from through consumers' deliver subjects and republish
// destinations landing in other streams' subjects: stream A's consumer
// delivering into B while B's consumer or republish feeds A stores every
// message again and again, forever. 10081 refuses this loop within one
// stream; nats-server does not look across streams.
func (a *API) deliveryCycle(from string, cfg *StreamConfig, deliver string) bool {
	return a.flowCycle(from, cfg, deliver, true)
}

// flowCycle reports whether messages leaving stream start can come back
// to it: through start's republish destination and, with consumers,
// its consumers' deliver subjects (or only through extra, one more
// deliver subject of start, when it is not empty), landing in streams
// whose own republish or consumers lead on. A consumer create looks
// only from its deliver subject, which usually lands in no stream, so
// the many consumers of a busy stream are not listed for each creation.
func (a *API) flowCycle(start string, cfg *StreamConfig, extra string, consumers bool) bool {
	cfgs := make(map[string]*StreamConfig)
	a.mu.RLock()
	for name, s := range a.mu.streams {
		c := s.config()
		cfgs[name] = &c
	}
	a.mu.RUnlock()
	if cfg != nil {
		cfgs[cfg.Name] = cfg
	}
	var anyStream subjectTrie
	for _, c := range cfgs {
		for _, subj := range c.Subjects {
			anyStream.insert(subj)
		}
	}
	// targets returns the streams with a subject overlapping one of dests.
	targets := func(dests []string) []string {
		dests = slices.DeleteFunc(dests, func(d string) bool { return !anyStream.overlaps(d) })
		if len(dests) == 0 {
			return nil
		}
		var out []string
		for name, c := range cfgs {
			if slices.ContainsFunc(c.Subjects, func(subj string) bool {
				return slices.ContainsFunc(dests, func(d string) bool { return subject.Overlap(d, subj) })
			}) {
				out = append(out, name)
			}
		}
		return out
	}
	// dests returns where a stream's messages are sent.
	dests := func(name string) []string {
		var out []string
		if c := cfgs[name]; c != nil && c.RePublish != nil {
			out = append(out, destPattern(c.RePublish.Destination))
		}
		if consumers && a.consumers != nil {
			for _, c := range a.consumers.List(name) {
				out = append(out, c.Config().DeliverSubject)
			}
		}
		return out
	}
	seen := make(map[string]bool)
	var reaches func(name string) bool // whether start is reachable from name
	reaches = func(name string) bool {
		if name == start {
			return true
		}
		if seen[name] {
			return false
		}
		seen[name] = true
		return slices.ContainsFunc(targets(dests(name)), reaches)
	}
	first := []string{extra}
	if extra == "" {
		first = dests(start)
	}
	return slices.ContainsFunc(targets(first), reaches)
}

// createStream creates a stream from a normalized configuration, or
// returns the existing one when the configuration is identical.
func (a *API) createStream(cfg StreamConfig) (*stream, *APIError) { return a.createStreamAs(cfg, true) }

// createStreamAs is createStream; fresh tells a replicated stream's
// group that a request to this server created it (ReplicateFunc).
func (a *API) createStreamAs(cfg StreamConfig, fresh bool) (*stream, *APIError) {
	a.ctl.Lock()
	defer a.ctl.Unlock()
	defer a.lockGroup()()
	setStaticMetadata(&cfg)
	if s := a.lookup(cfg.Name); s != nil {
		if !sameConfig(s.config(), cfg) {
			return nil, errStreamNameExist
		}
		return s, nil
	}
	if e := a.checkLimits(&cfg, nil); e != nil {
		return nil, e
	}
	if a.overlaps(cfg.Name, cfg.Subjects) {
		return nil, errSubjectOverlap
	}
	if a.republishCycle(&cfg) {
		return nil, errRepublishCycle
	}
	if a.deliveryCycle(cfg.Name, &cfg, "") {
		return nil, errConsumerDeliverCycle
	}
	created := now()
	blob, err := encodeMeta(&cfg, created)
	if err != nil {
		return nil, errStreamCreateF(err)
	}
	if _, ok := a.dormant[cfg.Name]; ok {
		return nil, errStreamNameExist // a replica not attached yet
	}
	st, err := a.st.CreateStream(toStoreConfig(&cfg), blob)
	if err != nil {
		return nil, errStreamCreateF(err)
	}
	var s *stream
	if a.replicated(&cfg) {
		s, err = a.openReplica(st, cfg, created, fresh)
	} else {
		s, err = a.openStream(st, cfg, created)
	}
	if err != nil {
		_ = a.st.DeleteStream(cfg.Name)
		return nil, errStreamCreateF(err)
	}
	a.mu.Lock()
	a.mu.streams[cfg.Name] = s
	a.mu.Unlock()
	a.replaceSubjects(nil, cfg.Subjects)
	return s, nil
}

// consumerCycle reports whether new subjects of a stream would capture
// the deliver subject of one of its consumers: the loop that consumer
// creation refuses (10081), reached the other way round. nats-server
// does not check updates; an endless loop is worse than a refusal.
func (a *API) consumerCycle(cfg *StreamConfig) bool {
	if a.consumers == nil {
		return false
	}
	for _, c := range a.consumers.List(cfg.Name) {
		if deliveryFormsCycle(cfg.Subjects, c.Config().DeliverSubject) {
			return true
		}
	}
	return false
}

// sameConfig compares two stored configurations.
func sameConfig(a, b StreamConfig) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// updateStream applies a normalized configuration to an existing stream.
func (a *API) updateStream(cfg StreamConfig) (*stream, *APIError) {
	a.ctl.Lock()
	defer a.ctl.Unlock()
	defer a.lockGroup()()
	s := a.lookup(cfg.Name)
	if s == nil {
		return nil, errStreamNotFound
	}
	old := s.config()
	if e := checkUpdate(&old, &cfg); e != nil {
		return nil, e
	}
	if old.Replicas != cfg.Replicas {
		var e *APIError
		if s, e = a.changeReplicas(s, &old, &cfg); e != nil {
			return nil, e
		}
	}
	if e := a.checkLimits(&cfg, &old); e != nil {
		return nil, e
	}
	if a.consumerCycle(&cfg) {
		return nil, errConsumerDeliverCycle
	}
	if a.overlaps(cfg.Name, cfg.Subjects) {
		return nil, errSubjectOverlap
	}
	if a.republishCycle(&cfg) {
		return nil, errRepublishCycle
	}
	if a.deliveryCycle(cfg.Name, &cfg, "") {
		return nil, errConsumerDeliverCycle
	}
	setStaticMetadata(&cfg)
	blob, err := encodeMeta(&cfg, s.created)
	if err != nil {
		return nil, errStreamUpdateF(err)
	}
	if err := s.st.UpdateConfig(toStoreConfig(&cfg), blob); err != nil {
		return nil, errStreamUpdateF(err)
	}
	a.replaceSubjects(old.Subjects, cfg.Subjects)
	if err := s.applyConfig(&cfg); err != nil {
		return nil, errStreamUpdateF(err)
	}
	// Subscriptions are replaced only when they change: in between, the
	// stream's subjects have no interest.
	if s.rep != nil && (!slices.Equal(old.Subjects, cfg.Subjects) || old.AllowDirect != cfg.AllowDirect) {
		if err := s.refreshSubscriptions(); err != nil {
			return nil, errStreamUpdateF(err)
		}
	} else if !slices.Equal(old.Subjects, cfg.Subjects) || old.AllowDirect != cfg.AllowDirect {
		if err := s.resubscribe(); err != nil {
			return nil, errStreamUpdateF(err)
		}
	}
	return s, nil
}

// deleteStream removes a stream and its messages.
func (a *API) deleteStream(name string) *APIError {
	stop, e := a.detachStream(name)
	// The consumers stop after a.ctl is released: a consumer delivering
	// into the JetStream API runs stream requests on its own goroutine,
	// which take a.ctl, and Stop waits for that goroutine.
	stop()
	return e
}

// detachStream deletes a stream under a.ctl and returns the function
// that stops its consumers. The store's stream is closed before the
// consumers are detached: a consumer registered by a creation racing the
// deletion is either detached here or reads the closed stream first
// (ErrClosed) and goes away, never left idle on a deleted stream.
func (a *API) detachStream(name string) (stop func(), e *APIError) {
	a.ctl.Lock()
	defer a.ctl.Unlock()
	s := a.lookup(name)
	if s == nil {
		return func() {}, errStreamNotFound
	}
	s.stop()
	a.mu.Lock()
	delete(a.mu.streams, name)
	a.mu.Unlock()
	a.replaceSubjects(s.config().Subjects, nil)
	if s.rep != nil {
		if err := s.rep.Remove(); err != nil {
			a.opts.Logf("JetStream: stream %s: removing its group: %v", name, err)
		}
	}
	err := a.st.DeleteStream(name)
	stop = func() {}
	if a.consumers != nil {
		stop = a.consumers.DetachStream(name)
	}
	if err != nil && !errors.Is(err, store.ErrStreamNotFound) {
		return stop, errStreamDeleteF(err)
	}
	return stop, nil
}
