// Command cairn is the command line client of cairn-server: it manages
// JetStream key/value buckets with the same commands as "nats kv", and adds
// coordination commands (a lease lock, optimistic read-modify-write) built on
// the kvsync package. It works with any NATS server that has JetStream.
//
// The command tree is built per run from an app value; nothing is kept in
// package-level variables, so tests can run it many times in one process.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command line and returns the process exit status: 0 on
// success, 1 on an error, 2 on a usage error, or the status of the command
// run by "kv lock" and "kv update-with" when that command fails.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	defer a.close()
	root := newRootCommand(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	return a.report(cmd, err)
}
