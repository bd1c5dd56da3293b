package main

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVLsCommand(a *app) *cobra.Command {
	var names, verbose, displayValue bool
	cmd := &cobra.Command{
		Use:     "ls [BUCKET [FILTER]]",
		Aliases: []string{"list"},
		Short:   "List buckets, or the keys of a bucket",
		Long: `Without BUCKET, list the buckets in a table (with -n, only their names).

With BUCKET, print its keys that have a value, one per line as they arrive
from the server, so that long listings start at once; FILTER restricts them
to a key or a pattern such as "orders.>". With -v show each key's revision
and time in a table instead (and its value with --display-value).`,
		Example: `  cairn kv ls
  cairn kv ls my-kv
  cairn kv ls my-kv 'orders.*' -v`,
		Args:              argsRange(0, 2),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				if names {
					return a.listBucketNames(cmd)
				}
				return a.listBuckets(cmd)
			}
			filter := ""
			if len(args) > 1 {
				filter = args[1]
			}
			if verbose {
				return a.listKeysVerbose(cmd, args[0], filter, displayValue)
			}
			return a.listKeys(cmd, args[0], filter)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&names, "names", "n", false, "list only bucket names")
	f.BoolVarP(&verbose, "verbose", "v", false, "show each key's revision and time")
	f.BoolVar(&displayValue, "display-value", false, "with -v, show values too")
	return cmd
}

func (a *app) listBucketNames(cmd *cobra.Command) error {
	js, err := a.connect()
	if err != nil {
		return err
	}
	lister := js.KeyValueStoreNames(cmd.Context())
	var all []string
	for n := range lister.Name() {
		all = append(all, n)
	}
	if err := lister.Error(); err != nil {
		return err
	}
	sort.Strings(all)
	if a.json {
		if all == nil {
			all = []string{}
		}
		return a.printJSON(all)
	}
	for _, n := range all {
		fmt.Fprintln(a.stdout, n)
	}
	return nil
}

func (a *app) listBuckets(cmd *cobra.Command) error {
	js, err := a.connect()
	if err != nil {
		return err
	}
	lister := js.KeyValueStores(cmd.Context())
	all := []bucketJSON{}
	for st := range lister.Status() {
		all = append(all, newBucketJSON(st))
	}
	if err := lister.Error(); err != nil {
		return err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Bucket < all[j].Bucket })
	if a.json {
		return a.printJSON(all)
	}
	if len(all) == 0 {
		fmt.Fprintln(a.stderr, `No buckets: create one with "cairn kv add BUCKET"`)
		return nil
	}
	t := newTable("BUCKET", "DESCRIPTION", "CREATED", "SIZE", "VALUES", "LAST UPDATE")
	for _, b := range all {
		t.add(b.Bucket, b.Description, humanTime(b.Created), humanBytes(b.Bytes), b.Values, humanTime(derefTime(b.LastUpdate)))
	}
	return t.write(a.stdout)
}

// keyLister opens the key listing of bucket, all keys or those matching
// filter.
func (a *app) keyLister(cmd *cobra.Command, bucket, filter string) (jetstream.KeyValue, jetstream.KeyLister, error) {
	kv, err := a.bucket(cmd.Context(), bucket)
	if err != nil {
		return nil, nil, err
	}
	var lister jetstream.KeyLister
	if filter == "" {
		lister, err = kv.ListKeys(cmd.Context())
	} else {
		lister, err = kv.ListKeysFiltered(cmd.Context(), filter)
	}
	if err != nil {
		return nil, nil, onKey(err, bucket, filter)
	}
	return kv, lister, nil
}

// listKeys streams key names: one per line, or the elements of a JSON array
// written as they come.
func (a *app) listKeys(cmd *cobra.Command, bucket, filter string) error {
	_, lister, err := a.keyLister(cmd, bucket, filter)
	if err != nil {
		return err
	}
	defer lister.Stop()
	n := 0
	for k := range lister.Keys() {
		switch {
		case !a.json:
			fmt.Fprintln(a.stdout, k)
		case n == 0:
			fmt.Fprint(a.stdout, "[\n  ")
		default:
			fmt.Fprint(a.stdout, ",\n  ")
		}
		if a.json {
			b, _ := json.Marshal(k)
			a.stdout.Write(b)
		}
		n++
	}
	if err := cmd.Context().Err(); err != nil {
		return err
	}
	switch {
	case a.json && n == 0:
		fmt.Fprintln(a.stdout, "[]")
	case a.json:
		fmt.Fprint(a.stdout, "\n]\n")
	case n == 0:
		fmt.Fprintf(a.stderr, "No keys in bucket %s\n", bucket)
	}
	return nil
}

// listKeysVerbose shows each key's latest entry in a table.
func (a *app) listKeysVerbose(cmd *cobra.Command, bucket, filter string, displayValue bool) error {
	kv, lister, err := a.keyLister(cmd, bucket, filter)
	if err != nil {
		return err
	}
	defer lister.Stop()
	entries := []entryJSON{}
	headers := []string{"KEY", "REVISION", "CREATED", "LENGTH"}
	if displayValue {
		headers = append(headers, "VALUE")
	}
	t := newTable(headers...)
	for k := range lister.Keys() {
		e, err := kv.Get(cmd.Context(), k)
		if err != nil {
			continue // deleted since it was listed
		}
		entries = append(entries, newEntryJSON(e, false))
		row := []any{e.Key(), e.Revision(), humanTime(e.Created()), len(e.Value())}
		if displayValue {
			row = append(row, shorten(printable(e.Value()), shownHistoryRunes))
		}
		t.add(row...)
	}
	if err := cmd.Context().Err(); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(a.stderr, "No keys in bucket %s\n", bucket)
		return nil
	}
	return t.write(a.stdout)
}
