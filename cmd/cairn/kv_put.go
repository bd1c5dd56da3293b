package main

import (
	"github.com/spf13/cobra"
)

func newKVPutCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "put BUCKET KEY [VALUE]",
		Short: "Store a value in a key, whatever it held before",
		Long: `Store VALUE in KEY, replacing any value, and print the new revision.
Without VALUE the value is read from standard input, byte for byte.`,
		Example: `  cairn kv put my-kv Key1 Value1
  date | cairn kv put my-kv last-run`,
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
			rev, err := kv.Put(cmd.Context(), key, value)
			if err != nil {
				return onKey(err, bucket, key)
			}
			return a.printWrite(writeResult{Bucket: bucket, Key: key, Revision: rev})
		},
	}
}
