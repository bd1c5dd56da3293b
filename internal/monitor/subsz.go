package monitor

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cairn-db/cairn/internal/subject"
)

// SubszPath is /subsz's path; nats-server also answers it as
// /subscriptionsz.
const (
	SubszPath         = "/subsz"
	SubscriptionsPath = "/subscriptionsz"
)

// DefaultSubListSize is the default limit of /subsz, as nats-server's.
const DefaultSubListSize = 1024

// Subsz is the answer of /subsz: the subscription indexes' statistics,
// summed over the accounts (or one account), and with subs=true a page
// of the client subscriptions.
type Subsz struct {
	ID  string    `json:"server_id"`
	Now time.Time `json:"now"`
	*SublistStats
	// Total is the number of subscriptions listed before paging (0
	// without Subscriptions, as nats-server).
	Total  int         `json:"total"`
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Subs   []SubDetail `json:"subscriptions_list,omitempty"`
}

// SublistStats are nats-server's subscription index statistics. A
// subscription of an in-process service (the JetStream API, a stream's
// ingest) counts like a client's.
type SublistStats struct {
	NumSubs    uint32 `json:"num_subscriptions"`
	NumCache   uint32 `json:"num_cache"`
	NumInserts uint64 `json:"num_inserts"`
	NumRemoves uint64 `json:"num_removes"`
	NumMatches uint64 `json:"num_matches"`
	// CacheHitRate is the share of matches answered from the cache.
	CacheHitRate float64 `json:"cache_hit_rate"`
	// MaxFanout and AvgFanout are over the cached match results: the
	// subscriptions a message to a cached subject reaches (a queue
	// group counts once).
	MaxFanout uint32  `json:"max_fanout"`
	AvgFanout float64 `json:"avg_fanout"`
}

// SubszOptions select the /subsz answer; the JSON names are
// nats-server's.
type SubszOptions struct {
	// Offset and Limit page the subscription list (Limit 0: 1024).
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// Subscriptions (subs=true) lists the client subscriptions.
	Subscriptions bool `json:"subscriptions"`
	// Account (acc) keeps one account.
	Account string `json:"account,omitempty"`
	// Test (test) keeps the subscriptions a message published to this
	// literal subject would reach.
	Test string `json:"test,omitempty"`
}

// handleSubsz answers /subsz with the parameters subs, offset, limit,
// test and acc.
func (m *Monitor) handleSubsz(w http.ResponseWriter, r *http.Request) {
	m.count(SubszPath)
	q := r.URL.Query()
	o := SubszOptions{Test: q.Get("test"), Account: q.Get("acc")}
	var ok bool
	if o.Subscriptions, ok = queryBool(w, r, "subs"); !ok {
		return
	}
	if o.Offset, ok = queryInt(w, r, "offset"); !ok {
		return
	}
	if o.Limit, ok = queryInt(w, r, "limit"); !ok {
		return
	}
	sz, err := m.Subsz(&o)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	m.respondJSON(w, SubszPath, sz)
}

// Subsz returns the /subsz document for opts (nil: the defaults). A
// test subject that is not a valid publish subject is an error with
// nats-server's text. An unknown account gives zero statistics.
func (m *Monitor) Subsz(opts *SubszOptions) (*Subsz, error) {
	var o SubszOptions
	if opts != nil {
		o = *opts
	}
	if o.Test != "" && !subject.ValidLiteral(o.Test) {
		return nil, fmt.Errorf("invalid test subject, must be valid publish subject: %s", o.Test)
	}
	o.Offset = max(o.Offset, 0)
	if o.Limit <= 0 {
		o.Limit = DefaultSubListSize
	}
	sz := &Subsz{ID: m.opts.Core.ID(), Now: time.Now().UTC(), Offset: o.Offset, Limit: o.Limit}
	var sum subject.IndexStats
	for _, a := range m.opts.Core.AccountStats() {
		if o.Account == "" || a.Name == o.Account {
			sum = addIndexStats(sum, a.Sublist)
		}
	}
	sz.SublistStats = sublistStats(sum)
	if !o.Subscriptions {
		return sz, nil
	}
	details := m.subDetails(o.Account, o.Test)
	sz.Total = len(details)
	sz.Subs = page(details, o.Offset, o.Limit)
	return sz, nil
}

// subDetails lists the client subscriptions of account (all when ""),
// those a message to test would reach when test is set, by account,
// connection and sid.
func (m *Monitor) subDetails(account, test string) []SubDetail {
	var out []SubDetail
	for _, c := range m.opts.Core.Conns(true) {
		if account != "" && c.Account != account {
			continue
		}
		for _, sub := range c.Subs {
			if test != "" && !subject.Match(sub.Subject, test) {
				continue
			}
			out = append(out, SubDetail{
				Account: c.Account, AccountTag: c.Account, Subject: sub.Subject, Queue: sub.Queue,
				Sid: sub.SID, Msgs: sub.Delivered, Max: sub.Max, Cid: c.CID,
			})
		}
	}
	slices.SortFunc(out, func(a, b SubDetail) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Cid, b.Cid), cmp.Compare(a.Sid, b.Sid))
	})
	return out
}

func addIndexStats(a, b subject.IndexStats) subject.IndexStats {
	a.Subscriptions += b.Subscriptions
	a.Cached += b.Cached
	a.Inserts += b.Inserts
	a.Removes += b.Removes
	a.Matches += b.Matches
	a.CacheHits += b.CacheHits
	a.MaxFanout = max(a.MaxFanout, b.MaxFanout)
	a.TotalFanout += b.TotalFanout
	return a
}

// sublistStats converts an index's statistics to nats-server's form.
func sublistStats(st subject.IndexStats) *SublistStats {
	out := &SublistStats{
		NumSubs: uint32(st.Subscriptions), NumCache: uint32(st.Cached),
		NumInserts: st.Inserts, NumRemoves: st.Removes, NumMatches: st.Matches,
		MaxFanout: uint32(st.MaxFanout),
	}
	if st.Matches > 0 {
		out.CacheHitRate = float64(st.CacheHits) / float64(st.Matches)
	}
	if st.Cached > 0 {
		out.AvgFanout = float64(st.TotalFanout) / float64(st.Cached)
	}
	return out
}
