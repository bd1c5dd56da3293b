package monitor

import (
	"fmt"
	"net/http"
	"time"
)

// AccountzPath is /accountz's path.
const AccountzPath = "/accountz"

// Accountz is the answer of /accountz: the accounts' names, or with
// acc=NAME that account's detail (nats-server's field names).
type Accountz struct {
	ID            string       `json:"server_id"`
	Now           time.Time    `json:"now"`
	SystemAccount string       `json:"system_account,omitempty"`
	Accounts      []string     `json:"accounts,omitempty"`
	Account       *AccountInfo `json:"account_detail,omitempty"`
}

// AccountInfo is one account's detail. Cairn accounts are configured
// in the server's file, never expire and have no JWT, imports, exports
// or mappings: those of nats-server's fields are not reported, expired
// is false and complete true. update_time is when the configuration
// was last loaded.
type AccountInfo struct {
	AccountName string        `json:"account_name"`
	LastUpdate  time.Time     `json:"update_time,omitempty"`
	IsSystem    bool          `json:"is_system,omitempty"`
	Expired     bool          `json:"expired"`
	Complete    bool          `json:"complete"`
	JetStream   bool          `json:"jetstream_enabled"`
	LeafCnt     int           `json:"leafnode_connections"`
	ClientCnt   int           `json:"client_connections"`
	SubCnt      uint32        `json:"subscriptions"`
	NameTag     string        `json:"name_tag,omitempty"`
	Sublist     *SublistStats `json:"sublist_stats,omitempty"`
}

// AccountzOptions select the /accountz answer (nats-server's JSON
// name).
type AccountzOptions struct {
	// Account (acc) asks for that account's detail instead of the list.
	Account string `json:"account"`
}

// handleAccountz answers /accountz, and /accountz?acc=NAME.
func (m *Monitor) handleAccountz(w http.ResponseWriter, r *http.Request) {
	m.count(AccountzPath)
	a, err := m.Accountz(&AccountzOptions{Account: r.URL.Query().Get("acc")})
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	m.respondJSON(w, AccountzPath, a)
}

// Accountz returns the /accountz document for opts (nil: the list). An
// account that does not exist is an error with nats-server's text.
// Accounts exist once configured or first used (the global account
// "$G" always).
func (m *Monitor) Accountz(opts *AccountzOptions) (*Accountz, error) {
	core := m.opts.Core
	a := &Accountz{ID: core.ID(), Now: time.Now().UTC(), SystemAccount: m.opts.SystemAccount}
	accounts := core.AccountStats()
	if opts == nil || opts.Account == "" {
		a.Accounts = make([]string, 0, len(accounts))
		for _, acc := range accounts {
			a.Accounts = append(a.Accounts, acc.Name)
		}
		return a, nil
	}
	for _, acc := range accounts {
		if acc.Name != opts.Account {
			continue
		}
		info := &AccountInfo{
			AccountName: acc.Name, LastUpdate: core.Stats().ConfigLoadTime.UTC(), Complete: true,
			IsSystem: acc.Name == m.opts.SystemAccount,
			SubCnt:   uint32(acc.Sublist.Subscriptions), NameTag: acc.Name, Sublist: sublistStats(acc.Sublist),
		}
		for _, c := range core.Conns(false) {
			if c.Account == acc.Name {
				info.ClientCnt++
			}
		}
		if js := m.opts.JetStream; js != nil {
			for _, ja := range js.JszAccounts(false) {
				info.JetStream = info.JetStream || ja.Name == acc.Name
			}
		}
		a.Account = info
		return a, nil
	}
	//lint:ignore ST1005 nats-server's text, which clients and scripts see
	return nil, fmt.Errorf("Account %s does not exist", opts.Account)
}
