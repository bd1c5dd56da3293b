package jsfront

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cairn-db/cairn/internal/jsapi"
)

// Meta is what the front needs of the metadata group. Lookups read the
// node's applied state; the others are Raft proposals, which fail with
// an error when the group has no quorum before ctx ends.
type Meta interface {
	// Holder returns the node holding stream in account.
	Holder(account, stream string) (node string, ok bool)
	// Place proposes node as stream's holder and returns the holder the
	// group committed (another node's when the name was taken first).
	Place(ctx context.Context, account, stream, node string, cfg json.RawMessage) (holder string, err error)
	// Release removes the placement if it is still node's.
	Release(ctx context.Context, account, stream, node string) error
	// Define records stream's configuration if node still holds it.
	Define(ctx context.Context, account, stream, node string, cfg json.RawMessage) error
	// Load returns how many streams each node holds (all accounts).
	Load() map[string]int
	// Streams returns the holder of each stream of account, by name.
	Streams(account string) map[string]string
}

// Net is what the front needs of the route layer.
type Net interface {
	// SendTo hands a request to the named peer's JetStream API; false
	// when there is no route to it or its buffer is full.
	SendTo(peer, account string, subject, reply, hdr, data []byte) bool
	// Peers returns the server names of the connected peers.
	Peers() []string
}

// Local is this node's JetStream, by account.
type Local interface {
	// Publish publishes in account, as an in-process publisher.
	Publish(account, subject, reply string, hdr, data []byte)
	// StreamConfig returns the configuration of a stream this node
	// holds, or false.
	StreamConfig(account, stream string) (json.RawMessage, bool)
}

// Options configure a Front.
type Options struct {
	Name string // this node's server name
	// Cluster is the cluster's name (for a META.LEADER.STEPDOWN
	// request's placement.cluster); "" matches any.
	Cluster string
	Meta    Meta
	Net     Net
	Local   Local
	Logf    func(format string, args ...any)
	// Timeout bounds a placement and a gathering; default 4 s (nats.go
	// waits 5 s for an API answer).
	Timeout time.Duration
	// MaxPending bounds, for each kind, the gatherings, the placements
	// (and catch-ups) and the metadata records in progress; default
	// 256. Past it, requests of that kind are answered "temporarily
	// unavailable".
	MaxPending int
}

// Front routes one node's JetStream API requests. Its methods are safe
// for concurrent use.
type Front struct {
	opts Options
	// The goroutines in progress are bounded per kind of work, so that
	// a flood of one (say STREAM.LIST, which may wait for a slow peer)
	// cannot refuse the others: gatherings, placements and catch-ups
	// (changes), and the metadata records that follow an answer.
	gathers, changes, records chan struct{}
	inbox                     string // "$CRN.JSR.<hash of name>."

	mu struct {
		sync.Mutex
		next    uint64
		waiting map[inboxKey]chan []byte
		closed  bool
	}
	wg sync.WaitGroup
}

// New returns a Front; Close stops it.
func New(opts Options) *Front {
	if opts.Timeout <= 0 {
		opts.Timeout = 4 * time.Second
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 256
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	// The inbox names the node by a hash: a server name may hold
	// characters a subject token may not.
	h := fnv.New64a()
	h.Write([]byte(opts.Name))
	inbox := "$CRN.JSR." + strconv.FormatUint(h.Sum64(), 36) + "."
	f := &Front{opts: opts, inbox: inbox,
		gathers: make(chan struct{}, opts.MaxPending),
		changes: make(chan struct{}, opts.MaxPending),
		records: make(chan struct{}, opts.MaxPending)}
	f.mu.waiting = make(map[inboxKey]chan []byte)
	return f
}

// Close waits for the requests in progress to end (each is bounded by
// Timeout); later requests are answered locally.
func (f *Front) Close() {
	f.mu.Lock()
	f.mu.closed = true
	f.mu.Unlock()
	f.wg.Wait()
}

// InboxPrefix is the subject prefix of the front's answers ("<prefix>>"
// must be subscribed cluster-visible in every account, delivering to
// Answer).
func (f *Front) InboxPrefix() string { return f.inbox }

// inboxKey is where one node's answer to a gathering is awaited: the
// front's inbox subjects are subscribed in every account, so an answer
// counts only in the account the request was sent in (another
// account's client could publish to the same subject).
type inboxKey struct{ account, subject string }

// Answer delivers an answer published to the front's inbox in account.
func (f *Front) Answer(account, subject string, data []byte) {
	f.mu.Lock()
	ch := f.mu.waiting[inboxKey{account, subject}]
	f.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- append([]byte(nil), data...):
	default: // a second answer to one request: dropped
	}
}

// request is one API request being routed; its slices are copies when
// it outlives the handler's call.
type request struct {
	account, subject, reply string
	hdr, data               []byte
	caller                  jsapi.Caller
	local                   func(c jsapi.Caller, hdr []byte) // runs the local API handler
}

func (r *request) own() {
	r.hdr = append([]byte(nil), r.hdr...)
	r.data = append([]byte(nil), r.data...)
}

// kind of API request, by how the front routes it.
type kind int

const (
	kindLocal  kind = iota // answered here, as on a server alone
	kindStream             // answered by the stream's holder
	kindPlace              // creates a stream: place it, then its holder
	kindGather             // answered from every node's answer
	kindMeta               // answered by the metadata leader (metaleader.go)
)

// classify returns how subject is routed and the stream it names.
func classify(subject string) (kind, string) {
	rest, ok := strings.CutPrefix(subject, "$JS.API.")
	if !ok {
		return kindLocal, ""
	}
	switch rest {
	case "INFO", "STREAM.NAMES", "STREAM.LIST":
		return kindGather, ""
	case "META.LEADER.STEPDOWN":
		return kindMeta, ""
	}
	toks := strings.Split(rest, ".")
	switch {
	case len(toks) == 3 && toks[0] == "STREAM" && (toks[1] == "CREATE" || toks[1] == "RESTORE"):
		if toks[2] == "" {
			return kindLocal, "" // names no stream: nothing to place
		}
		return kindPlace, toks[2]
	case len(toks) == 3 && toks[0] == "STREAM":
		switch toks[1] {
		case "INFO", "UPDATE", "DELETE", "PURGE", "SNAPSHOT":
			return kindStream, toks[2]
		}
	case len(toks) == 4 && toks[0] == "STREAM" && toks[1] == "MSG" && (toks[2] == "GET" || toks[2] == "DELETE"):
		return kindStream, toks[3]
	case len(toks) == 4 && toks[0] == "STREAM" && (toks[1] == "LEADER" && toks[2] == "STEPDOWN" || toks[1] == "PEER" && toks[2] == "REMOVE"):
		// Answered by the stream leader's API (issue 15).
		return kindStream, toks[3]
	case len(toks) >= 4 && toks[0] == "CONSUMER" && toks[1] == "DURABLE" && toks[2] == "CREATE":
		return kindStream, toks[3]
	case len(toks) >= 3 && toks[0] == "CONSUMER":
		switch toks[1] {
		case "CREATE", "INFO", "DELETE", "NAMES", "LIST":
			return kindStream, toks[2]
		}
	}
	return kindLocal, ""
}

// Route handles one request from a client of this node: it calls
// r.local itself, now or later, or sends the request elsewhere.
func (f *Front) route(r *request) {
	k, stream := classify(r.subject)
	if r.reply == "" {
		// The API ignores a request it cannot answer; nothing to
		// record either (a flood of them must not make proposals).
		r.local(r.caller, r.hdr)
		return
	}
	// The front's own requests (a gathering's question to this node)
	// come back here with its inbox as reply and are answered locally.
	// Only gatherings: a client may name the inbox too (its prefix is
	// derived from the server name), and must not reach the local API
	// unrouted with a request about a stream (a create would then make
	// a second stream of a name placed on another node).
	if k == kindLocal || (k == kindGather && strings.HasPrefix(r.reply, f.inbox)) || f.isClosed() {
		r.local(r.caller, r.hdr)
		f.served(r.account, r.subject, stream)
		return
	}
	switch k {
	case kindMeta:
		// Subscribed by ServeMeta in the system account, not through
		// the API's bus: a request reaching here came from another
		// account, which nats-server does not answer.
		return
	case kindStream:
		if f.routeReplicated(r, stream) {
			return
		}
		node, ok := f.opts.Meta.Holder(r.account, stream)
		if ok && node != f.opts.Name {
			f.forward(r, node)
			return
		}
		sm, canSync := f.opts.Meta.(SyncMeta)
		if ok || !canSync {
			r.local(r.caller, r.hdr)
			f.served(r.account, r.subject, stream)
			return
		}
		if _, held := f.opts.Local.StreamConfig(r.account, stream); held {
			// Not placed yet (the group had no leader when it was
			// made): this node has it, and answers.
			r.local(r.caller, r.hdr)
			f.served(r.account, r.subject, stream)
			return
		}
		// No holder known here: this node's copy of the placements may
		// lag behind a creation already acknowledged elsewhere. Catch up
		// with everything committed before answering "not found".
		r.caller = recorded(r.caller, r.subject, r.data)
		f.async(r, f.changes, func() { f.syncThenRoute(r, sm, stream) })
	case kindPlace:
		if f.routeReplicated(r, stream) {
			return // exists, replicated: its leader answers
		}
		if node, ok := f.opts.Meta.Holder(r.account, stream); ok {
			f.sendOrRun(r, node, stream)
			return
		}
		// The requester may only be asked during the handler's call:
		// its answers are recorded for the placement's goroutine.
		r.caller = recorded(r.caller, r.subject, r.data)
		f.async(r, f.changes, func() { f.place(r, stream) })
	case kindGather:
		// As for a placement: the gathering may hand the request to the
		// local handler (a body it cannot read), after this call.
		r.caller = recorded(r.caller, r.subject, r.data)
		f.async(r, f.gathers, func() { f.gather(r) })
	}
}

// SyncMeta is a Meta that can bring this node's applied state up to
// everything committed (Raft's read index). With it, a request naming
// a stream this node knows no holder of is answered only after that
// catch-up, so a stream whose creation was acknowledged on any node is
// found from every node.
type SyncMeta interface {
	Meta
	// Sync returns once the state holds everything committed before
	// the call, or an error when that cannot be confirmed before ctx
	// ends.
	Sync(ctx context.Context) error
}

// syncThenRoute routes r once this node's placements are up to date; a
// group that cannot confirm that answers "temporarily unavailable", as
// nats-server does while it has no metadata leader.
func (f *Front) syncThenRoute(r *request, sm SyncMeta, stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
	defer cancel()
	if err := sm.Sync(ctx); err != nil {
		f.fail(r, jsapi.ErrClusterUnavailable)
		return
	}
	if f.routeReplicated(r, stream) {
		return
	}
	node, ok := f.opts.Meta.Holder(r.account, stream)
	if !ok {
		node = f.opts.Name
	}
	f.sendOrRun(r, node, stream)
}

// sendOrRun answers r here when node is this one, else forwards it.
func (f *Front) sendOrRun(r *request, node, stream string) {
	if node == f.opts.Name {
		r.local(r.caller, r.hdr)
		f.served(r.account, r.subject, stream)
		return
	}
	f.forward(r, node)
}

// forward sends r to node with the requester's recorded permissions,
// or answers that the stream is offline.
func (f *Front) forward(r *request, node string) {
	hdr := withCaller(r.hdr, jsapi.RecordCaller(r.caller, r.subject, r.data))
	if !f.opts.Net.SendTo(node, r.account, []byte(r.subject), []byte(r.reply), hdr, r.data) {
		e := jsapi.ErrClusterUnavailable
		if strings.HasPrefix(r.subject, "$JS.API.STREAM.INFO.") {
			e = jsapi.ErrStreamOffline
		}
		f.fail(r, e)
	}
}

// placedElsewhere answers a creation forwarded by a peer, and reports
// true, when this node's applied state places the stream on another
// node: the peer's view was behind (the name was released here and
// placed again elsewhere), and creating it here would make a second
// stream of one name. A stream placed nowhere yet is created (this
// node may not have applied its placement yet).
func (f *Front) placedElsewhere(account, subject, reply string) bool {
	k, stream := classify(subject)
	if k != kindPlace || reply == "" {
		return false
	}
	if placed, here := f.mine(account, stream); !placed || here {
		return false
	}
	f.fail(&request{account: account, subject: subject, reply: reply}, jsapi.ErrClusterUnavailable)
	return true
}

// fail answers r with e.
func (f *Front) fail(r *request, e *jsapi.APIError) {
	typ := responseType(r.subject)
	f.opts.Local.Publish(r.account, r.reply, "", nil, jsapi.EncodeError(typ, e))
}

// async runs fn on its own goroutine, within the bound of pool;
// past it, r is answered "temporarily unavailable".
func (f *Front) async(r *request, pool chan struct{}, fn func()) {
	select {
	case pool <- struct{}{}:
	default:
		f.fail(r, jsapi.ErrClusterUnavailable)
		return
	}
	if !f.enter() {
		<-pool
		f.fail(r, jsapi.ErrClusterUnavailable) // closed since route looked
		return
	}
	r.own()
	go func() {
		defer func() { <-pool; f.wg.Done() }()
		fn()
	}()
}

// enter counts a goroutine about to start in f.wg, unless the front is
// closed: Close's Wait then covers every goroutine that starts (a
// wg.Add after Wait returned would run it after Close, on a metadata
// group the daemon has closed).
func (f *Front) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.closed {
		return false
	}
	f.wg.Add(1)
	return true
}

func (f *Front) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.closed
}

// place chooses a node for stream, has the metadata group commit it,
// and sends r to the node that won.
func (f *Front) place(r *request, stream string) {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
	defer cancel()
	cfg := json.RawMessage(nil)
	// The client's body is only a first record (the holder's answer
	// records the stream's own configuration): a large one is not
	// copied into every node's metadata log before the holder even
	// looked at it.
	if len(r.data) > 0 && len(r.data) <= maxPlacedConfig && json.Valid(r.data) {
		cfg = r.data
	}
	if f.placeReplicas(ctx, r, stream, cfg) {
		return
	}
	holder, err := f.opts.Meta.Place(ctx, r.account, stream, f.choose(), cfg)
	if err != nil {
		f.opts.Logf("JetStream: placing stream %q of account %q: %v", stream, r.account, err)
		f.fail(r, jsapi.ErrClusterUnavailable)
		return
	}
	f.sendOrRun(r, holder, stream)
}

// maxPlacedConfig bounds the configuration a placement records.
const maxPlacedConfig = 64 << 10

// choose returns the connected node (this one included) holding the
// fewest streams; ties are broken at random so that buckets spread.
func (f *Front) choose() string {
	load := f.opts.Meta.Load()
	nodes := append([]string{f.opts.Name}, f.opts.Net.Peers()...)
	best, bestLoad, ties := "", 0, 0
	for _, n := range nodes {
		l := load[n]
		switch {
		case best == "" || l < bestLoad:
			best, bestLoad, ties = n, l, 1
		case l == bestLoad:
			ties++
			if rand.IntN(ties) == 0 {
				best = n
			}
		}
	}
	return best
}

// served keeps the metadata group's record in step after this node's
// API answered a request about stream: a created or updated stream's
// configuration, a deleted stream's placement. Best effort, off the
// caller's goroutine; a record left behind only reserves the name for
// this node.
func (f *Front) served(account, subject, stream string) {
	if stream == "" || f.isClosed() {
		return
	}
	var op func(ctx context.Context) error
	cfg, held := f.opts.Local.StreamConfig(account, stream)
	switch {
	case held && (strings.HasPrefix(subject, "$JS.API.STREAM.CREATE.") || strings.HasPrefix(subject, "$JS.API.STREAM.UPDATE.")):
		op = func(ctx context.Context) error { return f.define(ctx, account, stream, cfg) }
	case !held && (strings.HasPrefix(subject, "$JS.API.STREAM.DELETE.") || strings.HasPrefix(subject, "$JS.API.STREAM.CREATE.")):
		// Deleted, or a creation this node refused (a bad
		// configuration, a limit): the placement would only reserve
		// the name, and a client could fill the group with them. Only
		// a placement of this node's is released: a request for a
		// stream nobody holds proposes nothing.
		placed, here := f.mine(account, stream)
		if placed && !here {
			return
		}
		isCreate := !strings.HasPrefix(subject, "$JS.API.STREAM.DELETE.")
		if !placed && !isCreate {
			return
		}
		// A creation forwarded by the node that placed the stream here
		// can arrive before this node applied the placement (the
		// placing node waits for its own apply only): wait for it,
		// within the timeout, rather than leave the name reserved.
		op = func(ctx context.Context) error { return f.releaseRefused(ctx, account, stream) }
	default:
		return
	}
	select {
	case f.records <- struct{}{}:
	default:
		f.opts.Logf("JetStream: too many metadata records in progress; stream %q of account %q not recorded", stream, account)
		return
	}
	if !f.enter() {
		<-f.records
		return
	}
	go func() {
		defer func() { <-f.records; f.wg.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
		defer cancel()
		if err := op(ctx); err != nil {
			f.opts.Logf("JetStream: recording stream %q of account %q in the metadata group: %v", stream, account, err)
		}
	}()
}

// releaseRefused releases the placement of a stream this node refused
// to create once the placement is applied here, unless the stream was
// created meanwhile.
func (f *Front) releaseRefused(ctx context.Context, account, stream string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !f.isClosed() {
		if placed, here := f.mine(account, stream); placed {
			if !here {
				return nil
			}
			if _, held := f.opts.Local.StreamConfig(account, stream); held {
				return nil
			}
			return f.opts.Meta.Release(ctx, account, stream, f.opts.Name)
		}
		select {
		case <-ctx.Done():
			return nil // never placed here (or released meanwhile)
		case <-tick.C:
		}
	}
	return nil
}

// define records the configuration of a stream this node holds; a
// stream whose placement went (a creation racing with the release of a
// refused one) is placed here again first.
func (f *Front) define(ctx context.Context, account, stream string, cfg json.RawMessage) error {
	if _, ok := f.opts.Meta.Holder(account, stream); !ok {
		holder, err := f.opts.Meta.Place(ctx, account, stream, f.opts.Name, cfg)
		if err != nil {
			return err
		}
		if holder != f.opts.Name {
			return fmt.Errorf("jsfront: stream %q of account %q is held here and placed on %s", stream, account, holder)
		}
	}
	if cm, ok := f.opts.Meta.(ConfigMeta); ok {
		if rec, ok := cm.Config(account, stream); ok && bytes.Equal(rec, cfg) {
			// Already recorded: an update that changed nothing (or that
			// the API refused) proposes nothing, or any client could
			// make a Raft write per request.
			return nil
		}
	}
	return f.opts.Meta.Define(ctx, account, stream, f.opts.Name, cfg)
}

// ConfigMeta is a Meta that also tells the configuration recorded for a
// stream; the front then records a configuration only when it changed.
type ConfigMeta interface {
	Meta
	// Config returns the configuration recorded for stream, as applied
	// on this node.
	Config(account, stream string) (json.RawMessage, bool)
}

// Reconcile records the streams this node already holds (from before it
// joined a cluster, or before the group had a leader) as placed here.
// A stream placed on another node is reported as a conflict: the
// cluster then reaches the other node's stream, and this one is left
// untouched on disk.
func (f *Front) Reconcile(ctx context.Context, account string, streams []string) error {
	var errs []error
	for _, s := range streams {
		if node, ok := f.opts.Meta.Holder(account, s); ok {
			if node != f.opts.Name {
				errs = append(errs, fmt.Errorf("jsfront: stream %q of account %q is held here and placed on %s", s, account, node))
			}
			continue
		}
		cfg, _ := f.opts.Local.StreamConfig(account, s)
		holder, err := f.opts.Meta.Place(ctx, account, s, f.opts.Name, cfg)
		if err != nil {
			return err
		}
		if holder != f.opts.Name {
			errs = append(errs, fmt.Errorf("jsfront: stream %q of account %q is held here and placed on %s", s, account, holder))
		}
	}
	return errors.Join(errs...)
}
