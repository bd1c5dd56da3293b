package main

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVCreateCommand(a *app) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create BUCKET KEY [VALUE]",
		Short: "Store a value only if the key has none (a lock)",
		Long: `Store VALUE in KEY only if the key has no value: it was never written, or
its last operation was a delete or purge, or it expired. Otherwise fail with
"key exists" and exit status 1, leaving the key as it was. Of several
clients creating the same key at once exactly one succeeds, which makes
"create" a lock; "cairn kv lock" builds a complete lock on it.
Without VALUE the value is read from standard input.`,
		Example:           `  cairn kv create my-kv lock1 "held by $(hostname)"`,
		Args:              argsRange(2, 3),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key := args[0], args[1]
			value, err := a.readValue(args, 2)
			if err != nil {
				return err
			}
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			var opts []jetstream.KVCreateOpt
			if ttl > 0 {
				opts = append(opts, jetstream.KeyTTL(ttl))
			}
			rev, err := kv.Create(cmd.Context(), key, value, opts...)
			if err != nil {
				ke := &keyError{bucket: bucket, key: key, err: err}
				if errors.Is(err, jetstream.ErrKeyExists) {
					ke.latest = latestRevision(cmd.Context(), kv, key)
				}
				return ke
			}
			return a.printWrite(writeResult{Bucket: bucket, Key: key, Revision: rev})
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "remove the key after this long (needs a bucket with --limit-marker-ttl)")
	return cmd
}
