package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rogpeppe/go-internal/testscript"
	"go.uber.org/goleak"

	"github.com/cairn-db/cairn/internal/testserver"
)

// TestMain lets the test binary double as the cairn command: testscript
// puts a copy of it named "cairn" first on $PATH, for the scripts and for
// the tests that run cairn as a process.
func TestMain(m *testing.M) {
	testscript.Main(leakChecked{m}, map[string]func(){
		"cairn": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) },
	})
}

// leakChecked fails the run if goroutines outlive the tests.
type leakChecked struct{ m *testing.M }

func (l leakChecked) Run() int {
	code := l.m.Run()
	testserver.RemoveBinaries() // what StartCairnProcess built
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines leaked: %v\n", err)
			return 1
		}
	}
	return code
}

// TestScripts runs testdata/script/*.txtar, each against a fresh server
// whose URL is in $CAIRN_URL.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

func scriptParams(t *testing.T, dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			tb, ok := env.T().(testing.TB)
			if !ok {
				return fmt.Errorf("testscript T is not a testing.TB")
			}
			srv := testserver.Start(tb)
			env.Setenv("CAIRN_URL", srv.URL)
			env.Setenv("NATS_URL", "")
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitmatch":     cmdWaitMatch,
			"waitconsumers": cmdWaitConsumers,
		},
	}
}

// cmdWaitMatch implements "waitmatch FILE REGEXP [SECONDS]": poll FILE (the
// output of a background command, say) until it matches, for at most
// SECONDS (default 20).
func cmdWaitMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: waitmatch FILE REGEXP [SECONDS]")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	within := 20 * time.Second
	if len(args) == 3 {
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		within = time.Duration(n) * time.Second
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(within)
	for {
		data, _ := os.ReadFile(path)
		if re.Match(data) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not match %q within %s; it holds:\n%s", filepath.Base(path), args[1], within, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdWaitConsumers implements "waitconsumers BUCKET N": wait until the
// bucket's stream has at least N consumers, that is until N watchers are
// subscribed, so that a script can write knowing they will see it.
func cmdWaitConsumers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitconsumers BUCKET N")
	}
	want, err := strconv.Atoi(args[1])
	ts.Check(err)
	nc, err := nats.Connect(ts.Getenv("CAIRN_URL"))
	ts.Check(err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	ts.Check(err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, "KV_"+args[0])
		var n int
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(ctx); err == nil {
				n = info.State.Consumers
			}
		}
		cancel()
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("bucket %s has %d consumers after 20s, want %d (last error: %v)", args[0], n, want, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
