package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/cairn-db/cairn/internal/testserver"
)

// writeContext writes a natscli context file NAME.json under cfg/nats.
func writeContext(t *testing.T, cfg, name, body string) {
	t.Helper()
	dir := filepath.Join(cfg, "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Contexts written by "nats context add" give cairn its server and
// credentials; flags and the environment win over them.
func TestNATSContexts(t *testing.T) {
	srv := testserver.StartPeer(t, "--user", "alice", "--pass", "s3cret")
	cfg := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": cfg}
	writeContext(t, cfg, "prod", `{"description":"made by natscli","url":"`+srv.URL+`","user":"alice","password":"s3cret","color_scheme":"","nsc":""}`)
	writeContext(t, cfg, "stale", `{"url":"nats://127.0.0.1:1","user":"alice","password":"s3cret"}`)

	wantRun(t, env, 0, "", "kv", "add", "b", "--context", "prod")
	// The selected context applies without --context.
	if err := os.WriteFile(filepath.Join(cfg, "nats", "context.txt"), []byte("prod\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRun(t, env, 0, "", "kv", "info", "b")
	wantRun(t, map[string]string{"XDG_CONFIG_HOME": cfg, "NATS_CONTEXT": "prod"}, 0, "", "kv", "info", "b")
	// A flag wins over the context: its URL, and its credentials.
	wantRun(t, env, 0, "", "kv", "info", "b", "--context", "stale", "--server", srv.URL)
	wantRun(t, env, 1, "refused the credentials", "kv", "info", "b", "--password", "wrong")
	// $NATS_URL wins over the context's URL.
	wantRun(t, map[string]string{"XDG_CONFIG_HOME": cfg, "NATS_URL": srv.URL}, 0, "", "kv", "info", "b", "--context", "stale")
	// Without a context the server refuses.
	wantRun(t, map[string]string{"XDG_CONFIG_HOME": t.TempDir()}, 1, "refused the credentials", "kv", "info", "b", "--server", srv.URL)

	wantRun(t, env, 2, `context "nosuch" (given with --context) cannot be read`, "kv", "ls", "--context", "nosuch")
	wantRun(t, env, 2, `invalid context name "../prod"`, "kv", "ls", "--context", "../prod")
	writeContext(t, cfg, "broken", `{"url": `)
	wantRun(t, env, 2, `context "broken": `, "kv", "ls", "--context", "broken")
}

// --nkey signs the server's nonce with the seed in a file.
func TestNkeyAuth(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	dir := t.TempDir()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "peer.conf")
	if err := os.WriteFile(conf, []byte("authorization { users: [ { nkey: "+pub+" } ] }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testserver.StartPeer(t, "-c", conf)
	env := map[string]string{"CAIRN_URL": srv.URL}
	wantRun(t, env, 0, "", "kv", "add", "n", "--nkey", seedFile)
	wantRun(t, env, 1, "refused the credentials", "kv", "info", "n")
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(dir, "other.nk")
	if err := os.WriteFile(otherFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	wantRun(t, env, 1, "refused the credentials", "kv", "info", "n", "--nkey", otherFile)
	wantRun(t, env, 2, "--nkey", "kv", "info", "n", "--nkey", filepath.Join(dir, "missing.nk"))
	// A context may name the seed file, with ~ for the home folder.
	cfg := t.TempDir()
	writeContext(t, cfg, "nk", `{"url":"`+srv.URL+`","nkey":"~/user.nk"}`)
	out := wantRun(t, map[string]string{"XDG_CONFIG_HOME": cfg, "HOME": dir}, 0, "", "kv", "info", "n", "--context", "nk")
	if !strings.Contains(out, "n") {
		t.Fatalf("kv info printed %q", out)
	}
}
