package main

import (
	"github.com/spf13/cobra"
)

func newKVEditCommand(a *app) *cobra.Command {
	var f bucketFlags
	cmd := &cobra.Command{
		Use:   "edit BUCKET",
		Short: "Change the configuration of a bucket",
		Long: `Change the settings given as flags and keep all others, then show the
bucket's configuration. The storage kind cannot be changed.`,
		Example:           `  cairn kv edit my-kv --history 5 --ttl 24h`,
		Args:              argsRange(1, 1),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			st, err := kv.Status(cmd.Context())
			if err != nil {
				return onKey(err, bucket, "")
			}
			cfg := st.Config()
			if err := f.apply(&cfg, cmd.Flags().Changed); err != nil {
				return err
			}
			kv, err = a.js.UpdateKeyValue(cmd.Context(), cfg)
			if err != nil {
				return onKey(err, bucket, "")
			}
			return a.showBucket(cmd, kv)
		},
	}
	f.register(cmd.Flags(), false)
	return cmd
}
