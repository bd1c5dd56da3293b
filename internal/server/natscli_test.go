package server_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/server"
	"github.com/cairn-db/cairn/internal/testserver"
)

// TestNatsCLICoreCommands drives cairn-server with natscli's pub, sub,
// request and reply commands.
func TestNatsCLICoreCommands(t *testing.T) {
	bin := testserver.MustTool(t, "nats")
	s := startServer(t, server.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nats := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, append([]string{"--server", s.ClientURL(), "--no-context"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		return cmd
	}

	var subOut bytes.Buffer
	sub := nats("sub", "cli.>", "--count", "2")
	sub.Stdout, sub.Stderr = &subOut, &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	var replyOut bytes.Buffer
	reply := nats("reply", "cli.svc", "pong", "--count", "1")
	reply.Stdout, reply.Stderr = &replyOut, &replyOut
	if err := reply.Start(); err != nil {
		t.Fatal(err)
	}
	// Both subscriptions (plus the reply's) must be in place before
	// publishing: poll the server, do not sleep.
	deadline := time.Now().Add(10 * time.Second)
	for s.NumSubscriptions() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers did not arrive: %d", s.NumSubscriptions())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if out, err := nats("pub", "cli.a", "hello").CombinedOutput(); err != nil {
		t.Fatalf("pub: %v %s", err, out)
	}
	out, err := nats("request", "cli.svc", "ping", "--raw").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pong") {
		t.Fatalf("request: %v %s", err, out)
	}
	// natscli v0.5.0's "reply --count" exits with status 1 after its last
	// reply against nats-server as well, so only its output is checked.
	_ = reply.Wait()
	if !strings.Contains(replyOut.String(), `Received on subject "cli.svc"`) {
		t.Fatalf("reply output:\n%s", replyOut.String())
	}
	// The subscriber also saw the request (cli.svc matches cli.>).
	if err := sub.Wait(); err != nil {
		t.Fatalf("sub: %v %s", err, subOut.String())
	}
	got := subOut.String()
	if !strings.Contains(got, `Received on "cli.a"`) || !strings.Contains(got, "hello") || !strings.Contains(got, `Received on "cli.svc"`) {
		t.Fatalf("sub output:\n%s", got)
	}
	out, err = nats("request", "cli.nobody", "x").CombinedOutput()
	if !strings.Contains(string(out), "No responders are available") {
		t.Fatalf("request without responders: %v %s", err, out)
	}
}
