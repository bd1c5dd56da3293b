package kvtxn

import (
	"context"
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
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("kvtxn: set allow_atomic=%v on bucket %q: %w", on, bucket, err)
	}
	return nil
}

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
