package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cairn-db/cairn/kvsync"
)

const updateWithLong = `Change KEY from its current value with COMMAND, without losing concurrent
changes: an optimistic read-modify-write.

cairn reads KEY and runs COMMAND with the current value on its standard
input (empty if the key has no value) and with CAIRN_KV_BUCKET, CAIRN_KV_KEY
and CAIRN_KV_REVISION (0 if the key has no value) in its environment. What
COMMAND prints on standard output becomes the new value, stored only if the
key has not changed since it was read ("update" at the read revision, or
"create" if it had no value). If it has, cairn reads the key again and runs
COMMAND again, after a short random pause, up to --max-attempts times.
COMMAND may thus run more than once: it must only compute the new value.

A trailing newline of the output is dropped, as the shell's $(...) does,
unless --keep-newline is given. If COMMAND fails, nothing is written and
cairn exits with COMMAND's status. Put "--" before COMMAND so that its flags
are not read as cairn's.`

func newKVUpdateWithCommand(a *app) *cobra.Command {
	var (
		maxAttempts int
		keepNewline bool
	)
	cmd := &cobra.Command{
		Use:   "update-with BUCKET KEY -- COMMAND [ARG...]",
		Short: "Change a key with a command, retrying on concurrent changes",
		Long:  updateWithLong,
		Example: `  cairn kv update-with counters visits -- sh -c 'echo $(( $(cat) + 1 ))'
  cairn kv update-with config app.json -- jq '.replicas = 3'`,
		Args:              commandArgs,
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			if maxAttempts < 0 {
				return usageErrorf("--max-attempts must not be negative, got %d", maxAttempts)
			}
			bucket, key, argv := args[0], args[1], args[2:]
			ctx := cmd.Context()
			kv, err := a.bucket(ctx, bucket)
			if err != nil {
				return err
			}
			compute := func(cur jetstream.KeyValueEntry) ([]byte, error) {
				return a.runTransform(cmd, bucket, key, argv, cur, keepNewline)
			}
			res, err := kvsync.Update(ctx, kv, key, compute, &kvsync.UpdateOptions{MaxAttempts: maxAttempts})
			var ee *exitError
			switch {
			case errors.As(err, &ee):
				return ee
			case err != nil:
				return onKey(err, bucket, key)
			}
			return a.printWrite(writeResult{Bucket: bucket, Key: key, Revision: res.Revision, Attempts: res.Attempts})
		},
	}
	cmd.Flags().IntVar(&maxAttempts, "max-attempts", 20, "give up after this many conflicting attempts; 0 retries until interrupted")
	cmd.Flags().BoolVar(&keepNewline, "keep-newline", false, "store the output exactly, with its trailing newline")
	return cmd
}

// runTransform runs the user's command on the current entry and returns
// its output, or an *exitError if it failed.
func (a *app) runTransform(cmd *cobra.Command, bucket, key string, argv []string, cur jetstream.KeyValueEntry, keepNewline bool) ([]byte, error) {
	var value []byte
	var rev uint64
	if cur != nil {
		value, rev = cur.Value(), cur.Revision()
	}
	child := exec.CommandContext(cmd.Context(), argv[0], argv[1:]...)
	child.Cancel = func() error { return child.Process.Signal(syscall.SIGTERM) }
	child.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	child.Stdin, child.Stdout, child.Stderr = bytes.NewReader(value), &out, a.stderr
	child.Env = append(os.Environ(),
		"CAIRN_KV_BUCKET="+bucket,
		"CAIRN_KV_KEY="+key,
		"CAIRN_KV_REVISION="+strconv.FormatUint(rev, 10))
	done, err := startChild(child)
	if err != nil {
		return nil, err
	}
	if err := <-done; err != nil {
		if cmd.Context().Err() != nil {
			return nil, &exitError{code: 130, kind: "interrupted", msg: "interrupted: nothing was written"}
		}
		code := exitStatus(err)
		return nil, &exitError{code: code, kind: "command_failed",
			msg: fmt.Sprintf("%s exited with status %d: nothing was written", argv[0], code)}
	}
	b := out.Bytes()
	if !keepNewline {
		b = bytes.TrimSuffix(b, []byte("\n"))
	}
	return b, nil
}
