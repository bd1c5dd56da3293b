package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/testserver"
	"github.com/nats-io/nats.go/jetstream"
)

// TestNatsCLIWalkthrough replays the seed walkthrough with the real
// natscli binary on a three-node cluster, each command connected to
// another node than the one before, on cairn and on nats-server; the
// outputs, with times, sizes and node names normalized, must agree.
func TestNatsCLIWalkthrough(t *testing.T) {
	t.Parallel()
	bin := testserver.MustTool(t, "nats")
	compareOnBoth(t, func(t *testing.T, k kind, tr *transcript) {
		nodes := startJSCluster(t, k, 3)
		step := 0
		// run runs one command on the next node and records its
		// normalized output and whether it succeeded.
		run := func(args ...string) string {
			t.Helper()
			n := nodes[step%len(nodes)]
			step++
			out, err := natscli(t, bin, n.URL(), args...)
			tr.add("$ nats %s (ok=%v)", strings.Join(args, " "), err == nil)
			for _, l := range strings.Split(normalizeCLI(out, nodes), "\n") {
				tr.add("  %s", l)
			}
			return out
		}
		run("kv", "add", "my-kv", "--history", "5")
		var js []jetstream.JetStream
		for _, n := range nodes {
			js = append(js, jsOn(t, n))
		}
		visible(t, js, "my-kv")
		run("kv", "put", "my-kv", "Key1", "v1")
		run("kv", "get", "my-kv", "Key1")
		run("kv", "put", "my-kv", "Key1", "v2")
		run("kv", "create", "my-kv", "lock1", "a")
		run("kv", "create", "my-kv", "lock1", "b")
		run("kv", "put", "my-kv", "k", "x")
		run("kv", "update", "my-kv", "k", "y", "4")
		run("kv", "update", "my-kv", "k", "z", "4")
		run("kv", "get", "my-kv", "k")
		run("kv", "del", "-f", "my-kv", "Key1")
		run("kv", "get", "my-kv", "Key1")
		run("kv", "history", "my-kv", "Key1")
		run("kv", "ls")
		run("kv", "info", "my-kv")

		// A bounded watch on one node sees the latest values, then a put
		// made on another node.
		watchOn := nodes[step%len(nodes)]
		step++
		w := startWatch(t, bin, watchOn.URL(), "kv", "watch", "my-kv")
		var lines []string
		lines = append(lines, w.lines(t, 3)...) // Key1 (deleted), lock1, k
		run("kv", "put", "my-kv", "watched", "w1")
		lines = append(lines, w.lines(t, 1)...)
		tr.add("$ nats kv watch my-kv (bounded)")
		for _, l := range lines {
			tr.add("  %s", normalizeCLI(l, nodes))
		}

		run("kv", "rm", "-f", "my-kv")
		run("kv", "ls")
		run("kv", "get", "my-kv", "Key1")
	})
}

// natscli runs the nats binary against url and returns its combined
// output and exit error.
func natscli(t *testing.T, bin, url string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	full := append([]string{"--server", url, "--no-context", "--timeout", "5s"}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	cliTime     = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?`)
	cliDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|us|ms|s|m|h|d|y)(\d+(\.\d+)?(ns|µs|us|ms|s|m|h|d))*\b`)
	cliSize     = regexp.MustCompile(`\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b`)
	cliSpaces   = regexp.MustCompile(`[ \t]+`)
	cliRule     = regexp.MustCompile(`─+`)
)

// normalizeCLI replaces what differs between two runs or two
// implementations without being behaviour: times, durations, sizes in
// bytes, node names (the holder is placed differently) and alignment.
func normalizeCLI(out string, nodes []*node) string {
	out = cliTime.ReplaceAllString(out, "<time>")
	out = cliDuration.ReplaceAllString(out, "<duration>")
	out = cliSize.ReplaceAllString(out, "<size>")
	for _, n := range nodes {
		out = strings.ReplaceAll(out, fmt.Sprintf("127.0.0.1:%d", n.clientPort), "<url>")
		out = regexp.MustCompile(`\b`+n.name+`\b`).ReplaceAllString(out, "<node>")
	}
	out = cliSpaces.ReplaceAllString(out, " ")
	// A table's borders are as wide as its widest cell, which a
	// duration or size can change: one rule character is kept.
	out = cliRule.ReplaceAllString(out, "─")
	return strings.TrimSpace(out)
}

// watchProc is a `nats kv watch` running in the background; the test's
// cleanup kills it by its PID.
type watchProc struct {
	out chan string
}

func startWatch(t *testing.T, bin, url string, args ...string) *watchProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	full := append([]string{"--server", url, "--no-context", "--timeout", "5s"}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "NO_COLOR=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watchProc{out: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				w.out <- l
			}
		}
		close(w.out)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		cancel()
	})
	return w
}

// lines returns the next n lines the watch prints, failing t after a
// bounded wait.
func (w *watchProc) lines(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(15 * time.Second)
	for len(got) < n {
		select {
		case l, ok := <-w.out:
			if !ok {
				t.Fatalf("watch ended after %q", got)
			}
			got = append(got, l)
		case <-timeout:
			t.Fatalf("watch printed %q, want %d lines", got, n)
		}
	}
	return got
}
