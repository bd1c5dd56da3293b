package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cairn-db/cairn/kvsync"
)

const lockLong = `Take the lock KEY in BUCKET, run COMMAND while holding it, and release it
when COMMAND ends. Exits with COMMAND's status.

The lock is taken with "create", so only one holder has it at a time; by
default cairn waits for it (saying so, and who holds it, on standard error),
with --no-wait it fails at once (status 1) if someone else holds it. While COMMAND runs, cairn refreshes the lock with
"update" at its current revision (every third of the TTL by default). The
bucket must have a TTL: if cairn dies, the lock is freed once the TTL has
passed since its last refresh, and not before. On Linux, COMMAND is killed
if cairn is killed, so it cannot run on unprotected.

If the lock is lost while COMMAND runs (it could not be refreshed in time,
or someone deleted or overwrote the key), cairn sends COMMAND SIGTERM, then
SIGKILL after --grace, and exits with status 1. Signals that cairn gets
(SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed on to COMMAND.

COMMAND sees CAIRN_LOCK_BUCKET, CAIRN_LOCK_KEY and CAIRN_LOCK_TOKEN: the
revision at which the lock was taken, which grows with every new holder, for
use as a fencing token. Put "--" before COMMAND so that its flags are not
read as cairn's.`

type lockFlags struct {
	noWait    bool
	maxWait   time.Duration
	value     string
	keepAlive time.Duration
	grace     time.Duration
}

func newKVLockCommand(a *app) *cobra.Command {
	var f lockFlags
	cmd := &cobra.Command{
		Use:   "lock BUCKET KEY -- COMMAND [ARG...]",
		Short: "Run a command while holding a lock",
		Long:  lockLong,
		Example: `  cairn kv add locks --ttl 30s
  cairn kv lock locks nightly-report -- ./make-report.sh
  cairn kv lock locks deploy --no-wait -- make deploy`,
		Args:              commandArgs,
		ValidArgsFunction: a.completeBucketKey,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.maxWait < 0 || f.keepAlive < 0 || f.grace < 0 {
				return usageErrorf("--max-wait, --keepalive and --grace must not be negative")
			}
			return a.runLocked(cmd, args[0], args[1], args[2:], f)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.noWait, "no-wait", false, "fail at once if the lock is held, instead of waiting")
	fs.DurationVar(&f.maxWait, "max-wait", 0, "give up waiting for the lock after this long; 0 waits forever")
	fs.StringVar(&f.value, "value", "", `what to store in the key to tell others who holds it (default "pid PID on HOST")`)
	fs.DurationVar(&f.keepAlive, "keepalive", 0, "time between refreshes of the lock (default a third of the bucket's TTL)")
	fs.DurationVar(&f.grace, "grace", 10*time.Second, "time between SIGTERM and SIGKILL when the lock is lost")
	return cmd
}

// commandArgs checks BUCKET KEY [--] COMMAND [ARG...].
func commandArgs(cmd *cobra.Command, args []string) error {
	if dash := cmd.ArgsLenAtDash(); dash >= 0 && dash != 2 {
		return usageErrorf("give BUCKET and KEY before \"--\" and COMMAND after it: usage: %s", cmd.UseLine())
	}
	if len(args) < 3 {
		return usageErrorf("missing arguments: usage: %s", cmd.UseLine())
	}
	return nil
}

// runLocked takes the lock, runs the command and releases the lock.
func (a *app) runLocked(cmd *cobra.Command, bucket, key string, argv []string, f lockFlags) error {
	ctx := cmd.Context()
	kv, err := a.bucket(ctx, bucket)
	if err != nil {
		return err
	}
	opts := &kvsync.LockOptions{KeepAlive: f.keepAlive}
	if f.value != "" {
		opts.Value = []byte(f.value)
	}
	lease, err := a.takeLock(ctx, kv, key, opts, f)
	if err != nil {
		return err
	}

	child := exec.Command(argv[0], argv[1:]...)
	child.Stdin, child.Stdout, child.Stderr = a.stdin, a.stdout, a.stderr
	child.Env = append(os.Environ(),
		"CAIRN_LOCK_BUCKET="+bucket,
		"CAIRN_LOCK_KEY="+key,
		"CAIRN_LOCK_TOKEN="+strconv.FormatUint(lease.Token(), 10))
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	done, err := startChild(child)
	if err != nil {
		a.releaseLock(lease)
		return err
	}
	for {
		select {
		case sig := <-sigs:
			_ = child.Process.Signal(sig)
		case werr := <-done:
			return a.finishLocked(lease, werr)
		case <-lease.Done():
			return a.stopOnLoss(lease, child, done, f.grace)
		}
	}
}

// takeLock takes the lock at once or waits for it, as the flags say.
func (a *app) takeLock(ctx context.Context, kv jetstream.KeyValue, key string, opts *kvsync.LockOptions, f lockFlags) (*kvsync.Lease, error) {
	lease, err := kvsync.TryLock(ctx, kv, key, opts)
	var le *kvsync.LockedError
	if f.noWait || !errors.As(err, &le) {
		return lease, onKey(err, kv.Bucket(), key)
	}
	if !a.json {
		fmt.Fprintf(a.stderr, "Waiting: %s\n", lockedMessage(le))
	}
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if f.maxWait > 0 {
		wctx, cancel = context.WithTimeout(ctx, f.maxWait)
	}
	defer cancel()
	first := le
	lease, err = kvsync.Lock(wctx, kv, key, opts)
	if err == nil {
		return lease, nil
	}
	// The wait can end at any request of Lock (reading the bucket's
	// settings, a create, a get): whatever error that request returned,
	// an ended context means interrupted or gave up, never a failure.
	if wctx.Err() == nil {
		return nil, onKey(err, kv.Bucket(), key)
	}
	if !errors.As(err, &le) || le.Holder == nil {
		// Ended before the holder could be read again: name the one
		// seen when waiting began.
		le = first
	}
	if ctx.Err() != nil {
		return nil, &exitError{code: 130, kind: "interrupted", msg: "interrupted while waiting: " + lockedMessage(le)}
	}
	return nil, &exitError{code: 1, kind: "locked", msg: fmt.Sprintf("%s: gave up waiting after --max-wait %s", lockedMessage(le), f.maxWait)}
}

// finishLocked releases the lock after the command ended with werr.
func (a *app) finishLocked(lease *kvsync.Lease, werr error) error {
	code := 0
	if werr != nil {
		code = exitStatus(werr)
	}
	if err := a.releaseLock(lease); errors.Is(err, kvsync.ErrLockLost) {
		// The command finished, but the lock may not have protected it
		// to the end: say so, and never report success.
		return &exitError{code: max(code, 1), kind: "lock_lost",
			msg: "the command ended, but the lock had been lost before: " + strings.TrimPrefix(err.Error(), "kvsync: ")}
	}
	if code != 0 {
		return &exitError{code: code} // the command has spoken for itself
	}
	return nil
}

// stopOnLoss stops the command after the lock was lost: SIGTERM, then
// SIGKILL after grace.
func (a *app) stopOnLoss(lease *kvsync.Lease, child *exec.Cmd, done <-chan error, grace time.Duration) error {
	msg := fmt.Sprintf("%s; stopping the command", strings.TrimPrefix(lease.Err().Error(), "kvsync: "))
	a.report(nil, &exitError{code: 1, kind: "lock_lost", msg: msg})
	_ = child.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = child.Process.Kill()
		<-done
	}
	_ = lease.Release(context.Background())
	return &exitError{code: 1}
}

// releaseLock releases the lease, warning on standard error if the key could
// not be deleted (it then expires after the TTL).
func (a *app) releaseLock(lease *kvsync.Lease) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.conn.timeout)
	defer cancel()
	err := lease.Release(ctx)
	if err != nil && !errors.Is(err, kvsync.ErrLockLost) {
		a.report(nil, &exitError{kind: "release", msg: strings.TrimPrefix(err.Error(), "kvsync: ")})
	}
	return err
}
