package main

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVWatchCommand(a *app) *cobra.Command {
	var (
		history, deletes, updatesOnly bool
		revision                      uint64
	)
	cmd := &cobra.Command{
		Use:   "watch BUCKET [KEY]",
		Short: "Print changes to a bucket, a key or keys matching a pattern",
		Long: `Print the latest value of every key that matches KEY (default ">", all
keys), then every change as it happens, until interrupted (Ctrl-C, which
ends with status 0). KEY may be a pattern: "*" matches one "."-separated
token and ">" the rest.

Each line shows the time, the operation (PUT, DEL or PURGE), the bucket, the
key and, for PUT, the value. With --json each change is one JSON object on
its own line.`,
		Example: `  cairn kv watch my-kv
  cairn kv watch my-kv 'orders.*' --updates-only
  cairn kv watch my-kv Key1 --history --json`,
		Args:              argsRange(1, 2),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], ">"
			if len(args) > 1 {
				key = args[1]
			}
			if history && updatesOnly {
				return usageErrorf("--history and --updates-only exclude each other: the first replays old values, the second skips them")
			}
			var opts []jetstream.WatchOpt
			if history {
				opts = append(opts, jetstream.IncludeHistory())
			}
			if !deletes {
				opts = append(opts, jetstream.IgnoreDeletes())
			}
			if updatesOnly {
				opts = append(opts, jetstream.UpdatesOnly())
			}
			if revision > 0 {
				opts = append(opts, jetstream.ResumeFromRevision(revision))
			}
			ctx := cmd.Context()
			kv, err := a.bucket(ctx, bucket)
			if err != nil {
				return err
			}
			w, err := kv.Watch(ctx, key, opts...)
			if err != nil {
				return onKey(err, bucket, key)
			}
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return nil
				case e, ok := <-w.Updates():
					if !ok {
						return errors.New("the watch ended: the connection to the server closed")
					}
					if e == nil { // all values present at the start were shown
						continue
					}
					if err := a.printChange(e); err != nil {
						return err
					}
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVar(&history, "history", false, "start with every revision the bucket keeps, not only the latest")
	f.BoolVar(&deletes, "deletes", true, "show delete and purge markers (--deletes=false hides them)")
	f.BoolVar(&updatesOnly, "updates-only", false, "show only changes made from now on")
	f.BoolVar(&updatesOnly, "updates", false, "same as --updates-only (the name \"nats kv watch\" uses)")
	f.Uint64Var(&revision, "revision", 0, "start from this revision of the bucket")
	return cmd
}

// printChange prints one watched entry.
func (a *app) printChange(e jetstream.KeyValueEntry) error {
	if a.json {
		return a.printJSONLine(newEntryJSON(e, true))
	}
	var err error
	if e.Operation() == jetstream.KeyValuePut {
		_, err = fmt.Fprintf(a.stdout, "[%s] %s %s > %s: %s\n", humanTime(e.Created()), opName(e.Operation()), e.Bucket(), e.Key(), printable(e.Value()))
	} else {
		_, err = fmt.Fprintf(a.stdout, "[%s] %s %s > %s\n", humanTime(e.Created()), opName(e.Operation()), e.Bucket(), e.Key())
	}
	return err
}
