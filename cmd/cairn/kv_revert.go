package main

import (
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVRevertCommand(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "revert BUCKET KEY REVISION",
		Short: "Store an earlier value of a key again",
		Long: `Store the value that KEY had at REVISION as its new latest value, then show
the key's history. The revision must still be kept by the bucket (see
"cairn kv history"). The write is an update at the key's latest revision,
so it fails rather than overwrite a concurrent change. cairn asks for
confirmation on the terminal unless -f is given.`,
		Example:           `  cairn kv revert my-kv k 5 -f`,
		Args:              argsRange(3, 3),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			rev, err := parseRevision(args[2])
			if err != nil {
				return err
			}
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			history, err := kv.History(ctx, key)
			if err != nil {
				return onKey(err, bucket, key)
			}
			if len(history) < 2 {
				return fmt.Errorf("key %q in bucket %q has only one revision, so there is nothing to revert to (the bucket keeps %s)",
					key, bucket, keptRevisions(kv, cmd))
			}
			old, err := kv.GetRevision(ctx, key, rev)
			if err != nil {
				return &keyError{bucket: bucket, key: key, revision: rev, err: err}
			}
			if !force {
				ok, err := a.confirm(fmt.Sprintf("Revert %s > %s to revision %d (%s)?", bucket, key, rev, shorten(printable(old.Value()), shownHistoryRunes)))
				if err != nil {
					return err
				}
				if !ok {
					_, err := fmt.Fprintf(a.stdout, "Key %s > %s not reverted\n", bucket, key)
					return err
				}
			}
			latest := history[len(history)-1].Revision()
			newRev, err := kv.Update(ctx, key, old.Value(), latest)
			if err != nil {
				ke := &keyError{bucket: bucket, key: key, revision: latest, err: err}
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					ke.latest = latestRevision(ctx, kv, key)
				}
				return ke
			}
			if a.json {
				return a.printJSON(struct {
					writeResult
					RevertedTo uint64 `json:"reverted_to"`
				}{writeResult{Bucket: bucket, Key: key, Revision: newRev}, rev})
			}
			history, err = kv.History(ctx, key)
			if err != nil {
				return onKey(err, bucket, key)
			}
			return a.printHistory(history)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "revert without asking")
	return cmd
}

// keptRevisions describes the bucket's history setting for a message.
func keptRevisions(kv jetstream.KeyValue, cmd *cobra.Command) string {
	st, err := kv.Status(cmd.Context())
	if err != nil {
		return "too few revisions"
	}
	if st.History() == 1 {
		return "1 revision per key; raise it with \"cairn kv edit " + kv.Bucket() + " --history N\""
	}
	return fmt.Sprintf("%d revisions per key", st.History())
}
