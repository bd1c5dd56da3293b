package main

import (
	"github.com/spf13/cobra"
)

func newKVInfoCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "info BUCKET",
		Aliases: []string{"status", "view"},
		Short:   "Show the configuration and state of a bucket",
		Long: `Show the configuration of BUCKET (history, TTL, limits, storage) and its
state (values stored, size, last update). With --json durations are in
nanoseconds and sizes in bytes, -1 meaning unlimited.`,
		Example:           `  cairn kv info my-kv`,
		Args:              argsRange(1, 1),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			kv, err := a.bucket(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.showBucket(cmd, kv)
		},
	}
}
