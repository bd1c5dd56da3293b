package hostile

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cairn-db/cairn/internal/auth"
	"github.com/cairn-db/cairn/internal/daemon"
	"github.com/cairn-db/cairn/internal/server"
)

// Attacks on issue 10's accounts, reply rule and permissions, from the
// review before the issue is closed.

// rvPerms compiles publish and subscribe allow lists.
func rvPerms(t *testing.T, pub, sub []string) *auth.Permissions {
	t.Helper()
	p, err := auth.NewPermissions(&auth.Rules{Allow: pub}, &auth.Rules{Allow: sub})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rvAsk sends a JetStream API request and returns the answer's error
// description, "" when it has none.
func rvAsk(t *testing.T, nc *nats.Conn, subj string, body any) string {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nc.Request(subj, b, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("%s: %v in %q", subj, err, m.Data)
	}
	if r.Error == nil {
		return ""
	}
	return r.Error.Description
}

// A stream's republish destination is a publish the stream makes on its
// configurer's behalf after every write, as a push consumer's deliver
// subject is. The admin of bucket cfg (allowed to create and update
// KV_cfg and to write $KV.cfg.>, nothing else) must not be able to
// republish cfg's writes into subjects it may not publish to: here the
// stream ORDERS, which only the operator writes.
func TestReviewRepublishOutsidePermissions(t *testing.T) {
	cfgAdmin := rvPerms(t, []string{"$JS.API.INFO", "$JS.API.STREAM.CREATE.KV_cfg", "$JS.API.STREAM.UPDATE.KV_cfg", "$JS.API.STREAM.INFO.KV_cfg", "$KV.cfg.>", "copy.cfg.>"},
		[]string{"_INBOX.>"})
	tg := startWith(t, daemon.Config{Server: server.Options{Auth: auth.Config{Users: []auth.User{
		{Name: "op", Password: "op"},
		{Name: "admin", Password: "admin", Permissions: cfgAdmin},
	}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, opJS := newJSAs(t, tg.URL, nats.UserInfo("op", "op"))
	orders, err := opJS.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	watch := connect(t, tg.URL, nats.UserInfo("op", "op"))
	seen, err := watch.SubscribeSync("orders.>")
	if err != nil {
		t.Fatal(err)
	}
	watch.Flush()

	nc := connect(t, tg.URL, nats.UserInfo("admin", "admin"), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	kvCfg := map[string]any{"name": "KV_cfg", "subjects": []string{"$KV.cfg.>"}, "max_msgs_per_subject": 1,
		"allow_direct": true, "allow_rollup_hdrs": true, "deny_delete": true, "discard": "new", "storage": "file", "num_replicas": 1}
	for _, dest := range []string{"orders.>", "orders.{{wildcard(1)}}"} {
		src := ">"
		if strings.Contains(dest, "wildcard") {
			src = "$KV.cfg.*"
		}
		evil := map[string]any{}
		for k, v := range kvCfg {
			evil[k] = v
		}
		evil["republish"] = map[string]any{"src": src, "dest": dest}
		// Created with the republish, or created plain and updated.
		if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", evil); !strings.Contains(desc, "Permissions Violation for Publish to") {
			t.Errorf("create KV_cfg republishing to %q: %q, want the publish violation", dest, desc)
		}
		if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", evil); desc == "" {
			t.Errorf("create KV_cfg republishing to %q: accepted", dest)
			if err := opJS.DeleteStream(ctx, "KV_cfg"); err != nil {
				t.Fatal(err)
			}
		}
		if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", kvCfg); desc != "" {
			t.Fatalf("create KV_cfg: %s", desc)
		}
		if desc := rvAsk(t, nc, "$JS.API.STREAM.UPDATE.KV_cfg", evil); desc == "" {
			t.Errorf("update KV_cfg republishing to %q: accepted", dest)
		}
		if _, err := nc.Request("$KV.cfg.k", []byte("from-admin"), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if m, err := seen.NextMsg(200 * time.Millisecond); err == nil {
			t.Errorf("republish to %q: a subscriber of orders.> got %q on %q", dest, m.Data, m.Subject)
		}
		info, err := orders.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 0 {
			t.Errorf("republish to %q: ORDERS holds %d messages written through the admin's bucket", dest, info.State.Msgs)
		}
		if err := opJS.DeleteStream(ctx, "KV_cfg"); err != nil {
			t.Fatal(err)
		}
	}
	// Allowed: a destination the admin may publish to, and, once the
	// operator has set one, resubmitting the stream's configuration.
	own := map[string]any{}
	for k, v := range kvCfg {
		own[k] = v
	}
	own["republish"] = map[string]any{"src": ">", "dest": "copy.cfg.>"}
	if desc := rvAsk(t, nc, "$JS.API.STREAM.CREATE.KV_cfg", own); desc != "" {
		t.Fatalf("create KV_cfg republishing to copy.cfg.>: %s", desc)
	}
	opNC := connect(t, tg.URL, nats.UserInfo("op", "op"))
	opSet := map[string]any{}
	for k, v := range kvCfg {
		opSet[k] = v
	}
	opSet["republish"] = map[string]any{"src": ">", "dest": "audit.>"}
	if desc := rvAsk(t, opNC, "$JS.API.STREAM.UPDATE.KV_cfg", opSet); desc != "" {
		t.Fatalf("operator's update: %s", desc)
	}
	if desc := rvAsk(t, nc, "$JS.API.STREAM.UPDATE.KV_cfg", opSet); desc != "" {
		t.Fatalf("the admin resubmitting the operator's republish: %s", desc)
	}
}
