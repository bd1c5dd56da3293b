package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The seed walkthrough as a least-privilege user (issue 10, point 7):
// examples/walkthrough-user.conf gives user walk exactly the publish
// subjects the walkthrough's natscli commands need.

// walkUser returns a natscli runner logged in as user walk.
func walkUser(t *testing.T, url string) *cli {
	return &cli{t: t, bin: natsCLI(t), url: url,
		args: []string{"--user", "walk", "--password", examplePassword("walkthrough"), "--inbox-prefix", "_INBOX_walk"}}
}

// TestNatsCLIWalkthroughAsUser replays the walkthrough as user walk on
// cairn-server and nats-server, each started from
// examples/walkthrough-user.conf.
func TestNatsCLIWalkthroughAsUser(t *testing.T) {
	conf := exampleConf(t, "walkthrough-user.conf")
	for _, s := range confServers {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			walkthrough(walkUser(t, s.start(t, conf)))
		})
	}
}

// allowEntry is a line of a config file that holds one quoted subject of
// a publish allow list and nothing else but a comment.
var allowEntry = regexp.MustCompile(`^\s*"(\$[^"]+)"\s*(#.*)?$`)

// walkthroughFailed carries a failed step out of walkthrough.
type walkthroughFailed string

// TestNatsCLIWalkthroughUserIsLeast drops each publish entry of user walk
// in turn: the walkthrough must then fail, at a step refused with a
// publish permissions violation. Together with
// TestNatsCLIWalkthroughAsUser this shows the set is exactly what the
// walkthrough needs. It runs against cairn-server only: both servers
// pass the whole set, and the refusals are the same code path as
// TestKVRoles compares.
func TestNatsCLIWalkthroughUserIsLeast(t *testing.T) {
	text, err := os.ReadFile(exampleConf(t, "walkthrough-user.conf"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	dropped := 0
	for i, line := range lines {
		m := allowEntry.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dropped++
		t.Run(m[1], func(t *testing.T) {
			t.Parallel() // most of each run is waiting for a refused request to time out
			conf := filepath.Join(t.TempDir(), "walk.conf")
			without := append(append([]string(nil), lines[:i]...), lines[i+1:]...)
			if err := os.WriteFile(conf, []byte(strings.Join(without, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			c := walkUser(t, confServers[0].start(t, conf))
			c.timeout = "1s" // refused requests end by timing out
			c.failf = func(format string, args ...any) { panic(walkthroughFailed(fmt.Sprintf(format, args...))) }
			failure := runWalkthrough(c)
			if failure == "" {
				t.Fatalf("the walkthrough passes without %s", m[1])
			}
			if !strings.Contains(failure, "Permissions Violation for Publish to ") {
				t.Fatalf("without %s the walkthrough fails, but not on a refused publish:\n%s", m[1], failure)
			}
		})
	}
	if dropped < 5 {
		t.Fatalf("found %d allow entries in walkthrough-user.conf: the pattern no longer matches the file", dropped)
	}
}

// runWalkthrough runs the walkthrough with c, whose failf panics with a
// walkthroughFailed, and returns the failure, or "" if it passed.
func runWalkthrough(c *cli) (failure string) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(walkthroughFailed)
			if !ok {
				panic(r)
			}
			failure = string(f)
		}
	}()
	walkthrough(c)
	return ""
}
