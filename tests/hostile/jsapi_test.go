package hostile

// Hostile clients of the JetStream API (internal/jsapi): list offsets
// that crashed the server, a purge that made sequences wrap, durations
// that overflowed deadlines, a consumer that fed its own stream, and
// requests past the server's consumer and storage limits. Where
// nats-server has an answer, the test compares Cairn's with it.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/testserver"
)

// jsAsk sends a request and returns the reply's data, failing on a
// timeout: an API request must always be answered.
func jsAsk(t *testing.T, nc *nats.Conn, subj, body string) string {
	t.Helper()
	m, err := nc.Request(subj, []byte(body), 5*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", subj, body, err)
	}
	return string(m.Data)
}

// jsError returns the API error of an answer, or "" when it has none,
// as "code err_code description".
func jsError(t *testing.T, answer string) string {
	t.Helper()
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(answer), &r); err != nil {
		t.Fatalf("answer %q: %v", answer, err)
	}
	if r.Error == nil {
		return ""
	}
	b, _ := json.Marshal(r.Error)
	return string(b)
}

// jsAlive checks that the server still answers.
func jsAlive(t *testing.T, url string) {
	t.Helper()
	nc := connect(t, url)
	if got := jsAsk(t, nc, "$JS.API.INFO", ""); !strings.Contains(got, "account_info_response") {
		t.Fatalf("server no longer answers $JS.API.INFO: %s", got)
	}
}

// TestHostileJSListOffsets: a huge offset in a list request panicked in
// consumerList (slice bounds out of range) and took every client down.
// Every paged endpoint, through raw TCP, with offsets at the ends of the
// int64 range.
func TestHostileJSListOffsets(t *testing.T) {
	tg := start(t)
	nc := connect(t, tg.URL)
	jsAsk(t, nc, "$JS.API.STREAM.CREATE.L", `{"name":"L","subjects":["l.>"]}`)
	rc := dialRaw(t, tg.Addr)
	rc.send("SUB _INBOX.raw 1\r\n")
	for _, subj := range []string{"$JS.API.CONSUMER.LIST.L", "$JS.API.CONSUMER.NAMES.L", "$JS.API.STREAM.LIST", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.L"} {
		for _, body := range []string{`{"offset":9223372036854775807}`, `{"offset":-9223372036854775808}`,
			`{"offset":9223372036854775807,"subjects_filter":">"}`} {
			if !strings.HasSuffix(subj, ".L") && strings.Contains(body, "subjects_filter") {
				continue
			}
			rc.send("PUB " + subj + " _INBOX.raw " + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n")
			rc.expect("MSG _INBOX.raw 1")
			if line := rc.line(); strings.Contains(line, `"error"`) {
				t.Errorf("%s %s: %s", subj, body, line)
			}
		}
	}
	jsAlive(t, tg.URL)
}

// TestHostileJSPurgeToLastSequence: a purge to 2^64-1 made the next
// appends wrap to 0 and, after a restart, overwrite other keys. It is
// refused; a purge that leaves room moves the stream forward as in
// nats-server, and sequences continue from there across a restart.
func TestHostileJSPurgeToLastSequence(t *testing.T) {
	tg := start(t)
	nc := connect(t, tg.URL)
	jsAsk(t, nc, "$JS.API.STREAM.CREATE.P", `{"name":"P","subjects":["p.>"]}`)
	jsAsk(t, nc, "p.a", "1")
	for _, seq := range []string{"18446744073709551615", "9223372036854775808"} {
		got := jsError(t, jsAsk(t, nc, "$JS.API.STREAM.PURGE.P", `{"seq":`+seq+`}`))
		if !strings.Contains(got, `"err_code":10051`) || !strings.Contains(got, "no room") {
			t.Fatalf("purge to %s: %s", seq, got)
		}
	}
	if got := jsAsk(t, nc, "p.b", "2"); got != `{"stream":"P","seq":2}` {
		t.Fatalf("publish after refused purges: %s", got)
	}
	if got := jsAsk(t, nc, "$JS.API.STREAM.PURGE.P", `{"seq":1000}`); jsError(t, got) != "" {
		t.Fatalf("purge to 1000: %s", got)
	}
	if got := jsAsk(t, nc, "p.c", "3"); got != `{"stream":"P","seq":1000}` {
		t.Fatalf("publish after purge to 1000: %s", got)
	}
	tg.restart(t)
	nc = connect(t, tg.URL)
	if got := jsAsk(t, nc, "p.d", "4"); got != `{"stream":"P","seq":1001}` {
		t.Fatalf("publish after restart: %s", got)
	}
}

// TestHostileJSHugeDurations: max_age of math.MaxInt64 overflowed the
// expiry deadline and the expirer slept for centuries, so no stream on
// the server expired anything; huge Nats-TTL values did the same. The
// stream with the short max_age must still expire while the others
// exist.
func TestHostileJSHugeDurations(t *testing.T) {
	tg := start(t)
	nc := connect(t, tg.URL)
	for _, cfg := range []string{
		`{"name":"FOREVER","subjects":["forever"],"max_age":9223372036854775807,"duplicate_window":9223372036854775807}`,
		`{"name":"TTL","subjects":["ttl"],"allow_msg_ttl":true,"subject_delete_marker_ttl":9223372036854775807}`,
		`{"name":"SHORT","subjects":["short"],"max_age":1000000000}`,
	} {
		if got := jsAsk(t, nc, "$JS.API.STREAM.CREATE."+strings.Split(cfg, `"`)[3], cfg); jsError(t, got) != "" {
			t.Fatalf("create %s: %s", cfg, got)
		}
	}
	jsAsk(t, nc, "forever", "x")
	for _, ttl := range []string{"9223372036854775807", "99999999999999999999", "2562047h"} {
		m := nats.NewMsg("ttl")
		m.Header.Set("Nats-TTL", ttl)
		r, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil || jsError(t, string(r.Data)) != "" {
			t.Fatalf("TTL %s: %v %s", ttl, err, r.Data)
		}
	}
	jsAsk(t, nc, "short", "x")
	eventually(t, 15*time.Second, "SHORT to expire its message", func() bool {
		return strings.Contains(jsAsk(t, nc, "$JS.API.STREAM.INFO.SHORT", ""), `"messages":0`)
	})
}

// peerCompare sends the same requests to nats-server and Cairn and
// compares their errors.
type peerCompare struct {
	t           *testing.T
	peer, cairn *nats.Conn
}

func (p *peerCompare) same(subj, body string) string {
	p.t.Helper()
	want := jsError(p.t, jsAsk(p.t, p.peer, subj, body))
	got := jsError(p.t, jsAsk(p.t, p.cairn, subj, body))
	if got != want {
		p.t.Errorf("%s %s:\n  nats-server: %s\n  cairn:       %s", subj, body, want, got)
	}
	return got
}

// TestHostileJSConsumerLoopsAndLimits: a push consumer delivering into
// its own stream re-ingested every delivery, forever (117k appends per
// second from one request); max_consumers was never enforced. Errors as
// nats-server's.
func TestHostileJSConsumerLoopsAndLimits(t *testing.T) {
	p := &peerCompare{t: t, peer: connect(t, testserver.StartPeer(t).URL), cairn: connect(t, start(t).URL)}
	p.same("$JS.API.STREAM.CREATE.C", `{"name":"C","subjects":["c.>","plain"],"max_consumers":2,"consumer_limits":{"inactive_threshold":30000000000}}`)
	for _, deliver := range []string{"c.deliver", "plain"} {
		if got := p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"deliver_subject":"`+deliver+`"}}`); !strings.Contains(got, "10081") {
			t.Errorf("deliver subject %s: %s", deliver, got)
		}
	}
	p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"deliver_subject":"d","ack_wait":-1}}`)
	p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"deliver_subject":"d","backoff":[-1]}}`)
	p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"deliver_subject":"d","inactive_threshold":31000000000}}`)
	// Keep interest on the deliver subjects so the consumers stay.
	for _, nc := range []*nats.Conn{p.peer, p.cairn} {
		for _, d := range []string{"d1", "d2", "d3"} {
			if _, err := nc.SubscribeSync(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"name":"one","deliver_subject":"d1"}}`)
	p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"name":"two","deliver_subject":"d2"}}`)
	if got := p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"name":"three","deliver_subject":"d3"}}`); !strings.Contains(got, "10026") {
		t.Errorf("third consumer: %s", got)
	}
	// Re-creating an existing consumer is not a new one.
	p.same("$JS.API.CONSUMER.CREATE.C", `{"stream_name":"C","config":{"name":"one","deliver_subject":"d1"}}`)
	p.same("$JS.API.CONSUMER.LIST.C", `{"offset":9223372036854775807}`)
	p.same("$JS.API.STREAM.NAMES", `{"offset":9223372036854775807}`)
}

// TestHostileJSServerLimits: the server-wide consumer cap and the
// storage limits (nats-server's jetstream max_memory_store and
// max_file_store), refused with nats-server's errors and reported by
// $JS.API.INFO.
func TestHostileJSServerLimits(t *testing.T) {
	tg := startWith(t, daemon.Config{MaxConsumers: 2, MaxMemoryStore: 4096, MaxFileStore: 1 << 20})
	nc := connect(t, tg.URL)
	ask := func(subj, body string) string { return jsError(t, jsAsk(t, nc, subj, body)) }
	if e := ask("$JS.API.STREAM.CREATE.BIG", `{"name":"BIG","subjects":["big"],"max_bytes":2097152}`); !strings.Contains(e, `"err_code":10047`) {
		t.Errorf("file stream beyond max_file_store: %s", e)
	}
	if e := ask("$JS.API.STREAM.CREATE.BIGM", `{"name":"BIGM","subjects":["bigm"],"storage":"memory","max_bytes":8192}`); !strings.Contains(e, `"err_code":10028`) {
		t.Errorf("memory stream beyond max_memory_store: %s", e)
	}
	if e := ask("$JS.API.STREAM.CREATE.M", `{"name":"M","subjects":["m.*"],"storage":"memory"}`); e != "" {
		t.Fatal(e)
	}
	value := strings.Repeat("v", 1500)
	refused := ""
	for i := 0; i < 10 && refused == ""; i++ {
		refused = ask("m.x", value)
	}
	if refused != `{"code":503,"err_code":10023,"description":"insufficient resources"}` {
		t.Errorf("publish beyond max_memory_store: %q", refused)
	}
	// Each KV watcher is a consumer: the third is refused.
	if e := ask("$JS.API.STREAM.CREATE.W", `{"name":"W","subjects":["w.>"]}`); e != "" {
		t.Fatal(e)
	}
	for i, want := range []string{"", "", `"err_code":10026`} {
		d := "wd" + strconv.Itoa(i)
		if _, err := nc.SubscribeSync(d); err != nil {
			t.Fatal(err)
		}
		e := ask("$JS.API.CONSUMER.CREATE.W", `{"stream_name":"W","config":{"deliver_subject":"`+d+`"}}`)
		if (want == "" && e != "") || !strings.Contains(e, want) {
			t.Errorf("consumer %d: %q, want %q", i, e, want)
		}
	}
	info := jsAsk(t, nc, "$JS.API.INFO", "")
	for _, w := range []string{`"max_memory":4096`, `"max_storage":1048576`, `"max_consumers":2`, `"consumers":2`} {
		if !strings.Contains(info, w) {
			t.Errorf("$JS.API.INFO lacks %s: %s", w, info)
		}
	}
	jsAlive(t, tg.URL)
}

// TestHostileJSStorageLimitsAsPeer: the same storage limits on both
// servers (nats-server through its config file), the same requests, the
// same refusals: stream reservations beyond max_file_store and
// max_memory_store, and publishes once a memory stream has filled the
// memory limit.
func TestHostileJSStorageLimitsAsPeer(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "limits.conf")
	if err := os.WriteFile(conf, []byte("jetstream { max_memory_store: 4096, max_file_store: 1048576 }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &peerCompare{t: t, peer: connect(t, testserver.StartPeer(t, "-c", conf).URL),
		cairn: connect(t, startWith(t, daemon.Config{MaxMemoryStore: 4096, MaxFileStore: 1048576}).URL)}
	if e := p.same("$JS.API.STREAM.CREATE.BIG", `{"name":"BIG","subjects":["big"],"max_bytes":1048577}`); !strings.Contains(e, "10047") {
		t.Errorf("a stream beyond max_file_store: %q", e)
	}
	p.same("$JS.API.STREAM.CREATE.F1", `{"name":"F1","subjects":["f1"],"max_bytes":1000000}`)
	p.same("$JS.API.STREAM.CREATE.F2", `{"name":"F2","subjects":["f2"],"max_bytes":48577}`)
	p.same("$JS.API.STREAM.CREATE.F3", `{"name":"F3","subjects":["f3"]}`)
	p.same("$JS.API.STREAM.UPDATE.F2", `{"name":"F2","subjects":["f2"],"max_bytes":48576}`)
	p.same("$JS.API.STREAM.CREATE.F3", `{"name":"F3","subjects":["f3"]}`)
	p.same("$JS.API.STREAM.UPDATE.F3", `{"name":"F3","subjects":["f3"],"max_bytes":2}`)
	if e := p.same("$JS.API.STREAM.CREATE.BIGM", `{"name":"BIGM","subjects":["bigm"],"storage":"memory","max_bytes":4097}`); !strings.Contains(e, "10028") {
		t.Errorf("a stream beyond max_memory_store: %q", e)
	}
	p.same("$JS.API.STREAM.CREATE.M", `{"name":"M","subjects":["m.*"],"storage":"memory"}`)
	value := strings.Repeat("v", 1500)
	for i := range 5 {
		want, got := jsAsk(t, p.peer, "m.x", value), jsAsk(t, p.cairn, "m.x", value)
		if got != want {
			t.Errorf("publish %d:\n  nats-server: %s\n  cairn:       %s", i, want, got)
		}
		if i == 4 && !strings.Contains(got, "10023") {
			t.Errorf("publish %d beyond max_memory_store: %s", i, got)
		}
	}
}
