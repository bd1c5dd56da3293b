package main

import (
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// shownHistoryRunes is how much of each value "history" shows.
const shownHistoryRunes = 40

func newKVHistoryCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "history BUCKET KEY",
		Short: "Show the revisions a bucket keeps for a key",
		Long: `Show the revisions of KEY that the bucket keeps (its --history setting),
oldest first, including delete and purge markers.`,
		Example:           `  cairn kv history my-kv Key1`,
		Args:              argsRange(2, 2),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			entries, err := kv.History(cmd.Context(), key)
			if err != nil {
				return onKey(err, bucket, key)
			}
			return a.printHistory(entries)
		},
	}
}

// printHistory prints entries as a table, or a JSON array.
func (a *app) printHistory(entries []jetstream.KeyValueEntry) error {
	if a.json {
		out := make([]entryJSON, 0, len(entries))
		for _, e := range entries {
			out = append(out, newEntryJSON(e, true))
		}
		return a.printJSON(out)
	}
	t := newTable("KEY", "REVISION", "OP", "CREATED", "LENGTH", "VALUE")
	for _, e := range entries {
		t.add(e.Key(), e.Revision(), opName(e.Operation()), humanTime(e.Created()), len(e.Value()), shorten(printable(e.Value()), shownHistoryRunes))
	}
	return t.write(a.stdout)
}
