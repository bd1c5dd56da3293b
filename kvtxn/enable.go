package kvtxn

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// EnableTransactions turns on allow_atomic on bucket's stream with one
// stream update that keeps every other setting of the stream as it is.
// It does nothing when allow_atomic is already on.
//
// nats.go's UpdateKeyValue (and the legacy API's) rebuilds the stream
// configuration from a KeyValueConfig, which has no field for allow_atomic:
// every such update switches transactions off again. Call
// EnableTransactions after it (`cairn kv edit` does).
func EnableTransactions(ctx context.Context, js jetstream.JetStream, bucket string) error {
	return setAtomic(ctx, js, bucket, true)
}

// DisableTransactions turns allow_atomic off on bucket's stream, keeping
// every other setting.
func DisableTransactions(ctx context.Context, js jetstream.JetStream, bucket string) error {
	return setAtomic(ctx, js, bucket, false)
}

// TransactionsEnabled reports whether bucket's stream allows atomic batches.
func TransactionsEnabled(ctx context.Context, js jetstream.JetStream, bucket string) (bool, error) {
	info, err := streamInfo(ctx, js, bucket, false)
	if err != nil {
		return false, err
	}
	return info.Config.AllowAtomicPublish, nil
}

func setAtomic(ctx context.Context, js jetstream.JetStream, bucket string, on bool) error {
	info, err := streamInfo(ctx, js, bucket, false)
	if err != nil {
		return err
	}
	if info.Config.AllowAtomicPublish == on {
		return nil
	}
	cfg := info.Config
	cfg.AllowAtomicPublish = on
	updated, err := js.UpdateStream(ctx, cfg)
	if err != nil {
		return fmt.Errorf("kvtxn: set allow_atomic=%v on bucket %q: %w", on, bucket, err)
	}
	// A server that predates atomic batches (nats-server before 2.12)
	// accepts the update and drops the field it does not know: a
	// transaction there would be stored message by message.
	if ui := updated.CachedInfo(); ui != nil && ui.Config.AllowAtomicPublish != on {
		return fmt.Errorf("%w: bucket %q still has allow_atomic=%v after the update", ErrAtomicUnsupported, bucket, !on)
	}
	return nil
}

// ErrAtomicUnsupported is returned by EnableTransactions when the server
// accepted the setting but does not keep it: it does not know atomic
// batch publish (nats-server 2.12 or later, or cairn-server, do).
var ErrAtomicUnsupported = errors.New("kvtxn: the server does not support atomic batch publish")

// Key rules of nats.go's jetstream/kv.go.
var (
	validKeyRe    = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)
	validFilterRe = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9*]*[>]?$`)
)

func validKey(key string) bool {
	return plausibleKey(key) && validKeyRe.MatchString(key)
}

func validFilter(filter string) bool {
	return plausibleKey(filter) && validFilterRe.MatchString(filter)
}

func plausibleKey(key string) bool {
	return key != "" && key[0] != '.' && key[len(key)-1] != '.' && !strings.Contains(key, "..")
}
