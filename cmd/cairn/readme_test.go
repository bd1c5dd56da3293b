package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-db/cairn/internal/testserver"
)

// The README's "## Quickstart" section is run as written, so that it cannot
// drift from what cairn does. Its ```sh blocks follow these conventions:
//
//   - every line that is not a comment is a command, run with sh -c;
//   - "#> text" lines after a command are its standard output, "#! text"
//     lines its standard error, "#>" alone an empty line, "#> ..." any
//     number of lines; times (2006-01-02 15:04:05) match any time;
//   - a command whose shown standard error starts with "cairn: " or
//     "nats: error" must fail; every other command must succeed;
//   - a block that starts with "# terminal 1" (installing and starting the
//     server) is not run: the test starts its own server;
//   - a block that starts with "# terminal 3" runs its one command in the
//     background; its output must show up by the end of the next block,
//     after which it is interrupted;
//   - blocks with "nats" commands run only where the nats CLI is installed.

// readmeCommand is one command of the quickstart with what it must print.
type readmeCommand struct {
	line           string
	lineNo         int
	stdout, stderr []string
}

// readmeBlock is one ```sh block.
type readmeBlock struct {
	terminal int // 1, 3, or 2 for the foreground
	lineNo   int
	commands []*readmeCommand
}

func TestReadmeQuickstart(t *testing.T) {
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseQuickstart(string(md))
	if err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t)
	dir := t.TempDir()
	env := append(os.Environ(), "CAIRN_URL="+srv.URL, "NATS_URL="+srv.URL, "HOME="+dir, "NO_COLOR=1")
	natsCLI := testserver.Tool("nats")
	if natsCLI != "" {
		env = append(env, "PATH="+filepath.Dir(natsCLI)+string(os.PathListSeparator)+os.Getenv("PATH"))
	}

	var watcher *background
	for _, b := range blocks {
		if b.terminal == 1 {
			continue
		}
		if usesNats(b) && natsCLI == "" {
			t.Logf("README.md:%d: skipped, the nats CLI is not installed", b.lineNo)
			continue
		}
		if b.terminal == 3 {
			watcher = startBackground(t, b, dir, env)
			continue
		}
		for _, c := range b.commands {
			runReadmeCommand(t, c, dir, env)
		}
		if watcher != nil {
			watcher.finish(t)
			watcher = nil
		}
	}
	if watcher != nil {
		t.Fatalf("README.md:%d: a background block is not followed by a foreground one", watcher.cmd.lineNo)
	}
}

// parseQuickstart returns the ```sh blocks of the Quickstart section.
func parseQuickstart(md string) ([]readmeBlock, error) {
	var (
		blocks  []readmeBlock
		in      bool // inside the section
		cur     *readmeBlock
		last    *readmeCommand
		section bool
	)
	for i, line := range strings.Split(md, "\n") {
		n := i + 1
		switch {
		case line == "## Quickstart":
			in, section = true, true
			continue
		case in && cur == nil && strings.HasPrefix(line, "## "):
			in = false
		}
		if !in {
			continue
		}
		switch {
		case cur == nil && line == "```sh":
			cur, last = &readmeBlock{terminal: 2, lineNo: n}, nil
		case cur == nil:
		case line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case strings.HasPrefix(line, "#>") || strings.HasPrefix(line, "#!"):
			if last == nil {
				return nil, fmt.Errorf("README.md:%d: output shown before any command", n)
			}
			text := strings.TrimPrefix(line[2:], " ")
			if line[1] == '>' {
				last.stdout = append(last.stdout, text)
			} else {
				last.stderr = append(last.stderr, text)
			}
		case strings.HasPrefix(line, "# terminal ") && len(cur.commands) == 0 && last == nil:
			fmt.Sscanf(line, "# terminal %d", &cur.terminal)
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
		default:
			last = &readmeCommand{line: line, lineNo: n}
			cur.commands = append(cur.commands, last)
		}
	}
	switch {
	case !section:
		return nil, fmt.Errorf("README.md has no \"## Quickstart\" section")
	case cur != nil:
		return nil, fmt.Errorf("README.md:%d: unterminated code block", cur.lineNo)
	case len(blocks) == 0:
		return nil, fmt.Errorf("README.md: the Quickstart has no ```sh blocks")
	}
	return blocks, nil
}

func usesNats(b readmeBlock) bool {
	for _, c := range b.commands {
		if strings.HasPrefix(c.line, "nats ") {
			return true
		}
	}
	return false
}

func runReadmeCommand(t *testing.T, c *readmeCommand, dir string, env []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", c.line)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	where := fmt.Sprintf("README.md:%d: %s", c.lineNo, c.line)
	if wantFail := expectsFailure(c); wantFail != (err != nil) {
		t.Fatalf("%s: exit error %v, want failure %v\nstdout:\n%s\nstderr:\n%s", where, err, wantFail, stdout.String(), stderr.String())
	}
	if c.stdout != nil {
		if err := matchLines(c.stdout, stdout.String(), false); err != nil {
			t.Fatalf("%s: standard output: %v\ngot:\n%s", where, err, stdout.String())
		}
	}
	if c.stderr != nil {
		if err := matchLines(c.stderr, stderr.String(), false); err != nil {
			t.Fatalf("%s: standard error: %v\ngot:\n%s", where, err, stderr.String())
		}
	}
}

func expectsFailure(c *readmeCommand) bool {
	return len(c.stderr) > 0 && (strings.HasPrefix(c.stderr[0], "cairn: ") || strings.HasPrefix(c.stderr[0], "nats: error"))
}

// timestamp is how cairn and nats print times; any time matches any other.
var timestamp = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)

func normalize(line string) string {
	return strings.TrimRight(timestamp.ReplaceAllString(line, "<time>"), " ")
}

// matchLines checks got against the wanted lines, where a "..." line
// stands for any number of lines. With open, got may go on after the last
// wanted line.
func matchLines(want []string, got string, open bool) error {
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if got == "" {
		lines = nil
	}
	for i := range lines {
		lines[i] = normalize(lines[i])
	}
	// Split want into runs of consecutive lines between "..." markers.
	var runs [][]string
	anchoredStart, anchoredEnd := true, !open
	run := []string{}
	for i, w := range want {
		if w == "..." {
			if i == 0 {
				anchoredStart = false
			}
			if i == len(want)-1 {
				anchoredEnd = false
			}
			runs = append(runs, run)
			run = []string{}
			continue
		}
		run = append(run, normalize(w))
	}
	runs = append(runs, run)
	pos := 0
	for r, run := range runs {
		if len(run) == 0 {
			continue
		}
		at := -1
		for p := pos; p+len(run) <= len(lines); p++ {
			if (r == 0 && anchoredStart && p != 0) || !equalLines(lines[p:p+len(run)], run) {
				continue
			}
			if r == len(runs)-1 && anchoredEnd && p+len(run) != len(lines) {
				continue
			}
			at = p
			break
		}
		if at < 0 {
			return fmt.Errorf("no match for the lines\n%s", strings.Join(run, "\n"))
		}
		pos = at + len(run)
	}
	return nil
}

func equalLines(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// background is a command of a "# terminal 3" block.
type background struct {
	cmd  *readmeCommand
	proc *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startBackground(t *testing.T, b readmeBlock, dir string, env []string) *background {
	t.Helper()
	if len(b.commands) != 1 || len(b.commands[0].stdout) == 0 {
		t.Fatalf("README.md:%d: a background block needs one command and its output", b.lineNo)
	}
	bg := &background{cmd: b.commands[0], out: &syncBuffer{}, done: make(chan error, 1)}
	bg.proc = exec.Command("sh", "-c", "exec "+bg.cmd.line)
	bg.proc.Dir, bg.proc.Env = dir, env
	bg.proc.Stdout, bg.proc.Stderr = bg.out, bg.out
	if err := bg.proc.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { bg.done <- bg.proc.Wait() }()
	t.Cleanup(func() {
		_ = bg.proc.Process.Kill()
		<-bg.done
	})
	// Its first line shows it is watching: later writes will reach it.
	bg.await(t, bg.cmd.stdout[:1])
	return bg
}

// await polls the output until it matches want, for at most 20s.
func (bg *background) await(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := matchLines(want, bg.out.String(), true)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("README.md:%d: %s: %v\ngot:\n%s", bg.cmd.lineNo, bg.cmd.line, err, bg.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish waits for the whole expected output, then interrupts the command.
func (bg *background) finish(t *testing.T) {
	t.Helper()
	bg.await(t, bg.cmd.stdout)
	_ = bg.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-bg.done:
		bg.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatalf("README.md:%d: %s did not stop on SIGINT", bg.cmd.lineNo, bg.cmd.line)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
