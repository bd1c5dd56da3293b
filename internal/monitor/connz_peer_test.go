package monitor_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// connzWorkload opens c0, c1 and c2 on url, in that order, with
// distinct counts: subscriptions c1 3, c2 2, c0 1; published c0 3,
// c2 1, c1 0; delivered c1 3, c0 1, c2 0.
func connzWorkload(t *testing.T, url string) {
	t.Helper()
	var conns []*nats.Conn
	for i := 0; i < 3; i++ {
		nc, err := nats.Connect(url, nats.Name(fmt.Sprintf("c%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	subscribe := func(nc *nats.Conn, subjects ...string) []*nats.Subscription {
		var subs []*nats.Subscription
		for _, s := range subjects {
			sub, err := nc.SubscribeSync(s)
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		return subs
	}
	a := subscribe(conns[0], "t.a")
	b := subscribe(conns[1], "t.b", "t.c", "t.d")
	subscribe(conns[2], "t.e", "t.f")
	for i := 0; i < 3; i++ {
		if err := conns[0].Publish("t.b", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	if err := conns[2].Publish("t.a", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sub *nats.Subscription
		n   int
	}{{b[0], 3}, {a[0], 1}} {
		for i := 0; i < c.n; i++ {
			if _, err := c.sub.NextMsg(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestConnzMatchesPeer: the same three connections on each server are
// listed in the same order by every sort option with distinct values,
// and bad parameters get the same status and text.
func TestConnzMatchesPeer(t *testing.T) {
	d := startDaemon(t, nil)
	peerClient, peer := startPeerMonitor(t)
	connzWorkload(t, d.ClientURL())
	connzWorkload(t, peerClient)
	names := func(url string) string {
		var c struct {
			Conns []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		getJSON(t, url, http.StatusOK, &c)
		var out []string
		for _, ci := range c.Conns {
			out = append(out, ci.Name)
		}
		return strings.Join(out, " ")
	}
	for _, sort := range []string{"", "cid", "start", "subs", "msgs_from", "msgs_to", "bytes_from", "bytes_to", "uptime"} {
		q := "/connz?sort=" + sort
		if ours, theirs := names(d.MonitorURL()+q), names(peer+q); ours != theirs {
			t.Errorf("%s: %q here, %q from nats-server", q, ours, theirs)
		}
	}
	for _, q := range []string{"?offset=1&limit=1", "?offset=7", "?limit=2&sort=subs"} {
		if ours, theirs := names(d.MonitorURL()+"/connz"+q), names(peer+"/connz"+q); ours != theirs {
			t.Errorf("%s: %q here, %q from nats-server", q, ours, theirs)
		}
	}
	for _, q := range []string{"?sort=nope", "?sort=stop", "?sort=reason", "?state=gone", "?cid=x", "?cid=-1",
		"?subs=perhaps", "?auth=2", "?offset=x", "?limit=1.5"} {
		oc, ob := get(t, d.MonitorURL()+"/connz"+q)
		pc, pb := get(t, peer+"/connz"+q)
		if oc != pc || string(ob) != string(pb) {
			t.Errorf("/connz%s: cairn %d %q, nats-server %d %q", q, oc, ob, pc, pb)
		}
	}
}
