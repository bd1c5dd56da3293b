package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// app is the state of one run: the standard streams, the global flags and
// the connection, opened on first use.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	conn connOptions
	json bool

	// started is set once a command's own code runs; an error before that
	// is a usage error (bad flag, wrong number of arguments).
	started bool

	nc *nats.Conn
	js jetstream.JetStream
}

const rootLong = `cairn is the command line client of cairn-server, a key/value server that
speaks the NATS protocol. Its "kv" commands have the names, arguments and
meaning of "nats kv", so NATS documentation applies as written; they work
against nats-server too.

Output is text for people by default and JSON with --json. Errors are one
line on standard error (a JSON object with --json); the exit status is 0 on
success, 1 on an error and 2 on a usage error, except that "kv lock" and
"kv update-with" exit with the status of the command they run.`

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "Command line client for cairn-server key/value buckets",
		Long:          rootLong,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.started = true
			return a.conn.check()
		},
	}
	a.conn.register(root.PersistentFlags(), a.getenv)
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print JSON for scripts instead of text")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		if strings.Contains(cmd.Use, "-- COMMAND") {
			return usageErrorf("%v; put \"--\" before COMMAND so that its flags are not read as cairn's", err)
		}
		return usageErrorf("%v", err)
	})
	root.AddCommand(newKVCommand(a))
	return root
}

// connect returns the JetStream context, connecting on first use.
func (a *app) connect() (jetstream.JetStream, error) {
	if a.js != nil {
		return a.js, nil
	}
	nc, err := a.conn.dial()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(a.conn.timeout))
	if err != nil {
		nc.Close()
		return nil, err
	}
	a.nc, a.js = nc, js
	return js, nil
}

// bucket opens an existing bucket.
func (a *app) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	js, err := a.connect()
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, onKey(err, name, "")
	}
	return kv, nil
}

func (a *app) close() {
	if a.nc != nil {
		a.nc.Close()
	}
}

// readValue returns args[i] if present, else standard input, which must not
// be a terminal (the user would be left waiting without a prompt).
func (a *app) readValue(args []string, i int) ([]byte, error) {
	if len(args) > i {
		return []byte(args[i]), nil
	}
	if f, ok := a.stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return nil, usageErrorf("no VALUE given: pass it as an argument or pipe it on standard input")
		}
	}
	v, err := io.ReadAll(a.stdin)
	if err != nil {
		return nil, fmt.Errorf("reading the value from standard input: %w", err)
	}
	return v, nil
}
