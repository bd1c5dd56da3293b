package jsapi

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Accounts. A server with accounts runs one API per account with
// JetStream, each over its own store (the daemon keeps each account's
// data in a directory of its own). Each is limited twice, as in
// nats-server: by its account's limits (Options.Account), counting only
// its own streams, and by the server's (Options.MaxMemoryStore,
// MaxFileStore, MaxConsumers), counting the streams of every account of
// the Group.

// AccountLimits are an account's JetStream limits (nats-server's
// accounts { A: { jetstream: { max_mem, max_file, max_streams,
// max_consumers } } }); a negative value (or 0) is no limit.
type AccountLimits struct {
	MaxMemory, MaxFile       int64
	MaxStreams, MaxConsumers int
}

// Group ties together the APIs of the accounts of one server, so that
// the server limits bound them all together. The zero value is ready;
// an API joins the group given in its Options.
type Group struct {
	// apis is the member list, replaced whole (under mu) when one joins
	// or leaves, so that every publish reads it without a lock
	// (serverUsed).
	mu   sync.Mutex
	apis atomic.Pointer[[]*API]
	// ctl serialises the limit checks and stream creations and updates
	// of every member, so that two accounts cannot both pass a server
	// limit check that only one of them fits. Taken after API.ctl.
	ctl sync.Mutex
	// reserve serialises the consumer reservations of every member, so
	// that the server's consumer cap counts the creations in progress in
	// every account. Taken before API.creating.
	reserve sync.Mutex
}

func (g *Group) join(a *API) {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := append(g.list(), a)
	g.apis.Store(&list)
}

func (g *Group) leave(a *API) {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := slices.DeleteFunc(g.list(), func(m *API) bool { return m == a })
	g.apis.Store(&list)
}

// list returns a copy of the members.
func (g *Group) list() []*API {
	if p := g.apis.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// each calls f for every member, without locking or allocating.
func (g *Group) each(f func(*API)) {
	if p := g.apis.Load(); p != nil {
		for _, m := range *p {
			f(m)
		}
	}
}

// members returns the APIs the server limits count: every member of a's
// group, or a alone.
func (a *API) members() []*API {
	g := a.opts.Group
	if g == nil {
		return []*API{a}
	}
	return g.list()
}

// lockGroup takes the group's ctl (when a has a group) and returns the
// function that releases it. Callers hold a.ctl.
func (a *API) lockGroup() (unlock func()) {
	g := a.opts.Group
	if g == nil {
		return func() {}
	}
	g.ctl.Lock()
	return g.ctl.Unlock
}

// accountLimit returns the account's limit on a storage type; < 0 is
// none.
func (a *API) accountLimit(storage Storage) int64 {
	l := a.opts.Account
	if l == nil {
		return -1
	}
	if storage == StorageMemory {
		return l.MaxMemory
	}
	return l.MaxFile
}

// accountMaxConsumers is the account's consumer limit; <= 0 is none.
func (a *API) accountMaxConsumers() int {
	if a.opts.Account == nil {
		return 0
	}
	return a.opts.Account.MaxConsumers
}

// checkMaxStreams refuses a new stream beyond the account's
// max_streams (10027). Callers hold a.ctl.
func (a *API) checkMaxStreams() *APIError {
	l := a.opts.Account
	if l == nil || l.MaxStreams <= 0 {
		return nil
	}
	a.mu.RLock()
	n := len(a.mu.streams)
	a.mu.RUnlock()
	if n >= l.MaxStreams {
		return errMaxStreams
	}
	return nil
}
