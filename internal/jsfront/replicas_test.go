package jsfront

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-db/cairn/internal/jsapi"
)

func (m *fakeMeta) replicaPlaced() [][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.replicaPlaces)
}

func (m *fakeMeta) placed() []placeCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.places)
}

// TestCreateTooManyReplicas: more replicas than known nodes (this one
// and its connected peers) is refused with nats-server's answer, seen
// on a 3-node nats-server 2.15.2 for num_replicas 4 and 5.
func TestCreateTooManyReplicas(t *testing.T) {
	for _, n := range []int{4, 5} {
		r := newRig(t, nil)
		body := []byte(`{"name":"S","subjects":["s.>"],"num_replicas":` + string(rune('0'+n)) + `}`)
		q, ch := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, body, nil)
		r.f.route(q)
		a := r.answerTo(t)
		want := `{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10005,"description":"no suitable peers for placement"}}`
		if string(a.data) != want || a.subject != "_INBOX.r" {
			t.Fatalf("R%d: answer %s", n, a.data)
		}
		if len(r.meta.placed()) != 0 || len(r.meta.replicaPlaced()) != 0 || len(r.net.sent()) != 0 || len(ch) != 0 {
			t.Fatalf("R%d: placed or sent", n)
		}
	}
}

// TestCreateReplicasPlaced: R distinct connected nodes, least loaded
// first, ties at random; the request then goes to the first.
func TestCreateReplicasPlaced(t *testing.T) {
	r := newRig(t, nil)
	r.meta.load = map[string]int{"n1": 5, "n2": 0, "n3": 1, "n9": 0} // n9 not connected
	body := []byte(`{"name":"S","num_replicas":3}`)
	q, _ := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, body, nil)
	r.f.route(q)
	waitFor(t, "forwarded", func() bool { return len(r.net.sent()) == 1 })
	if p := r.meta.replicaPlaced(); !reflect.DeepEqual(p, [][]string{{"n2", "n3", "n1"}}) {
		t.Fatalf("placed %v", p)
	}
	if s := r.net.sent()[0]; s.node != "n2" || s.subject != "$JS.API.STREAM.CREATE.S" || string(s.data) != string(body) {
		t.Fatalf("sent %+v", s)
	}
	if len(r.meta.placed()) != 0 {
		t.Fatal("placed as R1 too")
	}

	r.meta.load = map[string]int{"n3": 9}
	seen := map[string]int{}
	for range 200 {
		got := r.f.chooseN(2)
		if len(got) != 2 || got[0] == got[1] || slices.Contains(got, "n3") {
			t.Fatalf("chooseN(2) = %v", got)
		}
		seen[got[0]]++
	}
	if seen["n1"] < 30 || seen["n2"] < 30 {
		t.Fatalf("first choices %v", seen)
	}
	if got := r.f.chooseN(5); len(got) != 3 {
		t.Fatalf("chooseN(5) of three nodes = %v", got)
	}
}

// TestCreateReplicasLeftToAPI: R1, more than 5, negative, or a body
// that does not decode are placed as R1 (the API refuses what it must).
func TestCreateReplicasLeftToAPI(t *testing.T) {
	for _, body := range []string{`{"name":"S"}`, `{"name":"S","num_replicas":1}`, `{"name":"S","num_replicas":6}`, `{"name":"S","num_replicas":-3}`, `{"name":"S","num_replicas":"3"}`} {
		r := newRig(t, nil)
		q, _ := req("$JS.API.STREAM.CREATE.S", "_INBOX.r", nil, []byte(body), nil)
		r.f.route(q)
		waitFor(t, "placed", func() bool { return len(r.meta.placed()) == 1 })
		if len(r.meta.replicaPlaced()) != 0 {
			t.Fatalf("%s: placed with replicas", body)
		}
	}
}

// TestRouteReplicatedLeader: the leader answers locally.
func TestRouteReplicatedLeader(t *testing.T) {
	for _, subject := range []string{"$JS.API.STREAM.INFO.S", "$JS.API.STREAM.LEADER.STEPDOWN.S", "$JS.API.STREAM.PEER.REMOVE.S", "$JS.API.CONSUMER.CREATE.S.C", "$JS.API.STREAM.CREATE.S"} {
		r := newRig(t, nil)
		r.meta.setPeers("A", "S", "n2", "n1", "n3")
		r.local.setLeads("A", "S", true, true)
		q, ch := req(subject, "_INBOX.r", nil, []byte(`{}`), nil)
		r.f.route(q)
		waitLocal(t, ch)
		if s := r.net.sent(); len(s) != 0 {
			t.Fatalf("%s: sent %+v", subject, s)
		}
	}
}

// TestRouteReplicatedElsewhere: a node that does not lead sends the
// request to every other peer (the leader among them answers), with
// the caller's recorded permissions; none reachable: an error at once.
func TestRouteReplicatedElsewhere(t *testing.T) {
	caller := &fakeCaller{ans: map[string]bool{"_INBOX.r": true}}
	for _, tc := range []struct {
		name  string
		peers []string
		runs  bool // this node runs a follower
		down  []string
		want  []string
	}{
		{"follower here", []string{"n1", "n2", "n3"}, true, nil, []string{"n2", "n3"}},
		{"peer, not running yet", []string{"n2", "n1", "n3"}, false, nil, []string{"n2", "n3"}},
		{"not a peer", []string{"n2", "n3", "n4"}, false, []string{"n4"}, []string{"n2", "n3"}},
		{"one peer down", []string{"n1", "n2", "n3"}, true, []string{"n2"}, []string{"n3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.meta.setPeers("A", "S", tc.peers...)
			r.local.setLeads("A", "S", tc.runs, false)
			for _, d := range tc.down {
				r.net.down[d] = true
			}
			for _, subject := range []string{"$JS.API.STREAM.INFO.S", "$JS.API.STREAM.CREATE.S"} {
				r.net.sends = nil
				q, ch := req(subject, "_INBOX.r", []byte("NATS/1.0\r\nX: y\r\n\r\n"), []byte(`{}`), caller)
				r.f.route(q)
				var to []string
				for _, s := range r.net.sent() {
					to = append(to, s.node)
					if s.subject != subject || s.reply != "_INBOX.r" || callerFrom(s.hdr) == nil || !strings.Contains(string(s.hdr), "X: y") {
						t.Fatalf("sent %+v", s)
					}
				}
				if !reflect.DeepEqual(to, tc.want) || len(ch) != 0 {
					t.Fatalf("%s: sent to %v, local %d", subject, to, len(ch))
				}
			}
		})
	}
	t.Run("all down", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.setPeers("A", "S", "n1", "n2", "n3")
		r.local.setLeads("A", "S", true, false)
		r.net.down["n2"], r.net.down["n3"] = true, true
		q, _ := req("$JS.API.STREAM.INFO.S", "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		if typ, e := apiErr(t, r.answerTo(t).data); e == nil || *e != *jsapi.ErrStreamOffline || typ != "io.nats.jetstream.api.v1.stream_info_response" {
			t.Fatalf("%s %+v", typ, e)
		}
		q, _ = req("$JS.API.STREAM.LEADER.STEPDOWN.S", "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		if typ, e := apiErr(t, r.answerTo(t).data); e == nil || *e != *jsapi.ErrClusterUnavailable || typ != "io.nats.jetstream.api.v1.stream_leader_stepdown_response" {
			t.Fatalf("%s %+v", typ, e)
		}
	})
}

// TestDropAtFollower: on the receiving side, a follower drops a
// forwarded request about its stream; the leader and a node that runs
// no replica answer.
func TestDropAtFollower(t *testing.T) {
	r := newRig(t, nil)
	r.meta.setPeers("A", "S", "n1", "n2", "n3")
	for _, tc := range []struct {
		subject            string
		replicated, leader bool
		drop               bool
	}{
		{"$JS.API.STREAM.INFO.S", true, false, true},
		// A create goes to the holder alone: answered even when its
		// replica runs without leading (an identical create is one).
		{"$JS.API.STREAM.CREATE.S", true, false, false},
		{"$JS.API.STREAM.PEER.REMOVE.S", true, false, true},
		{"$JS.API.CONSUMER.INFO.S.C", true, false, true},
		{"$JS.API.STREAM.INFO.S", true, true, false},
		// A peer whose replica does not run yet: the leader answers,
		// not this node's "stream not found"; but a create must reach
		// the holder's API, which starts it.
		{"$JS.API.STREAM.INFO.S", false, false, true},
		{"$JS.API.STREAM.CREATE.S", false, false, false},
		{"$JS.API.STREAM.NAMES", true, false, false},
		{"$JS.API.INFO", true, false, false},
	} {
		r.local.setLeads("A", "S", tc.replicated, tc.leader)
		if got := r.f.dropAtFollower("A", tc.subject); got != tc.drop {
			t.Errorf("%s replicated=%v leader=%v: drop %v", tc.subject, tc.replicated, tc.leader, got)
		}
	}
	// Without a LeaderLocal nobody can tell a leader: nothing dropped.
	bare := newRig(t, func(o *Options) { o.Local = struct{ Local }{o.Local} })
	bare.meta.setPeers("A", "S", "n1", "n2", "n3")
	if bare.f.dropAtFollower("A", "$JS.API.STREAM.INFO.S") {
		t.Error("dropped without a LeaderLocal")
	}
	// Not a peer at all: answered as before (the API says what it
	// knows).
	r.meta.setPeers("A", "U", "n2", "n3", "n4")
	if r.f.dropAtFollower("A", "$JS.API.STREAM.INFO.U") {
		t.Error("a node that is no peer dropped a request")
	}
	// A create forwarded to a peer other than the first is not "placed
	// elsewhere".
	r.local.setLeads("A", "S", false, false)
	if r.f.placedElsewhere("A", "$JS.API.STREAM.CREATE.S", "_INBOX.r") {
		t.Error("a peer took a create for its own stream as placed elsewhere")
	}
	r.meta.setPeers("A", "T", "n2", "n3", "n4")
	if !r.f.placedElsewhere("A", "$JS.API.STREAM.CREATE.T", "_INBOX.r") {
		t.Error("a create of a stream placed on other nodes was not refused")
	}
	r.answerTo(t)
}

// TestMetaStepDown: the metadata leader steps down and answers; another
// node forwards a client's request to it once; a forwarded request is
// never forwarded again.
func TestMetaStepDown(t *testing.T) {
	ok := `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","success":true}`
	t.Run("leader here", func(t *testing.T) {
		for _, forwarded := range []bool{false, true} {
			r := newRig(t, nil)
			r.meta.leader = "n1"
			r.f.metaStepDown("$SYS", "_INBOX.r", nil, nil, forwarded)
			if a := r.answerTo(t); string(a.data) != ok || a.account != "$SYS" || a.subject != "_INBOX.r" {
				t.Fatalf("answer %+v", a)
			}
			if r.meta.stepDowns != 1 || len(r.net.sent()) != 0 {
				t.Fatalf("%d step-downs, sent %v", r.meta.stepDowns, r.net.sent())
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.leader = "n1"
		r.meta.stepDown = func(context.Context) error { return errors.New("meta: no member took over the leadership") }
		r.f.metaStepDown("$SYS", "_INBOX.r", nil, nil, false)
		want := `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":500,"err_code":10041,"description":"meta: no member took over the leadership"}}`
		if a := r.answerTo(t); string(a.data) != want {
			t.Fatalf("answer %s", a.data)
		}
	})
	t.Run("leader elsewhere", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.leader = "n3"
		hdr := []byte("NATS/1.0\r\nCairn-Caller: {}\r\n\r\n")
		r.f.metaStepDown("$SYS", "_INBOX.r", hdr, []byte(`{}`), false)
		s := r.net.sent()
		if len(s) != 1 || s[0].node != "n3" || s[0].subject != subjMetaStepDown || s[0].reply != "_INBOX.r" || s[0].account != "$SYS" || callerFrom(s[0].hdr) != nil {
			t.Fatalf("sent %+v", s)
		}
		// At n3, which lost the leadership meanwhile: no second hop.
		r.net.sends = nil
		r.f.metaStepDown("$SYS", "_INBOX.r", nil, nil, true)
		if len(r.net.sent()) != 0 || r.meta.stepDowns != 0 || len(r.local.out) != 0 {
			t.Fatal("a forwarded request was forwarded or answered")
		}
		r.net.down["n3"] = true
		r.f.metaStepDown("$SYS", "_INBOX.r", nil, nil, false)
		if _, e := apiErr(t, r.answerTo(t).data); e == nil || e.ErrCode != 10008 {
			t.Fatalf("leader unreachable: %+v", e)
		}
	})
	t.Run("no leader", func(t *testing.T) {
		r := newRig(t, nil)
		r.f.metaStepDown("$SYS", "_INBOX.r", nil, nil, false)
		if typ, e := apiErr(t, r.answerTo(t).data); e == nil || e.ErrCode != 10008 || typ != typeMetaStepDown {
			t.Fatalf("%s %+v", typ, e)
		}
	})
	t.Run("not clustered", func(t *testing.T) {
		r := newRig(t, func(o *Options) { o.Meta = struct{ Meta }{o.Meta} })
		r.f.metaStepDown("$SYS", "_INBOX.r", nil, nil, false)
		if len(r.local.out) != 0 || len(r.net.sent()) != 0 {
			t.Fatal("answered without a ReplicaMeta")
		}
	})
	t.Run("placement", func(t *testing.T) {
		for _, tc := range []struct {
			body, want, to string
			peers          []string
		}{
			{"", ok, "", nil}, // no body: step down even alone, as nats-server
			{" {}", ok, "", nil},
			{"not json", ok, "", nil}, // only an object or array is read
			{`{"placement":{"preferred":"n3"}}`, ok, "n3", nil},
			{`{"placement":{}}`, ok, "", []string{"n2"}},
			{`{"placement":{"cluster":"c1"}}`, ok, "", []string{"n2"}},
			{`{bad`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: invalid character 'b' looking for beginning of object key string at offset 2"}}`, "-", nil},
			{`{"nope":1}`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"nope\""}}`, "-", nil},
			{`{"placement":{"preferred":"nope"}}`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10005,"description":"preferred server \"nope\" not known"}}`, "-", nil},
			{`{"placement":{"preferred":"n1"}}`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10005,"description":"preferred server \"n1\" is already leader"}}`, "-", nil},
			{`{"placement":{}}`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10005,"description":"no replacement peer connected"}}`, "-", []string{}},
			{`{"placement":{"cluster":"other"}}`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10005,"description":"no replacement peer connected"}}`, "-", []string{"n2"}},
			{`{"placement":{"tags":["ssd"]}}`, `{"type":"io.nats.jetstream.api.v1.meta_leader_stepdown_response","error":{"code":400,"err_code":10005,"description":"no replacement peer connected"}}`, "-", []string{"n2"}},
		} {
			r := newRig(t, func(o *Options) { o.Cluster = "c1" })
			r.meta.leader, r.meta.members = "n1", []string{"n1", "n2", "n3"}
			if tc.peers != nil {
				r.net.peers = tc.peers
			}
			r.f.metaStepDown("$SYS", "_INBOX.r", nil, []byte(tc.body), false)
			if a := r.answerTo(t); string(a.data) != tc.want {
				t.Fatalf("body %q: answer %s", tc.body, a.data)
			}
			if tc.to == "-" {
				if r.meta.stepDowns != 0 {
					t.Fatalf("body %q: stepped down", tc.body)
				}
			} else if !reflect.DeepEqual(r.meta.stepDownTo, []string{tc.to}) {
				t.Fatalf("body %q: stepped down to %q", tc.body, r.meta.stepDownTo)
			}
		}
	})
	t.Run("through the API bus", func(t *testing.T) {
		r := newRig(t, nil)
		r.meta.leader = "n1"
		q, ch := req(subjMetaStepDown, "_INBOX.r", nil, nil, nil)
		r.f.route(q)
		if len(ch) != 0 || len(r.local.out) != 0 || r.meta.stepDowns != 0 {
			t.Fatal("a non-system account's request was served")
		}
	})
}

// TestGatherReplicatedOnce: a replicated stream listed by each of its
// replicas is counted once, with its leader's info.
func TestGatherReplicatedOnce(t *testing.T) {
	held := map[string][]string{"n1": {"a", "r"}, "n2": {"r"}, "n3": {"c", "r"}}
	answer := func(node, subject string, data []byte) []byte {
		if subject == "$JS.API.INFO" {
			return []byte(`{"type":"io.nats.jetstream.api.v1.account_info_response","memory":0,"storage":1,"streams":` + string(rune('0'+len(held[node]))) + `,"consumers":0,"limits":{},"api":{"level":1,"total":0,"errors":0}}`)
		}
		var items []any
		for _, n := range held[node] {
			if subject == "$JS.API.STREAM.NAMES" {
				items = append(items, n)
				continue
			}
			info := map[string]any{"config": map[string]any{"name": n}, "from": node}
			if n == "r" {
				info["cluster"] = map[string]any{"leader": "n2"}
			}
			items = append(items, info)
		}
		b, _ := json.Marshal(map[string]any{"type": "t", "total": len(items), "offset": 0, "limit": 1024, "streams": items})
		return b
	}
	r := gatherRig(t, answer)
	r.meta.set("A", "a", "n1")
	r.meta.set("A", "c", "n3")
	r.meta.setPeers("A", "r", "n1", "n2", "n3")

	q, _ := req("$JS.API.STREAM.LIST", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	var list struct {
		Total   int `json:"total"`
		Streams []struct {
			Config struct{ Name string } `json:"config"`
			From   string                `json:"from"`
		} `json:"streams"`
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal(r.answerTo(t).data, &list); err != nil {
		t.Fatal(err)
	}
	if list.Total != 3 || len(list.Streams) != 3 || list.Streams[2].Config.Name != "r" || list.Streams[2].From != "n2" || len(list.Missing) != 0 {
		t.Fatalf("list %+v", list)
	}

	q, _ = req("$JS.API.STREAM.NAMES", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	var names struct {
		Total   int      `json:"total"`
		Streams []string `json:"streams"`
	}
	if err := json.Unmarshal(r.answerTo(t).data, &names); err != nil || !reflect.DeepEqual(names.Streams, []string{"a", "c", "r"}) || names.Total != 3 {
		t.Fatalf("names %+v %v", names, err)
	}

	q, _ = req("$JS.API.INFO", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	var info struct {
		Type    string `json:"type"`
		Streams int    `json:"streams"`
		Storage int    `json:"storage"`
	}
	if err := json.Unmarshal(r.answerTo(t).data, &info); err != nil || info.Streams != 3 || info.Storage != 3 || info.Type != "io.nats.jetstream.api.v1.account_info_response" {
		t.Fatalf("info %+v %v", info, err)
	}
}

// TestGatherReplicatedMissing: a replicated stream is missing only when
// none of its peers answered.
func TestGatherReplicatedMissing(t *testing.T) {
	answer := func(node, subject string, data []byte) []byte {
		return []byte(`{"type":"t","total":0,"offset":0,"limit":1024,"streams":[]}`)
	}
	r := gatherRig(t, answer, "n2", "n3")
	r.meta.setPeers("A", "gone", "n2", "n3", "n4")
	r.meta.setPeers("A", "here", "n2", "n1", "n3")
	q, _ := req("$JS.API.STREAM.LIST", "_INBOX.r", nil, nil, nil)
	r.f.route(q)
	var list struct {
		Missing []string `json:"missing"`
	}
	if err := json.Unmarshal(r.answerTo(t).data, &list); err != nil || !reflect.DeepEqual(list.Missing, []string{"gone"}) {
		t.Fatalf("missing %v %v", list.Missing, err)
	}
}
