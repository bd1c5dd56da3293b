package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// restoreChunk is the size of the pieces a restore sends.
const restoreChunk = 64 << 10

// restoreFinishTimeout bounds the wait for the server to check and
// commit a restore after the last piece.
const restoreFinishTimeout = 10 * time.Minute

func newKVRestoreCommand(a *app) *cobra.Command {
	var (
		as      string
		replace bool
	)
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Create a bucket again from a backup file",
		Long: `Create the bucket saved in FILE (by "cairn kv backup") with the same keys,
revisions, history, TTLs and configuration. FILE is checked (its checksum and
structure) before anything is sent, and the server checks it again: a damaged
or incomplete file is refused and no bucket is created. The bucket appears
only once the whole file was received and checked.

The bucket must not exist: with --replace an existing bucket of that name is
deleted first, after FILE was checked, and its content is lost. With --as the
bucket is restored under another name (every key moves with it).`,
		Example: `  cairn kv restore my-kv.backup
  cairn kv restore my-kv.backup --as my-kv-copy
  cairn kv restore my-kv.backup --replace`,
		Args: argsRange(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.restore(cmd.Context(), args[0], as, replace)
		},
	}
	cmd.Flags().StringVar(&as, "as", "", "restore under this bucket name instead of the saved one")
	cmd.Flags().BoolVar(&replace, "replace", false, "delete an existing bucket of the same name first (its content is lost)")
	return cmd
}

// restore runs "kv restore".
func (a *app) restore(ctx context.Context, path, as string, replace bool) error {
	info, err := checkBackupFile(path)
	if err != nil {
		return err
	}
	from, ok := strings.CutPrefix(info.Stream, "KV_")
	if !ok || from == "" {
		return fmt.Errorf("%s holds stream %q, not a key/value bucket: restore it with \"nats stream restore\"", path, info.Stream)
	}
	bucket, cfg := from, info.Config
	if as != "" {
		if !validBucketName.MatchString(as) {
			return onKey(jetstream.ErrInvalidBucketName, as, "")
		}
		bucket = as
		cfg["name"], _ = json.Marshal("KV_" + as)
		cfg["subjects"], _ = json.Marshal([]string{"$KV." + as + ".>"})
	}
	stream := "KV_" + bucket
	js, err := a.connect()
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := js.Stream(ctx, stream); err == nil {
		if !replace {
			return &exitError{code: 1, kind: "bucket_exists", msg: fmt.Sprintf(
				"bucket %q already exists: restore under another name with --as, or pass --replace to delete it first (its content is lost)", bucket)}
		}
		if err := js.DeleteStream(ctx, stream); err != nil {
			return err
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return err
	}
	state, err := a.sendRestore(ctx, stream, cfg, info, path)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{
			"bucket": bucket, "stream": stream, "file": path, "messages": state.Msgs, "revision": state.LastSeq,
		})
	}
	_, err = fmt.Fprintf(a.stdout, "Restored bucket %q at revision %d: %d messages from %s in %s\n",
		bucket, state.LastSeq, state.Msgs, path, time.Since(start).Round(time.Millisecond))
	return err
}

// restoredState is the part of the final answer's stream state shown.
type restoredState struct {
	Msgs    uint64 `json:"messages"`
	LastSeq uint64 `json:"last_seq"`
}

// sendRestore asks the server to restore stream with cfg and sends it
// the file, piece by piece, each acknowledged, then the empty message
// that ends it, whose answer is the outcome.
func (a *app) sendRestore(ctx context.Context, stream string, cfg map[string]json.RawMessage, info *archiveInfo, path string) (*restoredState, error) {
	nc := a.nc
	req, err := json.Marshal(map[string]any{"config": cfg, "state": info.State})
	if err != nil {
		return nil, err
	}
	msg, err := nc.Request("$JS.API.STREAM.RESTORE."+stream, req, a.conn.timeout)
	if err != nil {
		return nil, err
	}
	var resp struct {
		apiReply
		DeliverSubject string `json:"deliver_subject"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("unreadable restore answer: %w", err)
	}
	if err := resp.apiErr(); err != nil {
		if resp.Error.ErrCode == 10130 {
			return nil, &exitError{code: 1, kind: "bucket_exists", msg: fmt.Sprintf("stream %s was created meanwhile: nothing was restored", stream)}
		}
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	bar := a.newProgress("restore "+strings.TrimPrefix(stream, "KV_"), info.Size)
	defer bar.done()
	// Pieces fit in the server's max_payload, which may be below
	// restoreChunk.
	buf := make([]byte, max(1, min(restoreChunk, nc.MaxPayload())))
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			ack, rerr := nc.Request(resp.DeliverSubject, buf[:n], a.conn.timeout)
			if rerr != nil {
				return nil, fmt.Errorf("sending the backup: %w", rerr)
			}
			if len(ack.Data) > 0 {
				var r apiReply
				if json.Unmarshal(ack.Data, &r) == nil && r.apiErr() != nil {
					return nil, r.apiErr()
				}
			}
			bar.add(int64(n))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, restoreFinishTimeout)
	defer cancel()
	final, err := nc.RequestWithContext(fctx, resp.DeliverSubject, nil)
	if err != nil {
		return nil, fmt.Errorf("waiting for the server to finish the restore: %w", err)
	}
	var done struct {
		apiReply
		State restoredState `json:"state"`
	}
	if err := json.Unmarshal(final.Data, &done); err != nil {
		return nil, fmt.Errorf("unreadable restore outcome: %w", err)
	}
	if err := done.apiErr(); err != nil {
		return nil, err
	}
	return &done.State, nil
}
