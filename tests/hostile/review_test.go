package hostile

// Findings of the review of issue 9's hardening, one hostile client each.

import (
	"strings"
	"testing"
	"time"
)

// TestReviewConsumerDeliveringIntoStreamAPI: a consumer's delivery
// goroutine calls in-process handlers itself, so a consumer delivering
// into the JetStream API runs stream requests, which take the API's
// control lock. Deleting the consumer's stream held that lock while
// waiting for the consumer's goroutine to stop, which was waiting for
// the lock: every later stream create, update and delete hung, and so
// did shutdown. Run in a child process, which the test can kill.
func TestReviewConsumerDeliveringIntoStreamAPI(t *testing.T) {
	p := startProcess(t, t.TempDir())
	nc := connect(t, p.url)
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
