package server

import (
	"sort"

	"github.com/cairn-db/cairn/internal/subject"
)

// AccountStats describe one account's subscription index, for
// monitoring (/subsz, /accountz).
type AccountStats struct {
	Name    string
	Sublist subject.IndexStats
}

// AccountStats returns every account that exists (see Account): the
// global account first, then the named ones by name. Each index is read
// under its own locks, one at a time; the cost is a walk of each
// account's match cache, so it is meant for monitoring requests.
func (s *Server) AccountStats() []AccountStats {
	accs := s.allAccounts()
	sort.Slice(accs[1:], func(i, j int) bool { return accs[1+i].name < accs[1+j].name })
	out := make([]AccountStats, len(accs))
	for i, a := range accs {
		out[i] = AccountStats{Name: a.name, Sublist: a.subs.Stats()}
	}
	return out
}
