package daemon

import (
	"math"
	"runtime/debug"

	"github.com/cairn-db/cairn/internal/store"
)

// Defaults of the JetStream storage limits, as nats-server computes them
// when its configuration leaves them out (server/jetstream.go
// dynJetStreamConfig): 75% of the system memory (or of GOMEMLIMIT when
// lower) for memory streams, 75% of the disk space available in the
// store directory at start for file streams. Where neither can be read,
// nats-server's fallbacks: 256 MiB and 1 TiB.
const (
	fallbackMaxMemoryStore = 256 << 20
	fallbackMaxFileStore   = 1 << 40
)

// jetStreamLimits resolves Config.MaxMemoryStore and MaxFileStore: 0
// takes the default above, a negative value means no limit (-1 for
// jsapi), a positive one is used as is. The default file limit counts
// the bytes already stored in the stores as available too (scaled the same
// way), as nats-server does once it has recovered its streams: free
// space alone would shrink the limit at each restart, down to below
// what is stored, and then every publish would be refused.
func jetStreamLimits(cfg *Config, stores []*store.Store) (memory, file int64) {
	memory, file = cfg.MaxMemoryStore, cfg.MaxFileStore
	if memory == 0 {
		memory = fallbackMaxMemoryStore
		if total := systemMemory(); total > 0 {
			if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 && limit < total {
				total = limit
			}
			memory = total / 4 * 3
		}
	}
	if file == 0 {
		file = fallbackMaxFileStore
		if avail := diskAvailable(cfg.StoreDir); avail > 0 {
			file = avail/4*3 + storedBytes(stores)/4*3
		}
	}
	return max(memory, -1), max(file, -1)
}

// storedBytes sums the bytes of the streams the stores hold (after a
// restart, file streams only: memory streams do not survive one).
func storedBytes(stores []*store.Store) int64 {
	var sum uint64
	for _, st := range stores {
		for _, s := range st.Streams() {
			if s.Config().Storage == store.FileStorage {
				sum += s.State().Bytes
			}
		}
	}
	return int64(min(sum, math.MaxInt64/2))
}
