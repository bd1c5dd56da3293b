package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cairn-db/cairn/kvtxn"
)

func newKVEditCommand(a *app) *cobra.Command {
	var (
		f        bucketFlags
		allowTxn bool
	)
	cmd := &cobra.Command{
		Use:   "edit BUCKET",
		Short: "Change the configuration of a bucket",
		Long: `Change the settings given as flags and keep all others, then show the
bucket's configuration. The storage kind cannot be changed.

--allow-txn turns transactions ("cairn kv txn") on or off: the stream's
allow_atomic setting. An edit keeps it as it was: nats.go's UpdateKeyValue,
which other tools use, rebuilds the stream's configuration and turns it off.`,
		Example: `  cairn kv edit my-kv --history 5 --ttl 24h
  cairn kv edit my-kv --allow-txn`,
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
			txnOn, err := kvtxn.TransactionsEnabled(cmd.Context(), a.js, bucket)
			if err != nil {
				return onKey(err, bucket, "")
			}
			if cmd.Flags().Changed("allow-txn") {
				txnOn = allowTxn
			}
			if configChanged(cmd) {
				cfg := st.Config()
				if err := f.apply(&cfg, cmd.Flags().Changed); err != nil {
					return err
				}
				// UpdateKeyValue rebuilds the stream config without allow_atomic.
				if kv, err = a.js.UpdateKeyValue(cmd.Context(), cfg); err != nil {
					return onKey(err, bucket, "")
				}
			}
			set := kvtxn.DisableTransactions
			if txnOn {
				set = kvtxn.EnableTransactions
			}
			if err := set(cmd.Context(), a.js, bucket); err != nil {
				return onKey(err, bucket, "")
			}
			return a.showBucket(cmd, kv)
		},
	}
	f.register(cmd.Flags(), false)
	cmd.Flags().BoolVar(&allowTxn, "allow-txn", false, "allow transactions (atomic batches) on the bucket; --allow-txn=false forbids them")
	return cmd
}

// configChanged reports whether a flag other than --allow-txn asks for a
// change of the bucket's configuration.
func configChanged(cmd *cobra.Command) bool {
	changed := false
	cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
		if f.Changed && f.Name != "allow-txn" {
			changed = true
		}
	})
	return changed
}
