package main

import (
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cairn-db/cairn/kvtxn"
)

// shownValueRunes is how much of a value "get" shows without --raw.
const shownValueRunes = 120

func newKVGetCommand(a *app) *cobra.Command {
	var (
		raw      bool
		revision uint64
	)
	cmd := &cobra.Command{
		Use:   "get BUCKET KEY [KEY...]",
		Short: "Show the value of a key, or of several keys at one revision",
		Long: `Show the latest value of KEY with its revision and time, or the value at
--revision. With --raw print only the value, byte for byte, as scripts want
it. A deleted key is not found.

With several keys, show all their values as of one revision of the bucket,
read at once so that they are consistent with each other: the latest, or
as of --revision N (each key's latest value at or before N; this needs the
history the bucket keeps, and fails rather than show a wrong value). Keys
without a value then are listed as "(no value)", and the command succeeds.`,
		Example: `  cairn kv get my-kv Key1
  cairn kv get my-kv Key1 --raw
  cairn kv get my-kv Key1 --revision 1
  cairn kv get accounts alice bob --revision 12`,
		Args:              argsRange(2, -1),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 2 {
				if raw {
					return usageErrorf("--raw shows one value: give one KEY")
				}
				return a.getMany(cmd, args[0], args[1:], revision)
			}
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
	cmd.Flags().Uint64Var(&revision, "revision", 0, "show the value at this revision of the bucket (several keys: as of this revision)")
	return cmd
}

// getMany shows several keys as of one revision (a point-in-time read).
func (a *app) getMany(cmd *cobra.Command, bucket string, keys []string, revision uint64) error {
	if _, err := a.bucket(cmd.Context(), bucket); err != nil {
		return err
	}
	seen := map[string]bool{}
	var unique []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			unique = append(unique, k)
		}
	}
	snap, err := kvtxn.GetMany(cmd.Context(), a.js, bucket, unique, readOptions(revision)...)
	if err != nil {
		return readError(err, bucket, revision)
	}
	return a.printSnapshot(bucket, snap, unique)
}
