package monitor_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/jsapi"
)

// accountz holds /accountz under nats-server's names and types.
type accountz struct {
	ID       string   `json:"server_id"`
	System   string   `json:"system_account"`
	Accounts []string `json:"accounts"`
	Detail   *struct {
		Name      string    `json:"account_name"`
		IsSystem  bool      `json:"is_system"`
		Update    time.Time `json:"update_time"`
		Expired   bool      `json:"expired"`
		Complete  bool      `json:"complete"`
		JetStream bool      `json:"jetstream_enabled"`
		Leafs     int       `json:"leafnode_connections"`
		Clients   int       `json:"client_connections"`
		Subs      uint32    `json:"subscriptions"`
		Sublist   *struct {
			NumSubs uint32 `json:"num_subscriptions"`
		} `json:"sublist_stats"`
	} `json:"account_detail"`
}

// TestAccounts: with accounts A (JetStream, limited) and B (without),
// /accountz lists them, details each, and /jsz, /connz and /subsz
// select by account.
func TestAccounts(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) {
		c.Server.Auth = auth.Config{Users: []auth.User{
			{Name: "a", Password: "a", Account: "A"},
			{Name: "b", Password: "b", Account: "B"},
		}}
		c.Accounts = []daemon.Account{
			{Name: "A", JetStream: &jsapi.AccountLimits{MaxMemory: 1 << 20, MaxFile: 1 << 30, MaxStreams: -1, MaxConsumers: -1}},
			{Name: "B"},
		}
	})
	for _, u := range []string{"a", "b", "b"} {
		nc, err := nats.Connect(d.ClientURL(), nats.UserInfo(u, u))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if u == "a" {
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "acc"})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	url := d.MonitorURL()
	var list accountz
	getJSON(t, url+"/accountz", http.StatusOK, &list)
	if list.ID != d.Server().ID() || !slices.Equal(list.Accounts, []string{"$G", "$SYS", "A", "B"}) || list.Detail != nil || list.System != "$SYS" {
		t.Errorf("list %+v", list)
	}
	for _, c := range []struct {
		name    string
		js      bool
		clients int
	}{{"A", true, 1}, {"B", false, 2}, {"$G", false, 0}, {"$SYS", false, 0}} {
		var a accountz
		getJSON(t, url+"/accountz?acc="+c.name, http.StatusOK, &a)
		det := a.Detail
		if a.Accounts != nil || det == nil || det.Name != c.name || det.JetStream != c.js || det.Clients != c.clients ||
			det.IsSystem != (c.name == "$SYS") || !det.Complete || det.Expired || det.Update.IsZero() || det.Sublist == nil || det.Sublist.NumSubs != det.Subs {
			t.Errorf("acc=%s: %+v", c.name, det)
		}
	}
	if code, body := get(t, url+"/accountz?acc=nope"); code != http.StatusBadRequest || string(body) != "Account nope does not exist" {
		t.Errorf("acc=nope: %d %s", code, body)
	}

	var j struct {
		Total    int `json:"total"`
		Accounts []struct {
			Name     string `json:"name"`
			Reserved uint64 `json:"reserved_memory"`
			Streams  []struct {
				Name string `json:"name"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	getJSON(t, url+"/jsz?streams=true", http.StatusOK, &j)
	if j.Total != 1 || len(j.Accounts) != 1 || j.Accounts[0].Name != "A" || j.Accounts[0].Reserved != 1<<20 ||
		len(j.Accounts[0].Streams) != 1 || j.Accounts[0].Streams[0].Name != "KV_acc" {
		t.Errorf("jsz %+v", j)
	}
	var c connz
	getJSON(t, url+"/connz?acc=B", http.StatusOK, &c)
	if c.Total != 2 {
		t.Errorf("connz?acc=B: %+v", c)
	}
	var sa, sb subsz
	getJSON(t, url+"/subsz?acc=A", http.StatusOK, &sa)
	getJSON(t, url+"/subsz?acc=B", http.StatusOK, &sb)
	if sa.NumSubs == 0 || sb.NumSubs == 0 || sa.NumSubs == sb.NumSubs {
		t.Errorf("subsz A %d, B %d subscriptions", sa.NumSubs, sb.NumSubs)
	}
}

// TestAccountzShapeMatchesPeer: the list and the global account's
// detail have nats-server's keys and types.
func TestAccountzShapeMatchesPeer(t *testing.T) {
	d := startDaemon(t, nil)
	_, peer := startPeerMonitor(t)
	for _, q := range []string{"/accountz", "/accountz?acc=$G"} {
		ours, theirs, diffs := shapeDiffs(t, d.MonitorURL(), peer, q)
		for _, diff := range diffs {
			t.Error(q, diff)
		}
		if q != "/accountz" {
			od, _ := ours["account_detail"].(map[string]any)
			td, _ := theirs["account_detail"].(map[string]any)
			if od == nil || td == nil {
				t.Fatalf("%s: no account_detail", q)
			}
		}
	}
	oc, ob := get(t, d.MonitorURL()+"/accountz?acc=nope")
	pc, pb := get(t, peer+"/accountz?acc=nope")
	if oc != pc || string(ob) != string(pb) {
		t.Errorf("acc=nope: cairn %d %s, nats-server %d %s", oc, ob, pc, pb)
	}
}
