package hostile

// Findings of the review of issue 9's hardening, one hostile client each.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestReviewCrossStreamDeliveryLoop: the feedback loop that 10081 refuses
// for one stream, built from two: A's consumer delivers into B's
// subjects and B's consumer (or B's republish) into A's. One publish
// then bounces between the streams forever, appending to both without
// bound.
func TestReviewCrossStreamDeliveryLoop(t *testing.T) {
	for _, tc := range []struct {
		name, streamB, consumerB string
		bLast                    bool // B is created after A's consumer
	}{
		{"consumers", `{"name":"B","subjects":["b.>"]}`, `{"stream_name":"B","config":{"deliver_subject":"a.back"}}`, false},
		{"republish", `{"name":"B","subjects":["b.>"],"republish":{"src":">","dest":"a.back"}}`, "", false},
		{"republish created last", `{"name":"B","subjects":["b.>"],"republish":{"src":">","dest":"a.back"}}`, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := start(t)
			nc := connect(t, tg.URL)
			jsAsk(t, nc, "$JS.API.STREAM.CREATE.A", `{"name":"A","subjects":["a.>"]}`)
			var answers []string
			createB := func() {
				answers = append(answers, jsAsk(t, nc, "$JS.API.STREAM.CREATE.B", tc.streamB))
			}
			if !tc.bLast {
				createB()
			}
			answers = append(answers, jsAsk(t, nc, "$JS.API.CONSUMER.CREATE.A", `{"stream_name":"A","config":{"deliver_subject":"b.fwd"}}`))
			if tc.bLast {
				createB()
			}
			if tc.consumerB != "" {
				answers = append(answers, jsAsk(t, nc, "$JS.API.CONSUMER.CREATE.B", tc.consumerB))
			}
			refused := false
			for _, a := range answers {
				if e := jsError(t, a); e != "" {
					if !strings.Contains(e, "10081") {
						t.Fatalf("refused with %s, want 10081", e)
					}
					refused = true
				}
			}
			jsAsk(t, nc, "a.start", "x")
			// A loop stores thousands of messages within moments; without
			// one, A holds 1 message and B at most 1.
			lastSeq := func(name string) int {
				var r struct {
					State struct {
						LastSeq int `json:"last_seq"`
					} `json:"state"`
				}
				if err := json.Unmarshal([]byte(jsAsk(t, nc, "$JS.API.STREAM.INFO."+name, "")), &r); err != nil {
					t.Fatal(err)
				}
				return r.State.LastSeq
			}
			deadline := time.Now().Add(time.Second)
			for time.Now().Before(deadline) {
				if n := lastSeq("A"); n > 100 {
					t.Fatalf("messages loop between the streams: A holds %d (refused: %v)", n, refused)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !refused {
				t.Fatalf("the loop was accepted (A holds %d)", lastSeq("A"))
			}
		})
	}
}

// TestReviewConsumerDeliveringIntoStreamAPI: a consumer's delivery
// goroutine calls in-process handlers itself, so a consumer delivering
// into the JetStream API runs stream requests, which take the API's
// control lock. Deleting the consumer's stream held that lock while
// waiting for the consumer's goroutine to stop, which was waiting for
// the lock: every later stream create, update and delete hung, and so
// did shutdown. Run in a child process, which the test can kill.
func TestReviewConsumerDeliveringIntoStreamAPI(t *testing.T) {
	p := startProcess(t, t.TempDir())
	nc := connect(t, p.URL)
	jsAsk(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"]}`)
	const n = 20000
	for i := 0; i < n; i++ {
		if err := nc.Publish("s.1", nil); err != nil {
			t.Fatal(err)
		}
	}
	jsAsk(t, nc, "s.1", "") // the stream has them all once this is acknowledged
	// The deliveries (empty bodies, as a delete request) reach the
	// stream delete handler, with the stream subject as their subject.
	if e := jsError(t, jsAsk(t, nc, "$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"deliver_subject":"$JS.API.STREAM.DELETE.S"}}`)); e != "" {
		t.Logf("consumer refused: %s", e)
	}
	if _, err := nc.Request("$JS.API.STREAM.DELETE.S", nil, 10*time.Second); err != nil {
		t.Fatalf("stream delete while its consumer delivers into the API: %v", err)
	}
	if _, err := nc.Request("$JS.API.STREAM.CREATE.T", []byte(`{"name":"T","subjects":["t.>"]}`), 10*time.Second); err != nil {
		t.Fatalf("stream create after that: %v", err)
	}
}

// TestReviewConsumerDeletingItself: a consumer whose deliveries reach
// the consumer delete endpoint with its own stream and name (the
// endpoint reads them from the message's subject) made its delivery
// goroutine wait in Stop for itself: the goroutine and everything it
// holds leaked, one per request, with no consumer left to count against
// any limit. Such deliver subjects are now refused.
func TestReviewConsumerDeletingItself(t *testing.T) {
	tg := start(t)
	nc := connect(t, tg.URL)
	jsAsk(t, nc, "$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["a.b.c.d.S.*"]}`)
	base := runtime.NumGoroutine()
	const n = 20
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("C%d", i)
		jsAsk(t, nc, "a.b.c.d.S."+name, "")
		body := fmt.Sprintf(`{"stream_name":"S","config":{"name":%q,"deliver_subject":"$JS.API.CONSUMER.DELETE.S.%s","filter_subject":"a.b.c.d.S.%s"}}`, name, name, name)
		// Refusing a deliver subject in the API (10112) is an answer too.
		if e := jsError(t, jsAsk(t, nc, "$JS.API.CONSUMER.CREATE.S", body)); e != "" && !strings.Contains(e, "10112") {
			t.Fatalf("create %s: %s", name, e)
		}
	}
	eventually(t, 10*time.Second, "every consumer to delete itself", func() bool {
		return strings.Contains(jsAsk(t, nc, "$JS.API.CONSUMER.NAMES.S", ""), `"total":0`)
	})
	jsAsk(t, nc, "$JS.API.STREAM.DELETE.S", "")
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+n/2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left behind by %d consumers that deleted themselves", runtime.NumGoroutine()-base, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReviewRepublishMappedOntoItself: the republish cycle checks
// compared the destination with the stream subjects as if its mapping
// tokens ({{wildcard(1)}}, $1) were literals, so "{{wildcard(1)}}.x"
// passed for a stream on "b.x" although it maps b.x onto itself.
// Republishing runs under the stream's delivery lock on the appending
// goroutine, so the republished message was appended from there and its
// delivery waited for that lock: the stream hung on the first append.
// Run in a child process, which the test can kill.
func TestReviewRepublishMappedOntoItself(t *testing.T) {
	p := startProcess(t, t.TempDir())
	nc := connect(t, p.URL)
	for _, tc := range []struct{ name, a, b string }{
		{"self", `{"name":"S","subjects":["b.x"],"republish":{"src":"*.x","dest":"{{wildcard(1)}}.x"}}`, ""},
		{"self legacy", `{"name":"S","subjects":["b.x"],"republish":{"src":"*.x","dest":"$1.x"}}`, ""},
		{"across", `{"name":"S","subjects":["b.x"],"republish":{"src":"*.x","dest":"c.{{wildcard(1)}}"}}`,
			`{"name":"T","subjects":["c.b"],"republish":{"src":"c.*","dest":"{{wildcard(1)}}.x"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := false
			for _, cfg := range []string{tc.a, tc.b} {
				if cfg == "" {
					continue
				}
				var name struct {
					Name string `json:"name"`
				}
				if err := json.Unmarshal([]byte(cfg), &name); err != nil {
					t.Fatal(err)
				}
				e := jsError(t, jsAsk(t, nc, "$JS.API.STREAM.CREATE."+name.Name, cfg))
				if e != "" && !strings.Contains(e, "cycle") {
					t.Fatalf("create %s: %s, want a cycle refusal", name.Name, e)
				}
				refused = refused || e != ""
			}
			if !refused {
				if _, err := nc.Request("b.x", []byte("v"), 5*time.Second); err != nil {
					t.Fatalf("append to a stream republishing onto itself: %v", err)
				}
				t.Fatal("a republish onto the stream's own subjects was accepted")
			}
			for _, n := range []string{"S", "T"} {
				jsAsk(t, nc, "$JS.API.STREAM.DELETE."+n, "")
			}
		})
	}
}
