package daemon

import (
	"math"
	"runtime/debug"
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
// jsapi), a positive one is used as is.
func jetStreamLimits(cfg *Config) (memory, file int64) {
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
			file = avail / 4 * 3
		}
	}
	return max(memory, -1), max(file, -1)
}
