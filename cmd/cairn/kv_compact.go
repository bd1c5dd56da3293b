package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVCompactCommand(a *app) *cobra.Command {
	var (
		force     bool
		olderThan time.Duration
	)
	cmd := &cobra.Command{
		Use:   "compact BUCKET",
		Short: "Reclaim the space used by deleted keys",
		Long: `Remove the history of every deleted or purged key of BUCKET, and the delete
markers themselves when they are older than --older-than (30m by default,
so that watchers that lag behind still see recent deletes; 0 removes them
all). cairn asks for confirmation on the terminal unless -f is given.`,
		Example:           `  cairn kv compact my-kv -f --older-than 0`,
		Args:              argsRange(1, 1),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			if olderThan < 0 {
				return usageErrorf("--older-than must not be negative, got %s", olderThan)
			}
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			if !force {
				ok, err := a.confirm(fmt.Sprintf("Remove the history of all deleted keys in bucket %s?", bucket))
				if err != nil {
					return err
				}
				if !ok {
					_, err := fmt.Fprintf(a.stdout, "Bucket %s not compacted\n", bucket)
					return err
				}
			}
			threshold := olderThan
			if threshold == 0 {
				threshold = -1 // nats.go: a negative age removes every marker
			}
			if err := kv.PurgeDeletes(cmd.Context(), jetstream.DeleteMarkersOlderThan(threshold)); err != nil {
				return onKey(err, bucket, "")
			}
			if a.json {
				return a.printJSON(map[string]any{"bucket": bucket, "compacted": true})
			}
			_, err = fmt.Fprintf(a.stdout, "Bucket %s compacted\n", bucket)
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "compact without asking")
	cmd.Flags().DurationVar(&olderThan, "older-than", 30*time.Minute, "remove delete markers older than this; 0 removes all")
	return cmd
}
