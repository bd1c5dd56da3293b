package monitor_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// subsz holds /subsz under nats-server's field names and types.
type subsz struct {
	ID           string  `json:"server_id"`
	Now          string  `json:"now"`
	NumSubs      uint32  `json:"num_subscriptions"`
	NumCache     uint32  `json:"num_cache"`
	NumInserts   uint64  `json:"num_inserts"`
	NumRemoves   uint64  `json:"num_removes"`
	NumMatches   uint64  `json:"num_matches"`
	CacheHitRate float64 `json:"cache_hit_rate"`
	MaxFanout    uint32  `json:"max_fanout"`
	AvgFanout    float64 `json:"avg_fanout"`
	Total        int     `json:"total"`
	Offset       int     `json:"offset"`
	Limit        int     `json:"limit"`
	Subs         []struct {
		Account    string `json:"account"`
		AccountTag string `json:"account_tag"`
		Subject    string `json:"subject"`
		Queue      string `json:"qgroup"`
		Sid        string `json:"sid"`
		Msgs       int64  `json:"msgs"`
		Cid        uint64 `json:"cid"`
	} `json:"subscriptions_list"`
}

// TestSubsz: a client with a plain and a queue subscription, messages
// published to one subject; the counters, the list and each parameter
// as nats-server.
func TestSubsz(t *testing.T) {
	d := startDaemon(t, nil)
	url := d.MonitorURL() + "/subsz"
	var before subsz
	getJSON(t, url, http.StatusOK, &before)
	nc, err := nats.Connect(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a, err := nc.SubscribeSync("sz.a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.QueueSubscribeSync("sz.*", "q"); err != nil {
		t.Fatal(err)
	}
	gone, err := nc.SubscribeSync("sz.gone")
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := 0; i < n; i++ {
		if err := nc.Publish("sz.a", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := a.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var s subsz
	getJSON(t, url, http.StatusOK, &s)
	if s.ID != d.Server().ID() || s.NumSubs != before.NumSubs+2 || s.NumInserts != before.NumInserts+3 || s.NumRemoves != before.NumRemoves+1 ||
		s.NumMatches < before.NumMatches+n || s.CacheHitRate <= 0 || s.CacheHitRate > 1 || s.NumCache == 0 || s.MaxFanout < 2 || s.AvgFanout <= 0 {
		t.Errorf("before %+v\nafter %+v", before, s)
	}
	if s.Total != 0 || s.Offset != 0 || s.Limit != 1024 || s.Subs != nil {
		t.Errorf("without subs: %+v", s)
	}

	for _, c := range []struct {
		query    string
		total    int
		subjects []string
	}{
		{"?subs=true", 2, []string{"sz.a", "sz.*"}},
		{"?subs=1&test=sz.a", 2, []string{"sz.a", "sz.*"}},
		{"?subs=true&test=sz.b", 1, []string{"sz.*"}},
		{"?subs=true&test=other", 0, nil},
		{"?subs=true&offset=1&limit=1", 2, []string{"sz.*"}},
		{"?subs=true&offset=5", 2, nil},
		{"?subs=true&acc=$G", 2, []string{"sz.a", "sz.*"}},
		{"?subs=true&acc=nope", 0, nil},
		{"?test=sz.a", 0, nil},
	} {
		var s subsz
		getJSON(t, url+c.query, http.StatusOK, &s)
		var got []string
		for _, sub := range s.Subs {
			got = append(got, sub.Subject)
			if sub.Account != "$G" || sub.AccountTag != "$G" || sub.Cid == 0 || sub.Sid == "" {
				t.Errorf("%s: %+v", c.query, sub)
			}
			if sub.Subject == "sz.a" && sub.Msgs != n || sub.Subject == "sz.*" && sub.Queue != "q" {
				t.Errorf("%s: %+v", c.query, sub)
			}
		}
		if s.Total != c.total || strings.Join(got, " ") != strings.Join(c.subjects, " ") {
			t.Errorf("%s: total %d, subjects %v; want %d, %v", c.query, s.Total, got, c.total, c.subjects)
		}
	}
	var none subsz
	getJSON(t, url+"?acc=nope", http.StatusOK, &none)
	if none.NumSubs != 0 || none.NumInserts != 0 {
		t.Errorf("acc=nope: %+v", none)
	}

	for q, want := range map[string]string{
		"?test=sz.*":  "invalid test subject, must be valid publish subject: sz.*",
		"?subs=maybe": "Error decoding boolean for 'subs'",
		"?limit=x":    "Error decoding int for 'limit'",
		"?offset=1e3": "Error decoding int for 'offset'",
	} {
		code, body := get(t, url+q)
		if code != http.StatusBadRequest || !strings.HasPrefix(string(body), want) {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
	if code, _ := get(t, d.MonitorURL()+"/subscriptionsz"); code != http.StatusOK {
		t.Errorf("/subscriptionsz: %d", code)
	}
}

// TestSubszShapeMatchesPeer: every key of Cairn's /subsz, and of an
// entry of its list, is in nats-server's answer with the same type.
func TestSubszShapeMatchesPeer(t *testing.T) {
	d := startDaemon(t, nil)
	peerClient, peer := startPeerMonitor(t)
	for _, u := range []string{d.ClientURL(), peerClient} {
		nc, err := nats.Connect(u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if _, err := nc.QueueSubscribeSync("shape.*", "q"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("shape.x", nil); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"/subsz", "/subsz?subs=true&test=shape.x"} {
		ours, theirs, diffs := shapeDiffs(t, d.MonitorURL(), peer, q)
		for _, diff := range diffs {
			t.Error(q, diff)
		}
		if q != "/subsz" {
			for _, diff := range compareShape("subscriptions_list[0].", firstOf(t, q, ours, "subscriptions_list"), firstOf(t, q+" (peer)", theirs, "subscriptions_list")) {
				t.Error(q, diff)
			}
		}
	}
	for _, q := range []string{"?test=a.*", "?limit=x", "?subs=x"} {
		oc, ob := get(t, d.MonitorURL()+"/subsz"+q)
		pc, pb := get(t, peer+"/subsz"+q)
		if oc != pc || string(ob) != string(pb) {
			t.Errorf("/subsz%s: cairn %d %s, nats-server %d %s", q, oc, ob, pc, pb)
		}
	}
}
