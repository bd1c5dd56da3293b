package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newKVDelCommand(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "del BUCKET [KEY]",
		Aliases: []string{"rm"},
		Short:   "Delete a key, or a whole bucket",
		Long: `With KEY, delete the key: write a delete marker (operation DEL) as the
key's new revision. Its earlier values stay in its history, if the bucket
keeps history, until "cairn kv purge" or "cairn kv compact". Deleting a key
that has no value succeeds and writes a marker too.

Without KEY, delete the bucket and all its keys. cairn asks for
confirmation on the terminal unless -f is given.`,
		Example: `  cairn kv del my-kv Key1
  cairn kv rm my-kv -f`,
		Args:              argsRange(1, 2),
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			bucket := args[0]
			kv, err := a.bucket(cmd.Context(), bucket)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				return a.deleteBucket(cmd, bucket, force)
			}
			key := args[1]
			if err := kv.Delete(cmd.Context(), key); err != nil {
				return onKey(err, bucket, key)
			}
			if a.json {
				return a.printJSON(map[string]string{"bucket": bucket, "key": key, "operation": "DEL"})
			}
			_, err = fmt.Fprintf(a.stdout, "%s > %s deleted\n", bucket, key)
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "delete a bucket without asking")
	return cmd
}

// deleteBucket deletes a bucket after confirmation, or at once with force.
func (a *app) deleteBucket(cmd *cobra.Command, bucket string, force bool) error {
	if !force {
		ok, err := a.confirm(fmt.Sprintf("Delete bucket %s and all its keys?", bucket))
		if err != nil {
			return err
		}
		if !ok {
			_, err := fmt.Fprintf(a.stdout, "Bucket %s not deleted\n", bucket)
			return err
		}
	}
	if err := a.js.DeleteKeyValue(cmd.Context(), bucket); err != nil {
		return onKey(err, bucket, "")
	}
	if a.json {
		return a.printJSON(map[string]any{"bucket": bucket, "deleted": true})
	}
	_, err := fmt.Fprintf(a.stdout, "Bucket %s deleted\n", bucket)
	return err
}
