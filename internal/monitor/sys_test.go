package monitor_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/cairn-db/cairn/internal/monitor"
	"github.com/cairn-db/cairn/internal/server"
)

// newSys returns the system request answerer of a monitor over a
// server named "sys-unit" (not started: nothing is listening).
func newSys(t *testing.T) (*monitor.Sys, *server.Server) {
	t.Helper()
	srv, err := server.New(server.Options{Host: "127.0.0.1", Port: -1, Name: "sys-unit", Logger: server.NewLogger(io.Discard, false, false)})
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(monitor.Options{Core: srv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return monitor.NewSys(m), srv
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return v
}

func TestSysEndpoints(t *testing.T) {
	s, _ := newSys(t)
	want := []string{"ACCOUNTZ", "CONNZ", "HEALTHZ", "IDZ", "JSZ", "ROUTEZ", "STATSZ", "SUBSZ", "VARZ"}
	if got := s.Endpoints(); !reflect.DeepEqual(got, want) {
		t.Fatalf("endpoints %v, want %v", got, want)
	}
	if b := s.Answer("PROFILEZ", nil); b != nil {
		t.Fatalf("PROFILEZ answered: %s", b)
	}
}

// TestSysEnvelope: the server object names the server, its sequence
// moves on with each answer; data is the endpoint's document.
func TestSysEnvelope(t *testing.T) {
	s, srv := newSys(t)
	var lastSeq float64
	for _, ep := range []string{"VARZ", "CONNZ", "SUBSZ", "HEALTHZ", "JSZ", "ACCOUNTZ"} {
		v := decode(t, s.Answer(ep, nil))
		si := v["server"].(map[string]any)
		if si["id"] != srv.ID() || si["name"] != "sys-unit" || si["host"] != "127.0.0.1" || si["ver"] != server.CompatVersion || si["jetstream"] != false || si["flags"] != float64(0) {
			t.Errorf("%s: server %v", ep, si)
		}
		if seq := si["seq"].(float64); seq <= lastSeq {
			t.Errorf("%s: seq %v after %v", ep, seq, lastSeq)
		} else {
			lastSeq = seq
		}
		if _, ok := si["time"].(string); !ok {
			t.Errorf("%s: no time in %v", ep, si)
		}
		if v["data"] == nil || v["error"] != nil {
			t.Errorf("%s: %v", ep, v)
		}
	}
	if data := decode(t, s.Answer("HEALTHZ", nil))["data"].(map[string]any); data["status"] != "ok" || data["status_code"] != float64(200) {
		t.Errorf("healthz: %v", data)
	}
	if data := decode(t, s.Answer("JSZ", nil))["data"].(map[string]any); data["disabled"] != true {
		t.Errorf("jsz without JetStream: %v", data)
	}
	if v := decode(t, s.Answer("IDZ", []byte("{bad"))); !reflect.DeepEqual(v, map[string]any{"name": "sys-unit", "host": "127.0.0.1", "id": srv.ID()}) {
		t.Errorf("idz: %v", v)
	}
	st := decode(t, s.Answer("STATSZ", nil))
	if st["server"] == nil || st["statsz"].(map[string]any)["active_servers"] != float64(1) || st["data"] != nil {
		t.Errorf("statsz: %v", st)
	}
}

// TestSysFilters: a body naming another server gets no answer; one
// naming this one, or nothing, does.
func TestSysFilters(t *testing.T) {
	s, _ := newSys(t)
	for _, c := range []struct {
		body   string
		answer bool
	}{
		{`{}`, true},
		{`{"server_name":"sys"}`, true},
		{`{"server_name":"sys-unit","exact_match":true}`, true},
		{`{"server_name":"sys","exact_match":true}`, false},
		{`{"server_name":"other"}`, false},
		{`{"host":"127.0"}`, true},
		{`{"host":"10.0.0.1"}`, false},
		{`{"cluster":"c"}`, false},
		{`{"tags":["a"]}`, false},
		{`{"domain":"hub"}`, false},
	} {
		for _, ep := range []string{"STATSZ", "VARZ", "CONNZ", "HEALTHZ", "SUBSZ", "JSZ"} {
			if got := s.Answer(ep, []byte(c.body)) != nil; got != c.answer {
				t.Errorf("%s %s: answered %v, want %v", ep, c.body, got, c.answer)
			}
		}
	}
}

// TestSysBadBody: a body that does not decode is a 400 without data;
// an option the endpoint refuses a 500 with data null.
func TestSysBadBody(t *testing.T) {
	s, _ := newSys(t)
	for _, ep := range []string{"STATSZ", "VARZ", "CONNZ", "HEALTHZ", "SUBSZ", "JSZ"} {
		b := s.Answer(ep, []byte("{bad"))
		v := decode(t, b)
		e, _ := v["error"].(map[string]any)
		if e["code"] != float64(400) || !strings.Contains(e["description"].(string), "invalid character 'b'") {
			t.Errorf("%s: %s", ep, b)
		}
		if _, has := v["data"]; has || v["statsz"] != nil || v["server"] == nil {
			t.Errorf("%s: %s", ep, b)
		}
	}
	b := s.Answer("CONNZ", []byte(`{"sort":"nope"}`))
	if !strings.Contains(string(b), `"data":null,"error":{"code":500,"description":"invalid sorting option: nope"}`) {
		t.Errorf("bad sort: %s", b)
	}
	b = s.Answer("CONNZ", []byte(`{"limit":"x"}`))
	if !strings.Contains(string(b), `"description":"json: cannot unmarshal string into Go struct field ConnzEventOptions.ConnzOptions.limit of type int"`) {
		t.Errorf("bad limit: %s", b)
	}
}

// TestSysAccount: AnswerAccount limits CONNZ and SUBSZ to one account.
func TestSysAccount(t *testing.T) {
	s, _ := newSys(t)
	v := decode(t, s.AnswerAccount("CONNZ", "APP", nil))
	if d := v["data"].(map[string]any); d["num_connections"] != float64(0) {
		t.Errorf("connz: %v", d)
	}
	v = decode(t, s.AnswerAccount("SUBSZ", "APP", []byte(`{"subscriptions":false}`)))
	if v["data"] == nil {
		t.Errorf("subsz: %v", v)
	}
	if b := s.AnswerAccount("VARZ", "APP", nil); b != nil {
		t.Errorf("account VARZ: %s", b)
	}
}

// TestSysEncoded: a successful answer is compressed as the request's
// Accept-Encoding asks; STATSZ, IDZ and errors are not.
func TestSysEncoded(t *testing.T) {
	s, _ := newSys(t)
	plain := func(r monitor.Reply) map[string]any {
		t.Helper()
		var rd io.Reader = bytes.NewReader(r.Payload)
		switch r.ContentEncoding {
		case "snappy":
			rd = s2.NewReader(rd)
		case "gzip":
			zr, err := gzip.NewReader(rd)
			if err != nil {
				t.Fatal(err)
			}
			rd = zr
		}
		b, err := io.ReadAll(rd)
		if err != nil {
			t.Fatalf("%s: %v", r.ContentEncoding, err)
		}
		return decode(t, b)
	}
	for _, c := range []struct{ ae, want string }{
		{"", ""}, {"snappy", "snappy"}, {"s2", "snappy"}, {"gzip, deflate", "gzip"}, {"GZIP", "gzip"}, {"br", "identity"},
	} {
		r := s.AnswerEncoded("VARZ", nil, c.ae)
		if r.ContentEncoding != c.want {
			t.Errorf("%q: content encoding %q, want %q", c.ae, r.ContentEncoding, c.want)
		}
		if v := plain(r); v["data"] == nil {
			t.Errorf("%q: %v", c.ae, v)
		}
		if r := s.AnswerAccountEncoded("CONNZ", "A", nil, c.ae); r.ContentEncoding != c.want {
			t.Errorf("account CONNZ %q: content encoding %q", c.ae, r.ContentEncoding)
		}
	}
	for _, c := range []struct{ ep, body string }{{"STATSZ", ""}, {"IDZ", ""}, {"VARZ", "{bad"}, {"CONNZ", `{"sort":"x"}`}} {
		if r := s.AnswerEncoded(c.ep, []byte(c.body), "snappy"); r.ContentEncoding != "" || plain(r) == nil {
			t.Errorf("%s %s: compressed (%q)", c.ep, c.body, r.ContentEncoding)
		}
	}
	if r := s.AnswerEncoded("VARZ", []byte(`{"server_name":"x"}`), "snappy"); r.Payload != nil {
		t.Errorf("filtered: %+v", r)
	}
}
