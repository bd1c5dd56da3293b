package diff

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/testserver"
)

// exchange is one raw request of the API differential test: a subject,
// a body and headers, as a client would send them.
type exchange struct {
	subject string
	body    string
	hdr     map[string]string
}

func req(subject, body string, hdr ...string) exchange {
	e := exchange{subject: subject, body: body}
	if len(hdr) > 0 {
		e.hdr = map[string]string{}
		for i := 0; i+1 < len(hdr); i += 2 {
			e.hdr[hdr[i]] = hdr[i+1]
		}
	}
	return e
}

// apiScript is sent, in order, to both servers; every answer must be the
// same once volatile fields (times, server identity, version metadata,
// API level and counters) are removed.
var apiScript = []exchange{
	req("$JS.API.INFO", ""),
	req("$JS.API.STREAM.CREATE.ORDERS", `{"name":"ORDERS","subjects":["orders.>"],"max_msgs_per_subject":3}`),
	req("$JS.API.STREAM.CREATE.ORDERS", `{"name":"ORDERS","subjects":["orders.>"],"max_msgs_per_subject":3}`),
	req("$JS.API.STREAM.CREATE.ORDERS", `{"name":"ORDERS","subjects":["orders.>"],"max_msgs_per_subject":4}`),
	req("$JS.API.STREAM.CREATE.OTHER", `{"name":"OTHER","subjects":["orders.eu.*"]}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"Y"}`),
	req("$JS.API.STREAM.CREATE.X", `{bad`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","storage":"tape"}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","subjects":["a.*","a.b"]}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","max_age":1000}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","num_replicas":3}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","subjects":["$JS.API.>"]}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","deny_purge":true,"allow_rollup_hdrs":true}`),
	req("$JS.API.STREAM.CREATE.X", `{"name":"X","sealed":true}`),
	req("$JS.API.STREAM.CREATE.NODEL", `{"name":"NODEL","subjects":["nodel"],"deny_delete":true,"deny_purge":true,"allow_direct":true}`),

	req("orders.eu.1", "a"),
	req("orders.eu.1", "b"),
	req("orders.us.1", "c", "Nats-Msg-Id", "m1"),
	req("orders.us.1", "c2", "Nats-Msg-Id", "m1"),
	req("orders.us.2", "d", "Nats-Expected-Last-Sequence", "4"),
	req("orders.us.2", "d", "Nats-Expected-Last-Sequence", "1"),
	req("orders.us.2", "e", "Nats-Expected-Last-Subject-Sequence", "4"),
	req("orders.us.2", "e", "Nats-Expected-Last-Subject-Sequence", "0"),
	req("orders.us.3", "f", "Nats-Expected-Stream", "NOPE"),
	req("orders.us.3", "f", "Nats-Expected-Stream", "ORDERS", "Nats-Msg-Id", "m2"),
	req("orders.us.3", "g", "Nats-Expected-Last-Msg-Id", "m2"),
	req("orders.us.3", "g", "Nats-Expected-Last-Msg-Id", "m2"),
	req("orders.us.3", "h", "Nats-TTL", "10s"),
	req("orders.us.3", "h", "Nats-Rollup", "sub"),
	req("orders.us.3", "h", "Nats-Incr", "1"),
	req("orders.eu.1", "i"),
	req("orders.eu.1", "j"),
	req("orders.eu.2", ""),
	req("nodel", "x"),

	req("$JS.API.STREAM.INFO.ORDERS", ""),
	req("$JS.API.STREAM.INFO.ORDERS", `{"subjects_filter":"orders.eu.>"}`),
	req("$JS.API.STREAM.INFO.ORDERS", `{"subjects_filter":">","deleted_details":true}`),
	req("$JS.API.STREAM.INFO.NOPE", ""),
	req("$JS.API.STREAM.NAMES", ""),
	req("$JS.API.STREAM.NAMES", `{"subject":"nodel"}`),
	req("$JS.API.STREAM.NAMES", `{"offset":1}`),
	req("$JS.API.STREAM.LIST", `{"subject":"orders.*.*"}`),

	req("$JS.API.STREAM.MSG.GET.ORDERS", `{"seq":2}`),
	req("$JS.API.STREAM.MSG.GET.ORDERS", `{"seq":1}`),
	req("$JS.API.STREAM.MSG.GET.ORDERS", `{"last_by_subj":"orders.us.1"}`),
	req("$JS.API.STREAM.MSG.GET.ORDERS", `{"next_by_subj":"orders.eu.>","seq":3}`),
	req("$JS.API.STREAM.MSG.GET.ORDERS", `{"seq":2,"last_by_subj":"orders.us.1"}`),
	req("$JS.API.STREAM.MSG.GET.ORDERS", ``),
	req("$JS.API.STREAM.MSG.GET.ORDERS", `{"seq":99}`),
	req("$JS.API.STREAM.MSG.GET.NOPE", `{"seq":1}`),
	req("$JS.API.DIRECT.GET.NODEL", `{"seq":1}`),
	req("$JS.API.DIRECT.GET.NODEL.nodel", ``),
	req("$JS.API.DIRECT.GET.NODEL.nothing", ``),
	req("$JS.API.DIRECT.GET.NODEL", ``),
	req("$JS.API.DIRECT.GET.NODEL", `{}`),
	req("$JS.API.DIRECT.GET.NODEL", `nope`),
	req("$JS.API.DIRECT.GET.NODEL", `{"seq":1,"last_by_subj":"nodel"}`),
	req("$JS.API.DIRECT.GET.NODEL", `{"seq":1,"batch":3}`),

	req("$JS.API.STREAM.MSG.DELETE.ORDERS", `{"seq":2}`),
	req("$JS.API.STREAM.MSG.DELETE.ORDERS", `{"seq":2}`),
	req("$JS.API.STREAM.MSG.DELETE.ORDERS", ``),
	req("$JS.API.STREAM.MSG.DELETE.NODEL", `{"seq":1}`),
	req("$JS.API.STREAM.INFO.ORDERS", `{"deleted_details":true}`),
	req("$JS.API.STREAM.PURGE.NODEL", ``),
	req("$JS.API.STREAM.PURGE.ORDERS", `{"filter":"orders.eu.1","keep":1}`),
	req("$JS.API.STREAM.PURGE.ORDERS", `{"seq":3,"keep":1}`),
	req("$JS.API.STREAM.PURGE.ORDERS", `{"seq":9}`),
	req("$JS.API.STREAM.INFO.ORDERS", ``),

	req("$JS.API.STREAM.UPDATE.ORDERS", `{"name":"ORDERS","subjects":["orders.>"],"max_msgs_per_subject":1}`),
	req("$JS.API.STREAM.UPDATE.ORDERS", `{"name":"ORDERS","subjects":["orders.>"],"storage":"memory"}`),
	req("$JS.API.STREAM.UPDATE.ORDERS", `{"name":"OTHER","subjects":["orders.>"]}`),
	req("$JS.API.STREAM.UPDATE.NOPE", `{"name":"NOPE"}`),
	req("$JS.API.STREAM.UPDATE.NODEL", `{"name":"NODEL","subjects":["nodel"]}`),
	req("$JS.API.STREAM.PURGE.ORDERS", ``),
	req("orders.eu.9", "after purge"),
	req("$JS.API.STREAM.DELETE.ORDERS", `{"x":1}`),
	req("$JS.API.STREAM.DELETE.ORDERS", ``),
	req("$JS.API.STREAM.DELETE.ORDERS", ``),
	req("$JS.API.STREAM.NAMES", ""),
	req("$JS.API.INFO", ""),

	// Message removal errors depend on the storage type.
	req("$JS.API.STREAM.CREATE.MEM", `{"name":"MEM","subjects":["mem.>"],"storage":"memory","allow_rollup_hdrs":true}`),
	req("mem.a", "1"),
	req("mem.b", "2"),
	req("$JS.API.STREAM.MSG.DELETE.MEM", `{"seq":1}`),
	req("$JS.API.STREAM.MSG.DELETE.MEM", `{"seq":1}`),
	req("$JS.API.STREAM.MSG.DELETE.MEM", `{"seq":7}`),
	req("$JS.API.STREAM.MSG.DELETE.NODEL", `{"seq":7}`),
	req("$JS.API.STREAM.CREATE.FILE", `{"name":"FILE","subjects":["file.>"]}`),
	req("file.a", "1"),
	req("file.a", "2"),
	req("$JS.API.STREAM.MSG.DELETE.FILE", `{"seq":7}`),
	req("$JS.API.STREAM.MSG.DELETE.FILE", `{"seq":1,"no_erase":true}`),
	req("$JS.API.STREAM.MSG.DELETE.FILE", `{"seq":1}`),
	req("$JS.API.STREAM.MSG.DELETE.FILE", `{"seq":0}`),
	req("$JS.API.STREAM.MSG.DELETE.FILE", `{"seq":1,"extra":true}`),

	// Roll-ups.
	req("mem.a", "3"),
	req("mem.c", "4", "Nats-Rollup", "all"),
	req("mem.c", "5", "Nats-Rollup", "bogus"),
	req("file.b", "x", "Nats-Rollup", "sub"),
	req("$JS.API.STREAM.INFO.MEM", `{"subjects_filter":">"}`),

	// Per-message TTLs and subject delete markers.
	req("$JS.API.STREAM.CREATE.TTL", `{"name":"TTL","subjects":["ttl.>"],"allow_msg_ttl":true}`),
	req("ttl.a", "1", "Nats-TTL", "1h"),
	req("ttl.a", "1", "Nats-TTL", "abc"),
	req("ttl.a", "1", "Nats-TTL", "500ms"),
	req("ttl.a", "1", "Nats-TTL", "never"),
	req("ttl.a", "1", "Nats-TTL", "60"),
	req("$JS.API.STREAM.CREATE.SDM", `{"name":"SDM","subjects":["sdm.>"],"subject_delete_marker_ttl":5000000000,"max_msgs_per_subject":5}`),
	req("sdm.a", "1", "Nats-TTL", "2s"),
	req("$JS.API.DIRECT.GET.SDM", `{"seq":1}`),
	req("$JS.API.STREAM.MSG.GET.SDM", `{"seq":1}`),
	req("$JS.API.STREAM.CREATE.SDM2", `{"name":"SDM2","subjects":["sdm2"],"subject_delete_marker_ttl":500000000}`),
	req("$JS.API.STREAM.UPDATE.TTL", `{"name":"TTL","subjects":["ttl.>"]}`),

	// Expected last subject sequence for another subject.
	req("file.c", "1", "Nats-Expected-Last-Subject-Sequence", "3", "Nats-Expected-Last-Subject-Sequence-Subject", "file.b"),
	req("file.c", "1", "Nats-Expected-Last-Subject-Sequence", "4", "Nats-Expected-Last-Subject-Sequence-Subject", "file.*"),
	req("file.c", "1", "Nats-Expected-Last-Subject-Sequence-Subject", "file.b"),

	// Direct get batches.
	req("$JS.API.STREAM.CREATE.B", `{"name":"B","subjects":["b.>"],"allow_direct":true}`),
	req("b.1", "1"),
	req("b.2", "2", "K", "v"),
	req("b.1", "3"),
	req("$JS.API.DIRECT.GET.B", `{"seq":1,"batch":2}`),
	req("$JS.API.DIRECT.GET.B", `{"next_by_subj":"b.1","batch":5}`),
	req("$JS.API.DIRECT.GET.B", `{"seq":9,"batch":2}`),
	req("$JS.API.DIRECT.GET.B", `{"next_by_subj":"b.*","seq":2}`),
	req("$JS.API.DIRECT.GET.B", `{"last_by_subj":"b.1","no_hdr":true}`),
	req("$JS.API.DIRECT.GET.B.b.*", ``),
	req("$JS.API.DIRECT.GET.B.b.1", `{"seq":1}`),

	// Updates.
	req("$JS.API.STREAM.UPDATE.B", `{"name":"B","subjects":["b.>","c.>"],"allow_direct":false,"description":"d"}`),
	req("c.1", "via new subject"),
	req("$JS.API.STREAM.UPDATE.B", `{"name":"B","subjects":["orders.>","file.x"]}`),
	req("$JS.API.STREAM.UPDATE.B", `{"name":"B","subjects":["b.>"],"max_age":-5}`),
	req("$JS.API.STREAM.INFO.B", `{"offset":0}`),
	req("$JS.API.STREAM.LIST", ``),
	req("$JS.API.STREAM.NAMES", `{"subject":"zzz"}`),
	req("$JS.API.STREAM.MSG.GET.B", `{"start_time":"2000-01-01T00:00:00Z"}`),
	req("$JS.API.STREAM.MSG.GET.B", `{"start_time":"2100-01-01T00:00:00Z"}`),
	req("$JS.API.STREAM.MSG.GET.B", `{"start_time":"2000-01-01T00:00:00Z","next_by_subj":"c.>"}`),
	req("$JS.API.STREAM.MSG.GET.B", `{"start_time":"2000-01-01T00:00:00Z","seq":2}`),
	req("$JS.API.STREAM.UPDATE.B", `{"name":"B","subjects":["b.>","c.>"],"allow_direct":true}`),
	req("$JS.API.DIRECT.GET.B", `{"start_time":"2000-01-01T00:00:00Z","batch":2}`),
	req("$JS.API.DIRECT.GET.B", `{"start_time":"2100-01-01T00:00:00Z"}`),
	req("$JS.API.STREAM.CREATE.KV_b", `{"name":"KV_b","subjects":["$KV.b.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"discard":"new","max_age":0,"max_msgs_per_subject":1,"max_msg_size":-1,"storage":"file","num_replicas":1,"duplicate_window":120000000000,"deny_delete":true,"allow_rollup_hdrs":true,"compression":"none","allow_direct":true,"mirror_direct":false,"consumer_limits":{}}`),
	req("$KV.b.k", "v"),
	req("$KV.b.k", "", "KV-Operation", "PURGE", "Nats-Rollup", "sub"),
	req("$JS.API.DIRECT.GET.KV_b.$KV.b.k", ""),
	req("$JS.API.INFO", ""),
}

func TestAPIDifferential(t *testing.T) {
	peer := connectURL(t, testserver.StartPeer(t).URL)
	cairn := connectURL(t, startCairn(t))
	for i, ex := range apiScript {
		want := ask(t, peer, ex)
		got := ask(t, cairn, ex)
		if testing.Verbose() {
			t.Logf("#%d %s %s %v -> %s", i, ex.subject, ex.body, ex.hdr, want)
		}
		if got != want {
			t.Errorf("#%d %s %s %v:\n  nats-server: %s\n  cairn:       %s", i, ex.subject, ex.body, ex.hdr, want, got)
		}
	}
}

func connectURL(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ask sends ex and renders the answer: status and headers (without the
// time stamp), then the body, JSON normalized.
func ask(t *testing.T, nc *nats.Conn, ex exchange) string {
	t.Helper()
	m := nats.NewMsg(ex.subject)
	m.Data = []byte(ex.body)
	for k, v := range ex.hdr {
		m.Header.Set(k, v)
	}
	sub, err := nc.SubscribeSync(nats.NewInbox())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	m.Reply = sub.Subject
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for {
		r, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			parts = append(parts, "no answer")
			break
		}
		parts = append(parts, render(r))
		// Batched direct gets end with a 204 status; everything else is
		// one message.
		if !strings.Contains(ex.body, `"batch"`) || r.Header.Get("Status") == "204" || r.Header.Get("Status") == "404" {
			break
		}
	}
	return strings.Join(parts, " | ")
}

func render(r *nats.Msg) string {
	var b strings.Builder
	if len(r.Header) > 0 {
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			if k != "Nats-Time-Stamp" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s; ", k, strings.Join(r.Header[k], ","))
		}
	}
	var v any
	if json.Unmarshal(r.Data, &v) == nil && len(r.Data) > 0 && (r.Data[0] == '{' || r.Data[0] == '[') {
		scrub(v)
		out, _ := json.Marshal(v)
		b.Write(out)
	} else {
		fmt.Fprintf(&b, "%q", r.Data)
	}
	return b.String()
}

// volatile are JSON keys whose values legitimately differ between two
// servers: times, identities, version metadata and API statistics, and
// the account limits of $JS.API.INFO (Cairn's single account reports the
// server's max_memory_store, max_file_store and consumer cap there;
// nats-server reports -1 unless accounts have limits of their own).
var volatile = map[string]bool{
	"created": true, "ts": true, "first_ts": true, "last_ts": true, "time": true,
	"cluster": true, "_nats.ver": true, "_nats.level": true, "api": true,
	"limits": true,
}

func scrub(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if volatile[k] {
				delete(x, k)
				continue
			}
			scrub(val)
		}
	case []any:
		for _, e := range x {
			scrub(e)
		}
	}
}
