package jsapi

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/cairn-db/cairn/internal/store"
)

// Server-wide limits. nats-server has per-account limits and server
// limits; Cairn has one account, so the server's limits are the
// account's and $JS.API.INFO reports them.

// Defaults of the limits that Options leaves at zero.
const (
	// DefaultMaxConsumers caps the consumers of the whole server. A KV
	// watcher, key listing or history is one consumer while it runs.
	DefaultMaxConsumers = 10_000
	// DefaultMaxInactiveThreshold is the longest an ephemeral consumer
	// outlives its subscriber.
	DefaultMaxInactiveThreshold = time.Hour
)

// maxDeadlineDuration is the longest duration jsapi hands to the store
// or a consumer as an age, window or TTL: now (about 1.8e18 ns since
// 1970) plus this stays far below math.MaxInt64 nanoseconds until the
// 22nd century, so no deadline computed from it can wrap. Longer
// values (nats-server accepts up to math.MaxInt64) are kept in the
// configuration as given and clamped here; a message kept for a
// century is kept "forever" for every practical purpose.
const maxDeadlineDuration = 100 * 365 * 24 * time.Hour

// clampDuration bounds a duration taken from a client to
// maxDeadlineDuration.
func clampDuration(d time.Duration) time.Duration {
	return min(d, maxDeadlineDuration)
}

// unixNanos converts a client's time to Unix nanoseconds without the
// wrap of time.Time.UnixNano outside 1678-2262: earlier times give 0
// (before every stored message), later ones math.MaxInt64 (after every
// one).
func unixNanos(t time.Time) int64 {
	return clampTime(t).UnixNano()
}

// clampTime bounds a client's time to what Unix nanoseconds hold from
// 1970 on.
func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(time.Unix(0, 0)):
		return time.Unix(0, 0).UTC()
	case t.After(time.Unix(0, math.MaxInt64)):
		return time.Unix(0, math.MaxInt64).UTC()
	}
	return t
}

// maxPurgeSeq is the largest sequence a purge may move a stream to: the
// store's MaxSeq (2^63-1), which leaves room for more appends than any
// stream can make (nats-server 2.15.2 accepts 2^64-1 and then wraps to 0
// after one append). jsapi refuses larger ones itself, with a text that
// names the limit; the store refuses them too (ErrSeqOverflow).
const maxPurgeSeq = store.MaxSeq

// errPurgeSeqTooLargeF is the refusal of a purge to a sequence beyond
// maxPurgeSeq: 10051 as nats-server reports any purge failure.
func errPurgeSeqTooLargeF(seq uint64) *APIError {
	return errStreamGeneralF(fmt.Errorf("purge sequence %d leaves no room for new messages: the largest allowed is %d",
		seq, maxPurgeSeq))
}

// errSeqExhausted refuses an append to a stream whose last sequence is
// store.MaxSeq (10077, as other store refusals): there is no sequence
// left to give it. Only a purge to near MaxSeq leads here.
var errSeqExhausted = errStoreFailedF(fmt.Sprintf("stream sequence exhausted: no sequence after %d", store.MaxSeq))

// Resource errors (nats-server's errors.json).
var (
	errInsufficientResources = &APIError{503, 10023, "insufficient resources"}
	errMaxConsumers          = &APIError{400, 10026, "maximum consumers limit reached"}
	errMemoryResources       = &APIError{500, 10028, "insufficient memory resources available"}
	errStorageResources      = &APIError{500, 10047, "insufficient storage resources available"}
	errMaxStreams            = &APIError{400, 10027, "maximum number of streams reached"}
)

// errInactiveThresholdExcessF is 10153, "consumer inactive threshold
// exceeds system limit of {limit}".
func errInactiveThresholdExcessF(limit time.Duration) *APIError {
	return &APIError{400, 10153, "consumer inactive threshold exceeds system limit of " + limit.String()}
}

// limitOr returns v, or def when v is 0; a negative v means no limit.
func limitOr[T ~int | ~int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// maxStoreFor returns the server limit of a storage type; < 0 is none.
func (a *API) maxStoreFor(storage Storage) int64 {
	if storage == StorageMemory {
		return a.opts.MaxMemoryStore
	}
	return a.opts.MaxFileStore
}

// reserved returns the bytes the streams of a storage type reserve
// through max_bytes, leaving out the stream named except. Callers hold
// a.ctl, so that no create or update changes the sum meanwhile.
func (a *API) reserved(storage Storage, except string) int64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var sum int64
	for name, s := range a.mu.streams {
		cfg := s.config()
		if name != except && cfg.Storage == storage && cfg.MaxBytes > 0 {
			sum = addSaturate(sum, cfg.MaxBytes)
		}
	}
	return sum
}

// checkReservation applies nats-server's rule for a stream's max_bytes
// against the limits of its storage type, the account's and then the
// server's: the reservation (1 byte without max_bytes) must fit in what
// the other streams leave (of the account, then of every account).
func (a *API) checkReservation(cfg *StreamConfig) *APIError {
	want := max(cfg.MaxBytes, 1)
	fits := func(limit int64, apis []*API) bool {
		if limit < 0 {
			return true
		}
		var res int64
		for _, m := range apis {
			except := ""
			if m == a {
				except = cfg.Name
			}
			res = addSaturate(res, m.reserved(cfg.Storage, except))
		}
		return res <= limit && want <= limit-res
	}
	if !fits(a.accountLimit(cfg.Storage), []*API{a}) || !fits(a.maxStoreFor(cfg.Storage), a.members()) {
		if cfg.Storage == StorageMemory {
			return errMemoryResources
		}
		return errStorageResources
	}
	return nil
}

func addSaturate(x, y int64) int64 {
	if x > math.MaxInt64-y {
		return math.MaxInt64
	}
	return x + y
}

// usage tracks the bytes stored per storage type for the publish-side
// limit check. Summing every stream's state on each publish would cost
// O(streams); instead the sum is refreshed at most every
// usageRefresh, and the bytes of each append since are added to it.
// Removals (limits, expiry, deletes) show at the next refresh, so the
// check errs on the side of refusing for at most that long.
type usage struct {
	refreshedAt atomic.Int64 // UnixNano of the last sum
	bytes       [2]atomic.Int64
}

const usageRefresh = 100 * time.Millisecond

func storageIndex(s Storage) int {
	if s == StorageMemory {
		return 1
	}
	return 0
}

// storeUsed returns the bytes stored in streams of a storage type,
// refreshing the sums when they are older than usageRefresh.
func (a *API) storeUsed(storage Storage) int64 {
	nowNS := time.Now().UnixNano()
	if last := a.usage.refreshedAt.Load(); nowNS-last > int64(usageRefresh) && a.usage.refreshedAt.CompareAndSwap(last, nowNS) {
		var sums [2]int64
		for _, s := range a.allStreams() {
			sums[storageIndex(s.config().Storage)] += int64(min(s.st.State().Bytes, math.MaxInt64/4))
		}
		a.usage.bytes[0].Store(sums[0])
		a.usage.bytes[1].Store(sums[1])
	}
	return a.usage.bytes[storageIndex(storage)].Load()
}

// limitsExceeded reports a storage type whose stored bytes have reached
// the account's limit or the server's (all accounts together):
// nats-server then refuses every publish to streams of that type with
// 10023 until space is freed.
func (a *API) limitsExceeded(storage Storage) bool {
	return a.limitsExceededBy(storage, 0)
}

// limitsExceededBy is limitsExceeded with extra bytes about to be
// stored counted as stored: an atomic batch is checked as its messages
// would be one by one, each with the bytes of those before it.
func (a *API) limitsExceededBy(storage Storage, extra int64) bool {
	if limit := a.accountLimit(storage); limit >= 0 && addSaturate(a.storeUsed(storage), extra) > limit {
		return true
	}
	limit := a.maxStoreFor(storage)
	if limit < 0 {
		return false
	}
	return addSaturate(a.serverUsed(storage), extra) > limit
}

// serverUsed sums storeUsed over the members of a's group (a alone
// without one). It runs on every publish, so it allocates nothing.
func (a *API) serverUsed(storage Storage) int64 {
	g := a.opts.Group
	if g == nil {
		return a.storeUsed(storage)
	}
	var used int64
	g.each(func(m *API) { used = addSaturate(used, m.storeUsed(storage)) })
	return used
}

// noteStored adds an appended message's bytes to the usage sum, counted
// as the store counts them (store.State.Bytes: nats-server's accounting).
func (a *API) noteStored(storage Storage, subj string, hdr, data []byte) {
	if a.maxStoreFor(storage) < 0 && a.accountLimit(storage) < 0 {
		return
	}
	a.usage.bytes[storageIndex(storage)].Add(storedBytes(storage, subj, hdr, data))
}

// noteStoredBytes is noteStored for a size already worked out.
func (a *API) noteStoredBytes(storage Storage, n int64) {
	if a.maxStoreFor(storage) < 0 && a.accountLimit(storage) < 0 {
		return
	}
	a.usage.bytes[storageIndex(storage)].Add(n)
}

// storedBytes is what a message counts in store.State.Bytes.
func storedBytes(storage Storage, subj string, hdr, data []byte) int64 {
	n := 16 + len(subj) + len(hdr) + len(data)
	if storage != StorageMemory {
		n = 30 + len(subj) + len(data)
		if len(hdr) > 0 {
			n += 4 + len(hdr)
		}
	}
	return int64(n)
}

// allStreams returns the current streams in no order.
func (a *API) allStreams() []*stream {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]*stream, 0, len(a.mu.streams))
	for _, s := range a.mu.streams {
		out = append(out, s)
	}
	return out
}

// consumerCount returns the number of consumers on the server.
func (a *API) consumerCount() int {
	if a.consumers == nil {
		return 0
	}
	n := 0
	for _, s := range a.allStreams() {
		n += a.consumers.Count(s.name)
	}
	return n
}

// reserveConsumer checks that the consumer name, not yet created, fits
// its stream's max_consumers and the server's cap (10026, as
// nats-server for a stream or account limit), counting the creations in
// progress, and reserves its place until release is called (after the
// creation succeeded or failed). The creation itself runs without the
// lock: a slow one (a snapshot of a large bucket) delays no other. A
// reserved name that the manager already holds is counted once.
func (a *API) reserveConsumer(s *stream, name string) (release func(), e *APIError) {
	if g := a.opts.Group; g != nil {
		g.reserve.Lock()
		defer g.reserve.Unlock()
	}
	a.creating.Lock()
	defer a.creating.Unlock()
	if a.creating.names == nil {
		a.creating.names = make(map[string]map[string]int)
	}
	unregistered := func(stream string) int {
		n := 0
		for pending := range a.creating.names[stream] {
			if _, err := a.consumers.Get(stream, pending); err != nil {
				n++
			}
		}
		return n
	}
	// The creations in progress are counted before the registered
	// consumers: one that registers in between is then counted twice
	// (refusing, at worst, a creation that would just have fit), never
	// missed.
	pending := unregistered(s.name)
	inStream := a.consumers.Count(s.name) + pending
	if maxc := s.config().MaxConsumers; maxc > 0 && inStream >= maxc {
		return nil, errMaxConsumers
	}
	if maxc := a.accountMaxConsumers(); maxc > 0 && inStream >= maxc {
		// An account's max_consumers bounds the consumers of each of
		// its streams, as nats-server applies it.
		return nil, errMaxConsumers
	}
	if maxc := a.opts.MaxConsumers; maxc > 0 {
		// The server's cap, over every account, with the creations in
		// progress in each (the group's reserve lock keeps the other
		// members from reserving meanwhile).
		total := 0
		for stream := range a.creating.names {
			total += unregistered(stream)
		}
		for _, m := range a.members() {
			if m != a {
				total += m.pendingConsumers()
			}
			total += m.consumerCount()
		}
		if total >= maxc {
			return nil, errMaxConsumers
		}
	}
	names := a.creating.names[s.name]
	if names == nil {
		names = make(map[string]int)
		a.creating.names[s.name] = names
	}
	names[name]++
	return func() {
		a.creating.Lock()
		defer a.creating.Unlock()
		if names[name]--; names[name] == 0 {
			delete(names, name)
		}
		if len(names) == 0 {
			// No reservation refers to the map any more.
			delete(a.creating.names, s.name)
		}
	}, nil
}

// pendingConsumers counts the consumers reserved by reserveConsumer and
// not yet registered with the manager. The caller holds the group's
// reserve lock, and may hold another member's creating.
func (a *API) pendingConsumers() int {
	a.creating.Lock()
	defer a.creating.Unlock()
	n := 0
	for stream, names := range a.creating.names {
		for name := range names {
			if _, err := a.consumers.Get(stream, name); err != nil {
				n++
			}
		}
	}
	return n
}

// checkLimits applies the server's (account's) limits to a stream
// configuration being created or updated (old is the current one, nil
// on create), as nats-server's checkLimits: max_consumers within the
// consumer limit, then the max_bytes reservation. As in nats-server, an
// update that does not raise max_bytes is not refused for resources.
// Callers hold a.ctl.
func (a *API) checkLimits(cfg, old *StreamConfig) *APIError {
	if old == nil {
		if e := a.checkMaxStreams(); e != nil {
			return e
		}
	}
	for _, maxc := range []int{a.accountMaxConsumers(), a.opts.MaxConsumers} {
		if maxc > 0 && cfg.MaxConsumers > maxc {
			return errMaxConsumers
		}
	}
	if old != nil && max(cfg.MaxBytes, 0) <= max(old.MaxBytes, 0) {
		return nil
	}
	return a.checkReservation(cfg)
}
