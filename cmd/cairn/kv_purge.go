package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVPurgeCommand(a *app) *cobra.Command {
	var (
		force bool
		ttl   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "purge BUCKET KEY",
		Short: "Delete a key and all its history",
		Long: `Delete KEY and every earlier value of it, leaving only a purge marker
(operation PURGE) as its new revision. cairn asks for confirmation on the
terminal unless -f is given.`,
		Example:           `  cairn kv purge my-kv Key1 -f`,
		Args:              argsRange(2, 2),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			if !force {
				ok, err := a.confirm(fmt.Sprintf("Purge key %s > %s and all its history?", bucket, key))
				if err != nil {
					return err
				}
				if !ok {
					_, err := fmt.Fprintf(a.stdout, "Key %s > %s not purged\n", bucket, key)
					return err
				}
			}
			var opts []jetstream.KVDeleteOpt
			if ttl > 0 {
				opts = append(opts, jetstream.PurgeTTL(ttl))
			}
			if err := kv.Purge(cmd.Context(), key, opts...); err != nil {
				return onKey(err, bucket, key)
			}
			if a.json {
				return a.printJSON(map[string]string{"bucket": bucket, "key": key, "operation": "PURGE"})
			}
			_, err = fmt.Fprintf(a.stdout, "%s > %s purged\n", bucket, key)
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "purge without asking")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "remove the purge marker after this long (needs a bucket with --limit-marker-ttl)")
	return cmd
}
