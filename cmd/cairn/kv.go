package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

const kvLong = `Work with JetStream key/value buckets. The commands, their arguments and
their meaning are those of "nats kv".

A bucket holds keys; every write to a bucket (put, create, update, del,
purge) gets the next revision of the bucket. "create" writes only a key that
has no value and "update" only a key whose latest revision is the one given,
which makes them the building blocks of locks and optimistic updates: see
"cairn kv lock" and "cairn kv update-with".

Keys are made of letters, digits and "-/_=."; "*" matches one "."-separated
token and ">" the rest, in watch and ls patterns.`

func newKVCommand(a *app) *cobra.Command {
	kv := &cobra.Command{
		Use:   "kv",
		Short: "Manage key/value buckets and their keys (as \"nats kv\")",
		Long:  kvLong,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	kv.AddGroup(
		&cobra.Group{ID: "keys", Title: "Keys:"},
		&cobra.Group{ID: "buckets", Title: "Buckets:"},
		&cobra.Group{ID: "coordination", Title: "Coordination:"},
	)
	for _, c := range []struct {
		group string
		cmd   *cobra.Command
	}{
		{"keys", newKVPutCommand(a)},
		{"keys", newKVGetCommand(a)},
		{"keys", newKVCreateCommand(a)},
		{"keys", newKVUpdateCommand(a)},
		{"keys", newKVDelCommand(a)},
		{"keys", newKVPurgeCommand(a)},
		{"keys", newKVHistoryCommand(a)},
		{"keys", newKVRevertCommand(a)},
		{"keys", newKVWatchCommand(a)},
		{"keys", newKVTxnCommand(a)},
		{"keys", newKVSnapshotCommand(a)},
		{"buckets", newKVAddCommand(a)},
		{"buckets", newKVEditCommand(a)},
		{"buckets", newKVInfoCommand(a)},
		{"buckets", newKVLsCommand(a)},
		{"buckets", newKVCompactCommand(a)},
		{"buckets", newKVBackupCommand(a)},
		{"buckets", newKVRestoreCommand(a)},
		{"coordination", newKVLockCommand(a)},
		{"coordination", newKVUpdateWithCommand(a)},
	} {
		c.cmd.GroupID = c.group
		kv.AddCommand(c.cmd)
	}
	return kv
}

// argsRange accepts between min and max positional arguments (max < 0: no
// limit) and explains the expected ones otherwise.
func argsRange(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usageErrorf("missing arguments: usage: %s", cmd.UseLine())
		case max >= 0 && len(args) > max:
			return usageErrorf("too many arguments: usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// parseRevision parses a revision argument.
func parseRevision(s string) (uint64, error) {
	rev, err := strconv.ParseUint(s, 10, 64)
	if err != nil || rev == 0 {
		return 0, usageErrorf("invalid revision %q: revisions are whole numbers from 1", s)
	}
	return rev, nil
}

// latestRevision returns the latest revision of key, or 0 if it cannot be
// read; used to make conflict messages precise.
func latestRevision(ctx context.Context, kv jetstream.KeyValue, key string) uint64 {
	if e, err := kv.Get(ctx, key); err == nil {
		return e.Revision()
	}
	return 0
}

// confirm asks a yes/no question on the controlling terminal, so that
// standard input stays free for data. Without a terminal it refuses, and
// the error says to pass -f.
func (a *app) confirm(question string) (bool, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false, usageErrorf("no terminal to confirm %q on: pass -f to go ahead without asking", strings.TrimSuffix(question, "?"))
	}
	defer tty.Close()
	fmt.Fprintf(tty, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(tty).ReadString('\n')
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}

// completeBucketKey completes a bucket name as the first argument and a key
// of that bucket as the second.
func (a *app) completeBucketKey(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	switch len(args) {
	case 0:
		return a.bucketNames(ctx), cobra.ShellCompDirectiveNoFileComp
	case 1:
		kv, err := a.bucket(ctx, args[0])
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		lister, err := kv.ListKeys(ctx)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var keys []string
		for k := range lister.Keys() {
			keys = append(keys, k)
		}
		return keys, cobra.ShellCompDirectiveNoFileComp
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// completeBucket completes a bucket name as the first argument only.
func (a *app) completeBucket(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
	defer cancel()
	return a.bucketNames(ctx), cobra.ShellCompDirectiveNoFileComp
}

func (a *app) bucketNames(ctx context.Context) []string {
	js, err := a.connect()
	if err != nil {
		return nil
	}
	lister := js.KeyValueStoreNames(ctx)
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
