package monitor_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/testcert"
	"github.com/cairn-db/cairn/internal/testserver"
)

// connz holds /connz under nats-server's documented field names.
type connz struct {
	ID       string `json:"server_id"`
	NumConns int    `json:"num_connections"`
	Total    int    `json:"total"`
	Offset   int    `json:"offset"`
	Limit    int    `json:"limit"`
	Conns    []struct {
		Cid      uint64    `json:"cid"`
		Kind     string    `json:"kind"`
		Type     string    `json:"type"`
		IP       string    `json:"ip"`
		Port     int       `json:"port"`
		Start    time.Time `json:"start"`
		Uptime   string    `json:"uptime"`
		InMsgs   int64     `json:"in_msgs"`
		OutMsgs  int64     `json:"out_msgs"`
		InBytes  int64     `json:"in_bytes"`
		OutBytes int64     `json:"out_bytes"`
		NumSubs  uint32    `json:"subscriptions"`
		Name     string    `json:"name"`
		Lang     string    `json:"lang"`
		Subs     []string  `json:"subscriptions_list"`
		Detail   []struct {
			Subject string `json:"subject"`
			Sid     string `json:"sid"`
			Msgs    int64  `json:"msgs"`
			Cid     uint64 `json:"cid"`
		} `json:"subscriptions_list_detail"`
	} `json:"connections"`
}

// TestConnz: three named clients, the second with two subscriptions and
// the first publishing; /connz lists them by cid, pages, sorts and
// lists subscriptions as nats-server.
func TestConnz(t *testing.T) {
	d := startDaemon(t, nil)
	var conns []*nats.Conn
	for i := 0; i < 3; i++ {
		nc, err := nats.Connect(d.ClientURL(), nats.Name(fmt.Sprintf("c%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns = append(conns, nc)
	}
	sub, err := conns[1].SubscribeSync("connz.a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conns[1].SubscribeSync("connz.b"); err != nil {
		t.Fatal(err)
	}
	if err := conns[1].Flush(); err != nil {
		t.Fatal(err)
	}
	const n = 7
	for i := 0; i < n; i++ {
		if err := conns[0].Publish("connz.a", []byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if _, err := sub.NextMsg(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	url := d.MonitorURL() + "/connz"
	var c connz
	getJSON(t, url, http.StatusOK, &c)
	if c.ID != d.Server().ID() || c.NumConns != 3 || c.Total != 3 || c.Offset != 0 || c.Limit != 1024 {
		t.Fatalf("connz %+v", c)
	}
	for i, ci := range c.Conns {
		if ci.Name != fmt.Sprintf("c%d", i) || ci.Lang != "go" || ci.Kind != "Client" || ci.Type != "nats" || ci.IP != "127.0.0.1" || ci.Port == 0 || ci.Start.IsZero() || ci.Uptime == "" {
			t.Errorf("connection %d: %+v", i, ci)
		}
		if i > 0 && ci.Cid <= c.Conns[i-1].Cid {
			t.Errorf("not sorted by cid: %d after %d", ci.Cid, c.Conns[i-1].Cid)
		}
	}
	if p, s := c.Conns[0], c.Conns[1]; p.InMsgs != n || p.InBytes != 5*n || s.OutMsgs != n || s.OutBytes != 5*n || s.NumSubs != 2 || s.Subs != nil {
		t.Errorf("publisher %+v, subscriber %+v", p, s)
	}

	// The round trip is measured by a PING the first /connz sends to
	// each client (they sent their own PING at connect).
	var rtts struct {
		Conns []struct {
			RTT string `json:"rtt"`
		} `json:"connections"`
	}
	measured := func() bool {
		rtts.Conns = nil
		getJSON(t, url+"?sort=rtt", http.StatusOK, &rtts)
		for _, c := range rtts.Conns {
			if d, err := time.ParseDuration(c.RTT); err != nil || d <= 0 {
				return false
			}
		}
		return len(rtts.Conns) == 3
	}
	for deadline := time.Now().Add(5 * time.Second); !measured(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("round trips not measured: %+v", rtts)
		}
	}
	third := c.Conns[2].Cid
	c = connz{}
	getJSON(t, url+"?offset=1&limit=1&subs=true", http.StatusOK, &c)
	if c.NumConns != 1 || c.Total != 3 || c.Offset != 1 || c.Limit != 1 || c.Conns[0].Name != "c1" || len(c.Conns[0].Subs) != 2 {
		t.Errorf("page 2 of 1: %+v", c)
	}
	// The largest limit (offset+limit would wrap) pages to the end.
	c = connz{}
	getJSON(t, url+"?offset=1&limit=9223372036854775807", http.StatusOK, &c)
	if c.NumConns != 2 || c.Total != 3 {
		t.Errorf("offset 1, limit MaxInt64: %+v", c)
	}
	c = connz{}
	getJSON(t, url+"?sort=msgs_from", http.StatusOK, &c)
	if c.Conns[0].Name != "c0" {
		t.Errorf("sort=msgs_from: first %q", c.Conns[0].Name)
	}
	c = connz{}
	getJSON(t, url+"?sort=subs&subs=detail&limit=1", http.StatusOK, &c)
	if len(c.Conns) != 1 || c.Conns[0].Name != "c1" || len(c.Conns[0].Detail) != 2 || c.Conns[0].Detail[0].Msgs != n || c.Conns[0].Detail[0].Cid != c.Conns[0].Cid {
		t.Errorf("sort=subs&subs=detail: %+v", c)
	}
	c = connz{}
	getJSON(t, url+"?cid="+strconv.FormatUint(third, 10), http.StatusOK, &c)
	if len(c.Conns) != 1 || c.Conns[0].Name != "c2" {
		t.Errorf("cid filter: %+v", c)
	}
	c = connz{}
	getJSON(t, url+"?state=closed", http.StatusOK, &c)
	if c.NumConns != 0 || c.Conns == nil {
		t.Errorf("state=closed before any close: %+v", c)
	}
	// c1 closes: it is listed as closed, with its counters, stop time,
	// reason and subscriptions, and no longer as open.
	conns[1].Close()
	var closed struct {
		NumConns int `json:"num_connections"`
		Conns    []struct {
			Cid     uint64     `json:"cid"`
			Name    string     `json:"name"`
			OutMsgs int64      `json:"out_msgs"`
			NumSubs int        `json:"subscriptions"`
			Subs    []string   `json:"subscriptions_list"`
			Stop    *time.Time `json:"stop"`
			Reason  string     `json:"reason"`
			Uptime  string     `json:"uptime"`
		} `json:"connections"`
	}
	for deadline := time.Now().Add(5 * time.Second); closed.NumConns == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		getJSON(t, url+"?state=closed&subs=true", http.StatusOK, &closed)
	}
	if closed.NumConns != 1 {
		t.Fatalf("state=closed after a close: %+v", closed)
	}
	if cc := closed.Conns[0]; cc.Name != "c1" || cc.OutMsgs != n || cc.NumSubs != 2 || len(cc.Subs) != 2 || cc.Stop == nil || cc.Reason != "Client Closed" || cc.Uptime == "" {
		t.Errorf("closed connection: %+v", cc)
	}
	c = connz{}
	getJSON(t, url, http.StatusOK, &c)
	if c.NumConns != 2 {
		t.Errorf("open connections after a close: %+v", c)
	}
	c = connz{}
	getJSON(t, url+"?state=all", http.StatusOK, &c)
	if c.NumConns != 3 || c.Total != 3 {
		t.Errorf("state=all: %+v", c)
	}
	for _, q := range []string{"?state=closed&sort=stop", "?state=closed&sort=reason", "?state=all&sort=uptime"} {
		c = connz{}
		getJSON(t, url+q, http.StatusOK, &c)
		if c.Total == 0 {
			t.Errorf("%s: %+v", q, c)
		}
	}
	for _, q := range []string{"?sort=nope", "?sort=stop", "?state=all&sort=reason", "?offset=x", "?state=gone", "?subs=perhaps"} {
		if code, body := get(t, url+q); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}

// TestConnzShapeMatchesPeer: with a client holding a subscription on
// each server, every key of Cairn's /connz?subs=true (and of a
// connection in it) is in nats-server's with the same JSON type.
func TestConnzShapeMatchesPeer(t *testing.T) {
	d := startDaemon(t, nil)
	port := freePort(t)
	p := testserver.StartPeer(t, "-m", strconv.Itoa(port))
	peer := fmt.Sprintf("http://127.0.0.1:%d", port)
	for _, u := range []string{d.ClientURL(), p.URL} {
		nc, err := nats.Connect(u, nats.Name("shape"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		if _, err := nc.SubscribeSync("shape.x"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("shape.x", []byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// A second client with a subscription closes on each server, for
	// state=closed.
	for _, u := range []string{d.ClientURL(), p.URL} {
		nc, err := nats.Connect(u, nats.Name("gone"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.SubscribeSync("shape.y"); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	for _, base := range []string{d.MonitorURL(), peer} {
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var c connz
			getJSON(t, base+"/connz?state=closed", http.StatusOK, &c)
			if c.NumConns == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the closed connection is not listed: %+v", base, c)
			}
		}
	}
	for _, q := range []string{"?subs=true", "?subs=detail", "?state=closed&subs=detail"} {
		var ours, theirs map[string]any
		getJSON(t, d.MonitorURL()+"/connz"+q, http.StatusOK, &ours)
		getJSON(t, peer+"/connz"+q, http.StatusOK, &theirs)
		for _, diff := range compareShape("", ours, theirs) {
			t.Error(q, diff)
		}
		oc, tc := ours["connections"].([]any), theirs["connections"].([]any)
		if len(oc) != 1 || len(tc) != 1 {
			t.Fatalf("%s: %d connections here, %d in nats-server's", q, len(oc), len(tc))
		}
		for _, diff := range compareShape("connections[0].", oc[0].(map[string]any), tc[0].(map[string]any)) {
			t.Error(q, diff)
		}
		if q == "?subs=detail" {
			od := oc[0].(map[string]any)["subscriptions_list_detail"].([]any)[0].(map[string]any)
			td := tc[0].(map[string]any)["subscriptions_list_detail"].([]any)[0].(map[string]any)
			for _, diff := range compareShape("subscriptions_list_detail[0].", od, td) {
				t.Error(q, diff)
			}
		}
	}
}

// TestConnzTLS: a TLS connection reports its version and cipher suite
// as nats-server names them, and /varz that TLS is required.
func TestConnzTLS(t *testing.T) {
	certFile, keyFile := testcert.SelfSigned(t, t.TempDir(), "server")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, func(c *daemon.Config) {
		c.Server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	nc, err := nats.Connect(d.ClientURL(), nats.RootCAs(certFile))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var c struct {
		Conns []struct {
			TLSVersion string `json:"tls_version"`
			TLSCipher  string `json:"tls_cipher_suite"`
		} `json:"connections"`
	}
	getJSON(t, d.MonitorURL()+"/connz", http.StatusOK, &c)
	if len(c.Conns) != 1 || c.Conns[0].TLSVersion != "1.3" || c.Conns[0].TLSCipher == "" {
		t.Fatalf("connz %+v", c)
	}
	var v struct {
		TLSRequired bool `json:"tls_required"`
	}
	getJSON(t, d.MonitorURL()+"/varz", http.StatusOK, &v)
	if !v.TLSRequired {
		t.Error("tls_required not reported")
	}
}
