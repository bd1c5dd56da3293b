package main

import (
	"errors"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newKVUpdateCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "update BUCKET KEY VALUE REVISION",
		Short: "Store a value only if the key's latest revision is REVISION",
		Long: `Store VALUE in KEY only if REVISION is the key's latest revision, that is
if nobody wrote the key since you read it. Otherwise fail with "revision
mismatch" and exit status 1, leaving the key as it was. Read the key's
revision with "cairn kv get"; "cairn kv update-with" retries for you.`,
		Example:           `  cairn kv update my-kv k v2 5`,
		Args:              argsRange(4, 4),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket, key, value := args[0], args[1], []byte(args[2])
			rev, err := parseRevision(args[3])
			if err != nil {
				return err
			}
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			newRev, err := kv.Update(cmd.Context(), key, value, rev)
			if err != nil {
				ke := &keyError{bucket: bucket, key: key, revision: rev, err: err}
				if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
					ke.latest = latestRevision(cmd.Context(), kv, key)
				}
				return ke
			}
			return a.printWrite(writeResult{Bucket: bucket, Key: key, Revision: newRev})
		},
	}
}
