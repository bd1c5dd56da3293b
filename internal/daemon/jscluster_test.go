package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/auth"
)

// Users of the permission tests: "admin" may do anything; "r" may use
// the JetStream API and its inbox, nothing else.
func jsUsers(t *testing.T) []auth.User {
	t.Helper()
	p, err := auth.NewPermissions(
		&auth.Rules{Allow: []string{"$JS.API.>", "_INBOX.>"}},
		&auth.Rules{Allow: []string{"_INBOX.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return []auth.User{{Name: "admin", Password: "p"}, {Name: "r", Password: "p", Permissions: p}}
}

// startJSClusterNode starts a daemon with JetStream (the global
// account) in cluster c1, dialing routes.
func startJSClusterNode(t *testing.T, name string, users []auth.User, routes ...string) *Daemon {
	t.Helper()
	cfg := nodeConfig(t, name)
	cfg.Server.Auth = auth.Config{Users: users}
	cfg.Cluster = clusterC1(t, routes)
	return startDaemon(t, cfg)
}

func jsConnect(t *testing.T, d *Daemon, user string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(d.ClientURL(), nats.UserInfo(user, "p"), nats.IgnoreDiscoveredServers(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// jsAnswer is an API answer's error and the fields the tests read.
type jsAnswer struct {
	raw   string
	Type  string `json:"type"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Config *struct {
		Subjects       []string `json:"subjects"`
		DeliverSubject string   `json:"deliver_subject"`
	} `json:"config"`
	Cluster *struct {
		Leader string `json:"leader"`
	} `json:"cluster"`
}

func jsAPIRequest(t *testing.T, nc *nats.Conn, subject string, hdr nats.Header, body string) jsAnswer {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Header, m.Data = hdr, []byte(body)
	resp, err := nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	return jsDecodeAnswer(t, resp.Data)
}

func jsDecodeAnswer(t *testing.T, data []byte) jsAnswer {
	t.Helper()
	a := jsAnswer{raw: string(data)}
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("answer %q: %v", data, err)
	}
	return a
}

// holder returns the node holding stream, from its info's cluster
// leader as an admin on d sees it.
func jsHolder(t *testing.T, d *Daemon, stream string) string {
	t.Helper()
	a := jsAPIRequest(t, jsConnect(t, d, "admin"), "$JS.API.STREAM.INFO."+stream, nil, "")
	if a.Error != nil || a.Cluster == nil {
		t.Fatalf("info of %s: %s", stream, a.raw)
	}
	return a.Cluster.Leader
}

// TestJSClusterPermissions: a restricted user is refused what it would
// be refused on the node holding the stream, whichever node it is
// connected to, and a Cairn-Caller header of its own gives it nothing.
func TestJSClusterPermissions(t *testing.T) {
	users := jsUsers(t)
	n1 := startJSClusterNode(t, "n1", users)
	n2 := startJSClusterNode(t, "n2", users, "nats://"+n1.Cluster().Addr().String())
	nodes := map[string]*Daemon{"n1": n1, "n2": n2}
	admins := map[string]*nats.Conn{"n1": jsConnect(t, n1, "admin"), "n2": jsConnect(t, n2, "admin")}

	// The metadata group has a leader and both nodes reach it: a stream
	// can be created from each. The first stream loads its node, so the
	// bucket's stream goes to the other one.
	waitUntil(t, "filler stream created", func() bool {
		m := nats.NewMsg("$JS.API.STREAM.CREATE.FILLER")
		m.Data = []byte(`{"name":"FILLER","subjects":["filler"],"storage":"memory"}`)
		resp, err := admins["n1"].RequestMsg(m, 2*time.Second)
		return err == nil && jsDecodeAnswer(t, resp.Data).Error == nil
	})
	bucketCfg := `{"name":"KV_b","subjects":["$KV.b.>"],"storage":"file","max_msgs_per_subject":1,"discard":"new","allow_rollup_hdrs":true,"deny_delete":true,"allow_direct":true}`
	waitUntil(t, "bucket stream created", func() bool {
		m := nats.NewMsg("$JS.API.STREAM.CREATE.KV_b")
		m.Data = []byte(bucketCfg)
		resp, err := admins["n2"].RequestMsg(m, 2*time.Second)
		return err == nil && jsDecodeAnswer(t, resp.Data).Error == nil
	})
	bName := jsHolder(t, n1, "KV_b")
	if filler := jsHolder(t, n1, "FILLER"); filler == bName {
		t.Fatalf("FILLER and KV_b both on %s", bName)
	}
	aName := map[string]string{"n1": "n2", "n2": "n1"}[bName]
	a, b := nodes[aName], nodes[bName]
	t.Logf("KV_b is held by %s; the restricted user connects to %s", bName, aName)
	rA, rB := jsConnect(t, a, "r"), jsConnect(t, b, "r")

	// (1) A push consumer delivering to a subject the user may neither
	// publish to nor subscribe to.
	consumer := func(name, deliver string) (string, string) {
		return "$JS.API.CONSUMER.CREATE.KV_b." + name,
			fmt.Sprintf(`{"stream_name":"KV_b","config":{"name":%q,"deliver_subject":%q,"deliver_policy":"all","ack_policy":"none","replay_policy":"instant"}}`, name, deliver)
	}
	subj, body := consumer("c1", "secret.deliver")
	onB := jsAPIRequest(t, rB, subj, nil, body)
	onA := jsAPIRequest(t, rA, subj, nil, body)
	if onB.Error == nil || onB.Error.Code != 403 || !strings.Contains(onB.Error.Description, `"secret.deliver"`) {
		t.Fatalf("push consumer on the holder: %s", onB.raw)
	}
	if onA.raw != onB.raw {
		t.Fatalf("push consumer through %s: %s\non the holder: %s", aName, onA.raw, onB.raw)
	}
	// Its own inbox is fine.
	subj, body = consumer("c2", "_INBOX.mine")
	if got := jsAPIRequest(t, rA, subj, nil, body); got.Error != nil {
		t.Fatalf("push consumer on the user's inbox through %s: %s", aName, got.raw)
	}

	// (2) Streams capturing subjects the user may not subscribe to.
	create := `{"name":"CAP","subjects":["secret.>"],"storage":"file"}`
	capB := jsAPIRequest(t, rB, "$JS.API.STREAM.CREATE.CAP", nil, create)
	if capB.Error == nil || capB.Error.Code != 403 || !strings.Contains(capB.Error.Description, `"secret.>"`) {
		t.Fatalf("capturing stream on %s: %s", bName, capB.raw)
	}
	if capA := jsAPIRequest(t, rA, "$JS.API.STREAM.CREATE.CAP", nil, create); capA.raw != capB.raw {
		t.Fatalf("capturing stream through %s: %s\nthrough %s: %s", aName, capA.raw, bName, capB.raw)
	}
	// The bucket's stream (held by B) updated to capture them.
	update := strings.Replace(bucketCfg, `"subjects":["$KV.b.>"]`, `"subjects":["$KV.b.>","secret.>"]`, 1)
	updB := jsAPIRequest(t, rB, "$JS.API.STREAM.UPDATE.KV_b", nil, update)
	if updB.Error == nil || updB.Error.Code != 403 {
		t.Fatalf("capturing update on the holder: %s", updB.raw)
	}
	if updA := jsAPIRequest(t, rA, "$JS.API.STREAM.UPDATE.KV_b", nil, update); updA.raw != updB.raw {
		t.Fatalf("capturing update through %s: %s\non the holder: %s", aName, updA.raw, updB.raw)
	}

	// A Cairn-Caller header of the client's granting everything asked.
	grant := `{"sub":{"secret.>":true},"ans":{"secret.deliver":true}}`
	for _, key := range []string{"Cairn-Caller", "cairn-caller", "CAIRN-CALLER"} {
		hdr := nats.Header{}
		hdr[key] = []string{grant}
		subj, body = consumer("c3", "secret.deliver")
		if got := jsAPIRequest(t, rA, subj, hdr, body); got.raw != onB.raw {
			t.Fatalf("push consumer with %s through %s: %s", key, aName, got.raw)
		}
		if got := jsAPIRequest(t, rA, "$JS.API.STREAM.UPDATE.KV_b", hdr, update); got.raw != updB.raw {
			t.Fatalf("capturing update with %s through %s: %s", key, aName, got.raw)
		}
		if got := jsAPIRequest(t, rB, "$JS.API.STREAM.UPDATE.KV_b", hdr, update); got.raw != updB.raw {
			t.Fatalf("capturing update with %s on the holder: %s", key, got.raw)
		}
	}
	// The same through a raw connection with header blocks nats.go
	// would not send (no closing empty line: the server passes the
	// block on as it is).
	raw := jsRawClient(t, a, "r", "p")
	for i, hdr := range []string{
		"NATS/1.0\r\n",
		"NATS/1.0",
		"NATS/1.0\r\nCairn-Caller: " + grant,
		"NATS/1.0\r\nX: y\r\nCairn-Caller: " + grant + "\r\n",
		"NATS/1.0\r\nCairn-Caller: " + grant + "\r\n\r\n",
	} {
		subj, body = consumer("raw"+strconv.Itoa(i), "secret.deliver")
		got := jsDecodeAnswer(t, raw.request(t, subj, hdr, body))
		if got.Error == nil || got.Error.Code != 403 {
			t.Fatalf("push consumer with header %q through %s: %s", hdr, aName, got.raw)
		}
	}

	// Nothing was created; an unrestricted user gets all of it.
	for _, c := range []string{"c1", "c3", "raw0", "raw1", "raw2", "raw3", "raw4"} {
		if got := jsAPIRequest(t, admins[aName], "$JS.API.CONSUMER.INFO.KV_b."+c, nil, ""); got.Error == nil {
			t.Fatalf("consumer %s exists: %s", c, got.raw)
		}
	}
	subj, body = consumer("c1", "secret.deliver")
	if got := jsAPIRequest(t, admins[aName], subj, nil, body); got.Error != nil || got.Config == nil || got.Config.DeliverSubject != "secret.deliver" {
		t.Fatalf("admin's push consumer through %s: %s", aName, got.raw)
	}
	// (Its consumer goes first: the stream would deliver to itself.)
	if got := jsAPIRequest(t, admins[aName], "$JS.API.CONSUMER.DELETE.KV_b.c1", nil, ""); got.Error != nil {
		t.Fatalf("admin's consumer delete through %s: %s", aName, got.raw)
	}
	if got := jsAPIRequest(t, admins[aName], "$JS.API.STREAM.UPDATE.KV_b", nil, update); got.Error != nil {
		t.Fatalf("admin's update through %s: %s", aName, got.raw)
	}
	if got := jsAPIRequest(t, admins[aName], "$JS.API.STREAM.CREATE.CAP", nil, strings.Replace(create, "secret.>", "other.>", 1)); got.Error != nil {
		t.Fatalf("admin's capturing stream through %s: %s", aName, got.raw)
	}
}

// TestJSClusterGathered: STREAM.NAMES and $JS.API.INFO through either
// node cover the streams of both.
func TestJSClusterGathered(t *testing.T) {
	users := jsUsers(t)
	n1 := startJSClusterNode(t, "n1", users)
	n2 := startJSClusterNode(t, "n2", users, "nats://"+n1.Cluster().Addr().String())
	admin := jsConnect(t, n1, "admin")
	for _, name := range []string{"S1", "S2"} {
		waitUntil(t, name+" created", func() bool {
			m := nats.NewMsg("$JS.API.STREAM.CREATE." + name)
			m.Data = []byte(`{"name":"` + name + `","subjects":["` + strings.ToLower(name) + `"],"storage":"memory"}`)
			resp, err := admin.RequestMsg(m, 2*time.Second)
			return err == nil && jsDecodeAnswer(t, resp.Data).Error == nil
		})
	}
	if h1, h2 := jsHolder(t, n1, "S1"), jsHolder(t, n2, "S2"); h1 == h2 {
		t.Fatalf("S1 and S2 both on %s", h1)
	}
	for _, d := range []*Daemon{n1, n2} {
		nc := jsConnect(t, d, "r")
		resp, err := nc.Request("$JS.API.STREAM.NAMES", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var names struct {
			Total   int      `json:"total"`
			Streams []string `json:"streams"`
		}
		if err := json.Unmarshal(resp.Data, &names); err != nil || names.Total != 2 || strings.Join(names.Streams, ",") != "S1,S2" {
			t.Fatalf("names through %s: %s", d.Server().Name(), resp.Data)
		}
		resp, err = nc.Request("$JS.API.INFO", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Streams int `json:"streams"`
		}
		if err := json.Unmarshal(resp.Data, &info); err != nil {
			t.Fatal(err)
		}
		if info.Streams != 2 {
			t.Fatalf("info through %s: %s", d.Server().Name(), resp.Data)
		}
	}
}

// jsRawConn is a client speaking the protocol itself, to send header
// blocks no client library sends.
type jsRawConn struct {
	c  net.Conn
	br *bufio.Reader
	n  int
}

func jsRawClient(t *testing.T, d *Daemon, user, pass string) *jsRawConn {
	t.Helper()
	u, err := url.Parse(d.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &jsRawConn{c: c, br: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if line := r.line(t); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("first line %q", line)
	}
	fmt.Fprintf(c, "CONNECT {\"user\":%q,\"pass\":%q,\"headers\":true,\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nSUB _INBOX.raw.* 1\r\nPING\r\n", user, pass)
	if line := r.line(t); line != "PONG" {
		t.Fatalf("after CONNECT: %q", line)
	}
	return r
}

func (r *jsRawConn) line(t *testing.T) string {
	t.Helper()
	l, err := r.br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// request sends subject with the raw header block hdr and returns the
// payload of the answer.
func (r *jsRawConn) request(t *testing.T, subject, hdr, body string) []byte {
	t.Helper()
	r.n++
	reply := "_INBOX.raw." + strconv.Itoa(r.n)
	fmt.Fprintf(r.c, "HPUB %s %s %d %d\r\n%s%s\r\n", subject, reply, len(hdr), len(hdr)+len(body), hdr, body)
	for {
		line := r.line(t)
		switch {
		case line == "PING":
			fmt.Fprint(r.c, "PONG\r\n")
		case strings.HasPrefix(line, "MSG ") || strings.HasPrefix(line, "HMSG "):
			f := strings.Fields(line)
			size, _ := strconv.Atoi(f[len(f)-1])
			buf := make([]byte, size+2)
			if _, err := io.ReadFull(r.br, buf); err != nil {
				t.Fatal(err)
			}
			if f[1] != reply {
				continue // an answer to an earlier request
			}
			payload := buf[:size]
			if f[0] == "HMSG" {
				hsize, _ := strconv.Atoi(f[len(f)-2])
				payload = payload[hsize:]
			}
			return payload
		case strings.HasPrefix(line, "-ERR"):
			t.Fatalf("request %s with header %q: %s", subject, hdr, line)
		}
	}
}
