package main

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// shownValueRunes is how much of a value "get" shows without --raw.
const shownValueRunes = 120

func newKVGetCommand(a *app) *cobra.Command {
	var (
		raw      bool
		revision uint64
	)
	cmd := &cobra.Command{
		Use:   "get BUCKET KEY",
		Short: "Show the value of a key",
		Long: `Show the latest value of KEY with its revision and time, or the value at
--revision. With --raw print only the value, byte for byte, as scripts want
it. A deleted key is not found.`,
		Example: `  cairn kv get my-kv Key1
  cairn kv get my-kv Key1 --raw
  cairn kv get my-kv Key1 --revision 1`,
		Args:              argsRange(2, 2),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			var e jetstream.KeyValueEntry
			if revision > 0 {
				e, err = kv.GetRevision(cmd.Context(), key, revision)
			} else {
				e, err = kv.Get(cmd.Context(), key)
			}
			if err != nil {
				return &keyError{bucket: bucket, key: key, revision: revision, err: err}
			}
			switch {
			case raw:
				_, err = a.stdout.Write(e.Value())
				return err
			case a.json:
				return a.printJSON(newEntryJSON(e, false))
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s > %s revision: %d created @ %s\n\n", e.Bucket(), e.Key(), e.Revision(), humanTime(e.Created()))
			v := printable(e.Value())
			if n := len([]rune(v)); n > shownValueRunes {
				fmt.Fprintf(&b, "Showing the first %d of %d characters, use --raw for the whole value\n\n", shownValueRunes, n)
				v = string([]rune(v)[:shownValueRunes])
			}
			fmt.Fprintf(&b, "%s\n", v)
			_, err = fmt.Fprint(a.stdout, b.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print only the value, without a newline")
	cmd.Flags().Uint64Var(&revision, "revision", 0, "show the value at this revision of the bucket")
	return cmd
}
