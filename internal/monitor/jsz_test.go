package monitor_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/daemon"
)

// exporterJsz holds every /jsz field prometheus-nats-exporter reads
// (with accounts, streams, consumers and config), with the Go types
// nats-server encodes them from: a field of another JSON type fails
// the decoding.
type exporterJsz struct {
	ID       string `json:"server_id"`
	Disabled bool   `json:"disabled"`
	Config   struct {
		MaxMemory  int64 `json:"max_memory"`
		MaxStorage int64 `json:"max_storage"`
	} `json:"config"`
	Memory    uint64 `json:"memory"`
	Storage   uint64 `json:"storage"`
	Streams   int    `json:"streams"`
	Consumers int    `json:"consumers"`
	Messages  uint64 `json:"messages"`
	Bytes     uint64 `json:"bytes"`
	API       struct {
		Total  uint64 `json:"total"`
		Errors uint64 `json:"errors"`
	} `json:"api"`
	Total    int `json:"total"`
	Accounts []struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Memory  uint64 `json:"memory"`
		Storage uint64 `json:"storage"`
		Streams []struct {
			Name    string `json:"name"`
			Cluster *struct {
				Leader string `json:"leader"`
			} `json:"cluster"`
			Config *struct {
				MaxBytes int64 `json:"max_bytes"`
				MaxMsgs  int64 `json:"max_msgs"`
			} `json:"config"`
			State struct {
				Messages    uint64 `json:"messages"`
				Bytes       uint64 `json:"bytes"`
				FirstSeq    uint64 `json:"first_seq"`
				LastSeq     uint64 `json:"last_seq"`
				Consumers   int    `json:"consumer_count"`
				NumSubjects uint64 `json:"num_subjects"`
			} `json:"state"`
			Consumers []struct {
				Name      string `json:"name"`
				Delivered struct {
					Consumer uint64 `json:"consumer_seq"`
					Stream   uint64 `json:"stream_seq"`
				} `json:"delivered"`
				AckFloor struct {
					Consumer uint64 `json:"consumer_seq"`
					Stream   uint64 `json:"stream_seq"`
				} `json:"ack_floor"`
				NumAckPending  int    `json:"num_ack_pending"`
				NumRedelivered int    `json:"num_redelivered"`
				NumWaiting     int    `json:"num_waiting"`
				NumPending     uint64 `json:"num_pending"`
				Config         *struct {
					DeliverSubject string `json:"deliver_subject"`
				} `json:"config"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// exporterQuery is what prometheus-nats-exporter asks.
const exporterQuery = "/jsz?accounts=true&streams=true&consumers=true&config=true"

// TestJszExporterFields: after a bucket with two keys and a watch,
// every field the exporter reads is there with its type and the value
// the JetStream API reports.
func TestJszExporterFields(t *testing.T) {
	d := startDaemon(t, nil)
	nc := kvWorkload(t, d.ClientURL())
	var j exporterJsz
	getJSON(t, d.MonitorURL()+exporterQuery, http.StatusOK, &j)
	if j.ID != d.Server().ID() || j.Disabled || j.Config.MaxMemory <= 0 || j.Config.MaxStorage <= 0 {
		t.Errorf("server part: %+v", j)
	}
	if j.Streams != 1 || j.Consumers != 1 || j.Messages != 2 || j.Bytes == 0 || j.Storage != j.Bytes || j.Memory != 0 || j.API.Total == 0 || j.Total != 1 {
		t.Errorf("totals: streams %d consumers %d messages %d bytes %d storage %d memory %d api %+v total %d",
			j.Streams, j.Consumers, j.Messages, j.Bytes, j.Storage, j.Memory, j.API, j.Total)
	}
	if len(j.Accounts) != 1 || len(j.Accounts[0].Streams) != 1 || len(j.Accounts[0].Streams[0].Consumers) != 1 {
		t.Fatalf("account details: %+v", j.Accounts)
	}
	a := j.Accounts[0]
	if a.Name != "$G" || a.ID != "$G" || a.Storage != j.Bytes {
		t.Errorf("account %q %q storage %d", a.Name, a.ID, a.Storage)
	}
	s := a.Streams[0]
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "KV_mon")
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if s.Name != "KV_mon" || s.Cluster == nil || s.Cluster.Leader != info.Cluster.Leader || s.Config == nil ||
		s.Config.MaxBytes != info.Config.MaxBytes || s.Config.MaxMsgs != info.Config.MaxMsgs {
		t.Errorf("stream %+v, API %+v", s, info.Config)
	}
	if s.State.Messages != info.State.Msgs || s.State.Bytes != info.State.Bytes || s.State.FirstSeq != 1 || s.State.LastSeq != 2 ||
		s.State.Consumers != 1 || s.State.NumSubjects != 2 {
		t.Errorf("state %+v, API %+v", s.State, info.State)
	}
	c := s.Consumers[0]
	legacy, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	cinfo, err := legacy.ConsumerInfo("KV_mon", c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivered.Consumer != 2 || c.Delivered.Stream != 2 || c.AckFloor != c.Delivered || c.NumPending != 0 ||
		c.NumAckPending != 0 || c.NumRedelivered != 0 || c.NumWaiting != 0 || c.Config == nil || c.Config.DeliverSubject == "" {
		t.Errorf("consumer %+v", c)
	}
	if cinfo.Delivered.Consumer != c.Delivered.Consumer || cinfo.Delivered.Stream != c.Delivered.Stream || cinfo.NumPending != c.NumPending {
		t.Errorf("consumer %+v, API %+v", c, cinfo)
	}
}

// TestJszParameters: what each parameter adds or selects, and the 400
// answers to bad values.
func TestJszParameters(t *testing.T) {
	d := startDaemon(t, nil)
	kvWorkload(t, d.ClientURL())
	url := d.MonitorURL() + "/jsz"
	type detail struct {
		Name    string           `json:"name"`
		Streams []map[string]any `json:"stream_detail"`
	}
	type jsz struct {
		Streams  int      `json:"streams"`
		Total    int      `json:"total"`
		Accounts []detail `json:"account_details"`
	}
	for _, c := range []struct {
		query                    string
		accounts, streams        int
		consumers, config, state bool
	}{
		{query: "", accounts: 0},
		{query: "?accounts=true", accounts: 1},
		{query: "?streams=true", accounts: 1, streams: 1, state: true},
		{query: "?consumers=true", accounts: 1, streams: 1, state: true, consumers: true},
		{query: "?streams=true&config=true", accounts: 1, streams: 1, state: true, config: true},
		{query: "?acc=$G", accounts: 1},
		{query: "?acc=$G&streams=1", accounts: 1, streams: 1, state: true},
		{query: "?acc=nope", accounts: 0},
		{query: "?acc=nope&streams=true", accounts: 0},
		{query: "?accounts=true&offset=1", accounts: 0},
		{query: "?accounts=true&offset=-3&limit=1", accounts: 1},
		{query: "?accounts=true&limit=-1", accounts: 1},
		{query: "?accounts=true&leader-only=true&raft=true&stream-leader-only=true&direct-consumers=true", accounts: 1},
	} {
		var j jsz
		getJSON(t, url+c.query, http.StatusOK, &j)
		if j.Streams != 1 || j.Total != 1 || len(j.Accounts) != c.accounts {
			t.Errorf("%s: %+v", c.query, j)
			continue
		}
		if c.accounts == 0 {
			continue
		}
		a := j.Accounts[0]
		if a.Name != "$G" || len(a.Streams) != c.streams {
			t.Errorf("%s: account %+v", c.query, a)
			continue
		}
		if c.streams == 0 {
			continue
		}
		s := a.Streams[0]
		_, hasConsumers := s["consumer_detail"]
		_, hasConfig := s["config"]
		_, hasState := s["state"]
		if hasConsumers != c.consumers || hasConfig != c.config || hasState != c.state {
			t.Errorf("%s: stream keys %v", c.query, keys(s))
		}
		if hasConsumers {
			cons := s["consumer_detail"].([]any)[0].(map[string]any)
			if _, has := cons["config"]; has != c.config {
				t.Errorf("%s: consumer keys %v", c.query, keys(cons))
			}
		}
	}
	for _, q := range []string{"?accounts=maybe", "?streams=x", "?consumers=2", "?config=no!", "?offset=a", "?limit=1.5", "?raft=x"} {
		code, body := get(t, url+q)
		if code != http.StatusBadRequest || !strings.HasPrefix(string(body), "Error decoding ") {
			t.Errorf("%s: %d %s", q, code, body)
		}
	}
}

// TestJszDisabled: without JetStream /jsz says so, as nats-server.
func TestJszDisabled(t *testing.T) {
	d := startDaemon(t, func(c *daemon.Config) { c.DisableKV = true })
	var j struct {
		Disabled bool `json:"disabled"`
		Streams  int  `json:"streams"`
	}
	getJSON(t, d.MonitorURL()+exporterQuery, http.StatusOK, &j)
	if !j.Disabled {
		t.Errorf("%+v", j)
	}
	// The keys nats-server 2.15.2 answers without JetStream.
	var m map[string]any
	getJSON(t, d.MonitorURL()+exporterQuery, http.StatusOK, &m)
	want := "accounts api bytes config consumers disabled ha_assets memory messages now reserved_memory reserved_storage server_id storage streams total"
	if got := strings.Join(slices.Sorted(maps.Keys(m)), " "); got != want {
		t.Errorf("keys %s\nwant %s", got, want)
	}
	if cfg := strings.Join(slices.Sorted(maps.Keys(m["config"].(map[string]any))), " "); cfg != "max_memory max_storage" {
		t.Errorf("config keys %s", cfg)
	}
}

// TestJszShapeMatchesPeer: with the same bucket and watch on both
// servers, every key of Cairn's /jsz answer (top, account, stream,
// config, state, consumer) is in nats-server's with the same JSON type.
func TestJszShapeMatchesPeer(t *testing.T) {
	d := startDaemon(t, nil)
	peerClient, peer := startPeerMonitor(t)
	kvWorkload(t, d.ClientURL())
	kvWorkload(t, peerClient)
	for _, q := range []string{"/jsz", exporterQuery, "/jsz?acc=$G&consumers=true"} {
		ours, theirs, diffs := shapeDiffs(t, d.MonitorURL(), peer, q)
		for _, diff := range diffs {
			t.Error(q, diff)
		}
		if q == "/jsz" {
			continue
		}
		oa, ta := firstOf(t, q, ours, "account_details"), firstOf(t, q+" (peer)", theirs, "account_details")
		for _, diff := range compareShape("account_details[0].", oa, ta) {
			t.Error(q, diff)
		}
		os, ts := firstOf(t, q, oa, "stream_detail"), firstOf(t, q+" (peer)", ta, "stream_detail")
		for _, diff := range compareShape("stream_detail[0].", os, ts) {
			t.Error(q, diff)
		}
		oc, tc := firstOf(t, q, os, "consumer_detail"), firstOf(t, q+" (peer)", ts, "consumer_detail")
		for _, diff := range compareShape("consumer_detail[0].", oc, tc) {
			t.Error(q, diff)
		}
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
