package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// validBucketName is the rule nats.go applies to bucket names.
var validBucketName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

// apiReply is the part of every JetStream API answer the backup commands
// read.
type apiReply struct {
	Type  string `json:"type"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     uint16 `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// apiErr returns the error an answer carries, as nats.go's APIError so
// that it is reported like the other commands' server errors.
func (r *apiReply) apiErr() error {
	if r.Error == nil {
		return nil
	}
	return &jetstream.APIError{Code: r.Error.Code, ErrorCode: jetstream.ErrorCode(r.Error.ErrCode), Description: r.Error.Description}
}

func newKVBackupCommand(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup BUCKET FILE",
		Short: "Save a bucket to a file, while it stays in use",
		Long: `Save BUCKET, with every revision of every key it keeps, its TTLs and its
configuration, to FILE. The bucket stays in use: the file holds the bucket as
it was at one revision, the last when the backup started, and no write made
after it. The server sends the backup (cairn-server's own format, compressed,
with a checksum); FILE is checked before the command succeeds, and is written
only then, so a failed backup leaves no file. FILE must not exist.

"nats stream backup KV_BUCKET DIR" makes the same archive, in DIR.`,
		Example:           `  cairn kv backup my-kv my-kv.backup`,
		Args:              argsRange(2, 2),
		ValidArgsFunction: a.completeBucket,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.backup(cmd.Context(), args[0], args[1])
		},
	}
	return cmd
}

// backup runs "kv backup".
func (a *app) backup(ctx context.Context, bucket, path string) error {
	if !validBucketName.MatchString(bucket) {
		return onKey(jetstream.ErrInvalidBucketName, bucket, "")
	}
	if _, err := os.Stat(path); err == nil {
		return usageErrorf("%s already exists: remove it or give another file name", path)
	}
	if _, err := a.connect(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	start := time.Now()
	if err := a.receiveSnapshot(ctx, bucket, tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	info, err := checkBackupFile(tmp.Name())
	if err != nil {
		return err
	}
	if err := publishBackup(tmp.Name(), path); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{
			"bucket": bucket, "stream": info.Stream, "file": path, "bytes": info.Size,
			"messages": info.Messages, "revision": info.LastSeq,
		})
	}
	_, err = fmt.Fprintf(a.stdout, "Backed up bucket %q at revision %d: %d messages, %s in %s, to %s\n",
		bucket, info.LastSeq, info.Messages, humanBytes(uint64(info.Size)), time.Since(start).Round(time.Millisecond), path)
	return err
}

// receiveSnapshot asks for the snapshot of the bucket's stream and writes
// its chunks to w, acknowledging each, until the server's end status.
func (a *app) receiveSnapshot(ctx context.Context, bucket string, w io.Writer) error {
	nc := a.nc
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	req, _ := json.Marshal(map[string]any{"deliver_subject": inbox, "chunk_size": 128 << 10, "no_consumers": true})
	msg, err := nc.Request("$JS.API.STREAM.SNAPSHOT.KV_"+bucket, req, a.conn.timeout)
	if err != nil {
		return err
	}
	var resp struct {
		apiReply
		State struct {
			Bytes uint64 `json:"bytes"`
		} `json:"state"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("unreadable snapshot answer: %w", err)
	}
	if err := resp.apiErr(); err != nil {
		if resp.Error.ErrCode == 10059 {
			return onKey(jetstream.ErrBucketNotFound, bucket, "")
		}
		return err
	}
	bar := a.newProgress("backup "+bucket, int64(resp.State.Bytes))
	defer bar.done()
	for {
		mctx, cancel := context.WithTimeout(ctx, a.conn.timeout)
		m, err := sub.NextMsgWithContext(mctx)
		cancel()
		if err != nil {
			return fmt.Errorf("receiving the backup: %w", err)
		}
		if len(m.Data) == 0 && m.Header != nil {
			if status := m.Header.Get("Status"); status != "204" {
				return fmt.Errorf("the server stopped the backup: %s %s", status, m.Header.Get("Description"))
			}
			return nil
		}
		if _, err := w.Write(m.Data); err != nil {
			return err
		}
		if m.Reply != "" {
			if err := m.Respond(nil); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				return err
			}
		}
		bar.add(int64(len(m.Data)))
	}
}

// progress draws a one-line progress bar on standard error, only when it
// is a terminal, at most every 100 ms.
type progress struct {
	out       io.Writer // nil: no terminal, nothing drawn
	label     string
	total, at int64
	last      time.Time
}

func (a *app) newProgress(label string, total int64) *progress {
	p := &progress{label: label, total: total}
	if f, ok := a.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.out = f
		}
	}
	return p
}

func (p *progress) add(n int64) {
	p.at += n
	if p.out == nil || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *progress) draw() {
	const width = 30
	// The total is the stream's size, the bytes sent are compressed:
	// the bar is an estimate and stops short of full until the end.
	frac := 0.0
	if p.total > 0 {
		frac = min(float64(p.at)/float64(p.total), 0.99)
	}
	filled := int(frac * width)
	fmt.Fprintf(p.out, "\r%s [%s%s] %s", p.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), humanBytes(uint64(p.at)))
}

func (p *progress) done() {
	if p.out == nil {
		return
	}
	fmt.Fprintf(p.out, "\r%s [%s] %s\n", p.label, strings.Repeat("=", 30), humanBytes(uint64(p.at)))
}

// publishBackup gives the complete, synced file tmp its name path,
// unless a file of that name appeared meanwhile (a hard link, unlike a
// rename, never replaces one), and makes the new name durable.
func publishBackup(tmp, path string) error {
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return usageErrorf("%s already exists: remove it or give another file name", path)
		}
		return err
	}
	_ = os.Remove(tmp)
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
