package server

import (
	"sync"
	"sync/atomic"

	"github.com/cairn-db/cairn/internal/subject"
)

// Accounts. Each account is a subject namespace of its own: a message
// published by a client of account A reaches only subscriptions of A,
// client or in-process, so two accounts can use the same subjects (and
// each has its own JetStream API on $JS.API.>) without seeing each
// other. A client belongs to the account of the user it authenticated
// as (auth.Identity.Account); without accounts, or for users of the
// authorization block, that is the global account, "$G" as in
// nats-server. Accounts exist from the first time they are named (by
// the daemon attaching JetStream to them, or by a client logging in)
// and are never removed.

// GlobalAccount is the name of the account of clients that belong to no
// configured account.
const GlobalAccount = "$G"

// Account is one subject namespace. Its methods are safe for
// concurrent use.
type Account struct {
	srv  *Server
	name string
	subs *subject.Index[*subscription]
	// cluster is the cluster hook, nil without a cluster (cluster_hooks.go).
	cluster atomic.Pointer[clusterHookBox]
	// inproc holds the cluster-visible in-process subscriptions, so a
	// cluster hook installed later hears of them; its lock also makes
	// reporting them to the hook exact (cluster_hooks.go).
	inproc struct {
		sync.Mutex
		subs map[*subscription]struct{}
	}
}

// accounts holds the named accounts.
type accounts struct {
	mu    sync.Mutex
	named map[string]*Account
}

func newAccount(s *Server, name string) *Account {
	a := &Account{srv: s, name: name, subs: subject.NewIndex[*subscription]()}
	a.cluster.Store(clusterHookOf(s)) // nil without a cluster (cluster_hooks.go)
	return a
}

// Name returns the account's name.
func (a *Account) Name() string { return a.name }

// Account returns the account called name, creating it on first use;
// "" and GlobalAccount are the global account.
func (s *Server) Account(name string) *Account {
	if name == "" || name == GlobalAccount {
		return s.global
	}
	s.accounts.mu.Lock()
	defer s.accounts.mu.Unlock()
	a := s.accounts.named[name]
	if a == nil {
		if s.accounts.named == nil {
			s.accounts.named = make(map[string]*Account)
		}
		a = newAccount(s, name)
		s.accounts.named[name] = a
	}
	return a
}

// allAccounts returns the global account and every named one.
func (s *Server) allAccounts() []*Account {
	s.accounts.mu.Lock()
	defer s.accounts.mu.Unlock()
	out := make([]*Account, 0, 1+len(s.accounts.named))
	out = append(out, s.global)
	for _, a := range s.accounts.named {
		out = append(out, a)
	}
	return out
}
