package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cairn-db/cairn/kvtxn"
)

// shownSnapshotRunes is how much of each value the snapshot tables show.
const shownSnapshotRunes = 60

func newKVSnapshotCommand(a *app) *cobra.Command {
	var revision uint64
	cmd := &cobra.Command{
		Use:   "snapshot BUCKET [PATTERN]",
		Short: "Show every key's value as of one revision",
		Long: `Show the value of every key of BUCKET (or of the keys matching PATTERN,
with "*" and ">") as of one revision of the bucket: the latest, or --revision.
All values come from one read, so they are consistent with each other: no
write is half seen. Deleted keys are left out.

A read at an older revision uses the history the bucket keeps ("--history"
of "cairn kv add"): when a value it needs may have been removed, the read
fails rather than show a wrong state. nats-server answers at most 1024 keys
in one read; cairn-server has no such limit.`,
		Example: `  cairn kv snapshot my-kv
  cairn kv snapshot my-kv --revision 12 --json
  cairn kv snapshot my-kv 'users.>'`,
		Args:              argsRange(1, 2),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, filter := args[0], ">"
			if len(args) > 1 {
				filter = args[1]
			}
			if _, err := a.bucket(cmd.Context(), bucket); err != nil {
				return err
			}
			snap, err := kvtxn.GetAll(cmd.Context(), a.js, bucket, filter, readOptions(revision)...)
			if err != nil {
				return readError(err, bucket, revision)
			}
			return a.printSnapshot(bucket, snap, nil)
		},
	}
	cmd.Flags().Uint64Var(&revision, "revision", 0, "read as of this revision of the bucket instead of the latest")
	return cmd
}

func readOptions(revision uint64) []kvtxn.ReadOption {
	if revision == 0 {
		return nil
	}
	return []kvtxn.ReadOption{kvtxn.AtRevision(revision)}
}

// readError explains the errors of a point-in-time read.
func readError(err error, bucket string, revision uint64) error {
	switch {
	case errors.Is(err, kvtxn.ErrRevisionTooOld):
		return &exitError{code: 1, kind: "revision_too_old", msg: fmt.Sprintf("cannot read bucket %q as of revision %d: %s; read a later revision, or keep more history (\"cairn kv edit %s --history N\") for the future",
			bucket, revision, trimPrefix(err, kvtxn.ErrRevisionTooOld), bucket)}
	case errors.Is(err, kvtxn.ErrRevisionInFuture):
		return &exitError{code: 1, kind: "revision_in_future", msg: fmt.Sprintf("cannot read bucket %q as of revision %d: %s", bucket, revision, trimPrefix(err, kvtxn.ErrRevisionInFuture))}
	case errors.Is(err, kvtxn.ErrInvalidKey):
		return &exitError{code: 2, kind: "usage", msg: trimPrefix(err, nil)}
	}
	return onKey(err, bucket, "")
}

// trimPrefix drops "kvtxn: " and the sentinel's own text from err's text.
func trimPrefix(err, sentinel error) string {
	s := err.Error()
	if sentinel != nil && len(s) > len(sentinel.Error())+2 && s[:len(sentinel.Error())] == sentinel.Error() {
		return s[len(sentinel.Error())+2:]
	}
	if len(s) > 7 && s[:7] == "kvtxn: " {
		return s[7:]
	}
	return s
}

// snapshotJSON is the --json output of "kv snapshot" and of "kv get" with
// several keys. Missing lists the asked keys without a value (get only).
type snapshotJSON struct {
	Bucket   string      `json:"bucket"`
	Revision uint64      `json:"revision"`
	Entries  []entryJSON `json:"entries"`
	Missing  []string    `json:"missing,omitempty"`
}

// printSnapshot prints the values of snap (markers left out). With asked
// set ("kv get"), the keys are shown in that order and keys without a
// value are listed as missing.
func (a *app) printSnapshot(bucket string, snap *kvtxn.Snapshot, asked []string) error {
	values := map[string]kvtxn.Entry{}
	order := asked
	for _, e := range snap.Entries {
		if e.Operation == jetstream.KeyValuePut {
			values[e.Key] = e
			if asked == nil {
				order = append(order, e.Key)
			}
		}
	}
	j := snapshotJSON{Bucket: bucket, Revision: snap.Revision, Entries: []entryJSON{}}
	for _, k := range order {
		if e, ok := values[k]; ok {
			j.Entries = append(j.Entries, newEntryJSON(txnEntry{bucket: bucket, e: e}, false))
		} else {
			j.Missing = append(j.Missing, k)
		}
	}
	if a.json {
		return a.printJSON(j)
	}
	fmt.Fprintf(a.stdout, "%s at revision %d: %d key(s)\n\n", bucket, snap.Revision, len(j.Entries))
	t := newTable("KEY", "REVISION", "CREATED", "VALUE")
	for _, k := range order {
		if e, ok := values[k]; ok {
			t.add(k, e.Revision, humanTime(e.Created), shorten(printable(e.Value), shownSnapshotRunes))
		} else {
			t.add(k, "-", "-", "(no value)")
		}
	}
	return t.write(a.stdout)
}

// txnEntry adapts a kvtxn.Entry to jetstream.KeyValueEntry for newEntryJSON.
type txnEntry struct {
	bucket string
	e      kvtxn.Entry
}

var _ jetstream.KeyValueEntry = txnEntry{}

func (t txnEntry) Bucket() string                  { return t.bucket }
func (t txnEntry) Key() string                     { return t.e.Key }
func (t txnEntry) Value() []byte                   { return t.e.Value }
func (t txnEntry) Revision() uint64                { return t.e.Revision }
func (t txnEntry) Created() time.Time              { return t.e.Created }
func (t txnEntry) Delta() uint64                   { return 0 }
func (t txnEntry) Operation() jetstream.KeyValueOp { return t.e.Operation }
