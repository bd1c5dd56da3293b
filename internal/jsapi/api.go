package jsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/consumer"
	"github.com/cairn-db/cairn/internal/store"
)

// API subjects (ADR-1). Requests arrive on these; the stream name is the
// fifth token ($JS.API.STREAM.INFO.<stream>) or, for message requests,
// the sixth.
const (
	apiPrefix       = "$JS.API."
	subjAccountInfo = "$JS.API.INFO"
	subjCreate      = "$JS.API.STREAM.CREATE.*"
	subjUpdate      = "$JS.API.STREAM.UPDATE.*"
	subjInfo        = "$JS.API.STREAM.INFO.*"
	subjDelete      = "$JS.API.STREAM.DELETE.*"
	subjNames       = "$JS.API.STREAM.NAMES"
	subjList        = "$JS.API.STREAM.LIST"
	subjPurge       = "$JS.API.STREAM.PURGE.*"
	subjMsgGet      = "$JS.API.STREAM.MSG.GET.*"
	// subjLeaderStepdown: $JS.API.STREAM.LEADER.STEPDOWN.<stream>.
	subjLeaderStepdown = "$JS.API.STREAM.LEADER.STEPDOWN.*"
	// subjRemovePeer: $JS.API.STREAM.PEER.REMOVE.<stream>.
	subjRemovePeer  = "$JS.API.STREAM.PEER.REMOVE.*"
	subjMsgDelete   = "$JS.API.STREAM.MSG.DELETE.*"
	directGetPrefix = "$JS.API.DIRECT.GET."
)

// DefaultAPILevel is the JetStream API level Cairn reports: level 1
// brings per-message TTLs and subject delete markers (ADR-43), level 2
// atomic batch publish (ADR-50), which Cairn implements (natscli asks
// for level 2 before it sets allow_atomic or publishes a batch); the
// other features of level 2 and later (counters, schedules, fast
// batches) it refuses by name.
const DefaultAPILevel = 2

// Options configures the API.
type Options struct {
	// ServerName is reported as the stream leader in stream info.
	ServerName string
	// ClusterName is reported as the cluster of streams and consumers
	// ("" for a server alone, which reports none, as nats-server).
	ClusterName string
	// ServerVersion is reported in stream metadata ("_nats.ver").
	ServerVersion string
	// APILevel is the JetStream API level reported; default
	// DefaultAPILevel.
	APILevel int
	// Consumers runs the push consumers behind the CONSUMER.* endpoints
	// (watchers, key listing, history). Nil disables those endpoints.
	Consumers *consumer.Manager
	// Logf receives warnings (a stream that fails to load, a failed
	// expiry); nil discards them.
	Logf func(format string, args ...any)

	// MaxMemoryStore and MaxFileStore bound the bytes of memory and file
	// streams (nats-server's jetstream max_memory_store and
	// max_file_store): a stream whose max_bytes does not fit in what the
	// others reserve is refused (10028 / 10047), and once the bytes
	// stored reach the limit publishes are refused (10023). 0 or
	// negative: no limit.
	MaxMemoryStore, MaxFileStore int64
	// MaxConsumers caps the consumers of the whole server (10026 beyond
	// it); 0 means DefaultMaxConsumers, negative no limit.
	MaxConsumers int
	// Account, when set, are the limits of the account the API serves:
	// enforced on top of the server's and reported by $JS.API.INFO. Nil
	// is the global account of a server without accounts, whose limits
	// are the server's.
	Account *AccountLimits
	// Group, when set, holds the APIs of every account of the server:
	// the server limits above bound their streams together (group.go).
	Group *Group
	// MaxInactiveThreshold is the longest inactive_threshold an
	// ephemeral consumer gets; longer requests are clamped to it. 0 means
	// DefaultMaxInactiveThreshold, negative no limit beyond
	// maxDeadlineDuration.
	MaxInactiveThreshold time.Duration
	// Batch bounds the atomic batches being published (batch.go);
	// zero values take nats-server's defaults.
	Batch BatchLimits
	// Replicate, on a cluster, attaches a stream of num_replicas > 1
	// to its Raft group (replicated.go). Nil: such a stream is refused
	// (a server alone).
	Replicate ReplicateFunc
	// Placer moves replicated streams' replicas (replicas_change.go).
	Placer Placer
}

// API serves the JetStream JSON API and stores messages published to
// stream subjects. Its methods are safe for concurrent use.
type API struct {
	bus       Bus
	st        *store.Store
	opts      Options
	consumers *consumer.Manager // nil: no consumer API

	unsubs []func()

	// ctl serialises stream creation, update and deletion, so that the
	// subject-overlap check and the change are atomic.
	ctl sync.Mutex
	// creating counts the consumers being created, per stream, so that
	// concurrent creations cannot pass the consumer limits together
	// (limits.go reserveConsumer). Held only to check and count; taken
	// before mu and the consumer manager's lock.
	creating struct {
		sync.Mutex
		names map[string]map[string]int // stream → consumer name → creations
	}
	usage usage
	// batches holds the atomic batches being staged (batch.go).
	batches atomicBatches
	// subjects holds every stream's subjects, for the overlap check of
	// a create or update. Guarded by ctl.
	subjects subjectTrie

	// dormant holds the replicated streams loaded from the store and
	// not attached to their group yet (replicated.go). Guarded by ctl.
	dormant map[string]store.Stream

	mu struct {
		sync.RWMutex
		streams map[string]*stream
		closed  bool
	}

	total, errors atomic.Uint64
}

// New starts the API: it loads every stream found in st, subscribes to
// their subjects and to the API subjects. Call Close to stop it.
func New(bus Bus, st *store.Store, opts Options) (*API, error) {
	if opts.APILevel == 0 {
		opts.APILevel = DefaultAPILevel
	}
	if opts.ServerVersion == "" {
		opts.ServerVersion = "2.11.0"
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	opts.MaxMemoryStore = limitOr(max(opts.MaxMemoryStore, 0), -1)
	opts.MaxFileStore = limitOr(max(opts.MaxFileStore, 0), -1)
	opts.MaxConsumers = limitOr(opts.MaxConsumers, DefaultMaxConsumers)
	opts.MaxInactiveThreshold = min(limitOr(opts.MaxInactiveThreshold, DefaultMaxInactiveThreshold), maxDeadlineDuration)
	if opts.MaxInactiveThreshold < 0 {
		opts.MaxInactiveThreshold = maxDeadlineDuration
	}
	opts.Batch = opts.Batch.withDefaults()
	if l := opts.Account; l != nil {
		c := *l
		c.MaxMemory = limitOr(max(c.MaxMemory, 0), -1)
		c.MaxFile = limitOr(max(c.MaxFile, 0), -1)
		opts.Account = &c
	}
	a := &API{bus: bus, st: st, opts: opts, consumers: opts.Consumers}
	a.mu.streams = make(map[string]*stream)
	a.dormant = make(map[string]store.Stream)
	if opts.Group != nil {
		opts.Group.join(a)
	}
	if err := a.loadStreams(); err != nil {
		a.Close()
		return nil, err
	}
	endpoints := []struct {
		subject string
		h       func(req *request)
	}{
		{subjAccountInfo, a.accountInfo},
		{subjCreate, a.streamCreate},
		{subjUpdate, a.streamUpdate},
		{subjInfo, a.streamInfo},
		{subjDelete, a.streamDelete},
		{subjNames, a.streamNames},
		{subjList, a.streamList},
		{subjPurge, a.streamPurge},
		{subjMsgGet, a.msgGet},
		{subjMsgDelete, a.msgDelete},
		{subjSnapshot, a.streamSnapshot},
		{subjRestore, a.streamRestore},
		{subjLeaderStepdown, a.streamLeaderStepdown},
		{subjRemovePeer, a.streamRemovePeer},
	}
	for _, e := range endpoints {
		if err := a.handle(e.subject, e.h); err != nil {
			a.Close()
			return nil, err
		}
	}
	if a.consumers != nil {
		if err := a.registerConsumerAPI(); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// Close unsubscribes everything and stops the streams' timers. It does
// not close the store.
func (a *API) Close() {
	a.mu.Lock()
	if a.mu.closed {
		a.mu.Unlock()
		return
	}
	a.mu.closed = true
	streams := a.mu.streams
	a.mu.streams = map[string]*stream{}
	a.mu.Unlock()
	if a.opts.Group != nil {
		// After a.mu is released: no lock is held across the two.
		a.opts.Group.leave(a)
	}
	for _, u := range a.unsubs {
		u()
	}
	for _, s := range streams {
		s.stop()
	}
}

// request is one API request being answered.
type request struct {
	subject, reply string
	hdr, data      []byte
	caller         Caller // nil: unrestricted
}

// handle subscribes h to an API subject. Requests without a reply
// subject cannot be answered and are ignored, as nats-server does.
func (a *API) handle(subject string, h func(req *request)) error {
	serve := func(c Caller, subj, reply string, hdr, data []byte) {
		if reply == "" {
			return
		}
		a.total.Add(1)
		h(&request{subject: subj, reply: reply, hdr: hdr, data: data, caller: c})
	}
	var unsub func()
	var err error
	if cb, ok := a.bus.(CallerBus); ok {
		unsub, err = cb.SubscribeCaller(subject, serve)
	} else {
		unsub, err = a.bus.Subscribe(subject, func(subj, reply string, hdr, data []byte) { serve(nil, subj, reply, hdr, data) })
	}
	if err != nil {
		return fmt.Errorf("jsapi: subscribe %s: %w", subject, err)
	}
	a.unsubs = append(a.unsubs, unsub)
	return nil
}

// respond sends v as the JSON answer to req, counting errors. v must
// embed apiResponse; errored says whether it carries an error.
func (a *API) respond(req *request, v any, errored bool) {
	if errored {
		a.errors.Add(1)
		observeError(responseError(v))
	}
	b, err := json.Marshal(v)
	if err != nil {
		a.opts.Logf("jsapi: encoding %T: %v", v, err)
		return
	}
	a.bus.Publish(req.reply, "", nil, b)
}

// respondError answers req with only a type and an error.
func (a *API) respondError(req *request, typ string, e *APIError) {
	a.respond(req, &apiResponse{Type: typ, Error: e}, true)
}

// checkLevel refuses requests that need a newer API level than Cairn's.
func (a *API) checkLevel(req *request, typ string) bool {
	if requiredAPILevelTooHigh(req.hdr, a.opts.APILevel) {
		a.respondError(req, typ, errRequiredAPILevel)
		return false
	}
	return true
}

// lookup returns the stream named name, or nil.
func (a *API) lookup(name string) *stream {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.mu.streams[name]
}

// token returns the n-th (0-based) '.'-separated token of s.
func token(s string, n int) string {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if n == 0 {
				return s[start:i]
			}
			n--
			start = i + 1
		}
	}
	return ""
}

// decodeRequest decodes an API request body as nats-server does in its
// default strict mode: unknown fields are an error, syntax errors name
// their offset, an empty body decodes to the zero value, and several
// JSON values in a row are decoded in turn.
func decodeRequest(data []byte, v any) error { return DecodeRequest(data, v) }

// DecodeRequest decodes an API request body as the API does (unknown
// fields an error, a syntax error naming its offset), for the parts of
// the API answered outside this package (internal/jsfront).
func DecodeRequest(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	for {
		err := dec.Decode(v)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var syntax *json.SyntaxError
			if errors.As(err, &syntax) {
				err = fmt.Errorf("%w at offset %d", err, syntax.Offset)
			}
			return err
		}
	}
}

// isEmptyRequest reports a body that asks for nothing: empty or "{}".
func isEmptyRequest(data []byte) bool {
	if len(data) == 0 || string(data) == "{}" {
		return true
	}
	var v any
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// isJSONObjectOrArray reports whether data starts, after white space,
// with '{' or '['; other bodies of optional-body requests are ignored.
func isJSONObjectOrArray(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}

// now is the clock, UTC as on the wire.
func now() time.Time { return time.Now().UTC() }
