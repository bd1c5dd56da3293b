package store

import (
	"time"

	"github.com/cockroachdb/pebble/v2"
	dto "github.com/prometheus/client_model/go"
)

// Metrics are the storage engine's counters at one moment, for
// monitoring (internal/metrics). Counters only grow while the store is
// open.
type Metrics struct {
	// WALBytesIn are the bytes of records written to the write-ahead
	// log; WALBytesWritten the bytes written to its files (with block
	// framing). WALFiles are the live log files and WALSize the bytes of
	// live data in them.
	WALBytesIn, WALBytesWritten uint64
	WALFiles                    int64
	WALSize                     uint64
	// WALSync is the latency of the WAL syncs the log writer made. Under
	// the default sync policy most are not fsyncs (sync.go): they then
	// measure the write of the log tail to the operating system.
	WALSync Histogram
	// Compactions and Flushes count the LSM compactions and memtable
	// flushes since the store opened; CompactionDebt is the estimated
	// bytes still to compact.
	Compactions, Flushes int64
	CompactionDebt       uint64
	// DiskUsage is every byte the database holds on disk (tables, log,
	// manifest, obsolete files not yet removed); LiveTableBytes the
	// live tables among them.
	DiskUsage, LiveTableBytes uint64
	// BlockCacheHits and BlockCacheMisses count block cache lookups;
	// BlockCacheSize is the bytes it holds. The cache may be shared
	// with other stores (Options.Cache): then these are the shared
	// cache's.
	BlockCacheHits, BlockCacheMisses, BlockCacheSize int64
	// MemTableSize is the bytes allocated to memtables (the mutable one
	// and those waiting to be flushed), MemTables their number.
	MemTableSize uint64
	MemTables    int64
	// ReadAmplification is the number of sorted runs a point read may
	// have to consult.
	ReadAmplification int
}

// Histogram is a cumulative latency histogram: Counts[i] observations
// took at most Bounds[i] seconds; Count and Sum (seconds) cover all.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// walSyncBounds are the bucket bounds (seconds) reported for WAL sync
// latencies: Pebble's histogram has 100 buckets (FsyncLatencyBuckets,
// nanoseconds); the bounds reported are, for each of a short list of
// targets from 100µs to 10s, the largest of Pebble's at or below it,
// so that every cumulative count reported is exact.
var walSyncBounds = func() []float64 {
	targets := []float64{
		0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
		0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	}
	var out []float64
	for _, t := range targets {
		best := 0.0
		for _, b := range pebble.FsyncLatencyBuckets {
			if s := b / float64(time.Second); s <= t*(1+1e-9) && s > best {
				best = s
			}
		}
		if best > 0 && (len(out) == 0 || best > out[len(out)-1]) {
			out = append(out, best)
		}
	}
	return out
}()

// Metrics returns the storage engine's metrics, or false for a store
// without a directory (memory streams only) or one that is closed or
// closing. Safe for concurrent use; it takes the engine's mutex briefly
// and reads no data.
func (st *Store) Metrics() (m Metrics, ok bool) {
	st.mu.Lock()
	closed := st.mu.closed
	st.mu.Unlock()
	if st.db == nil || closed {
		return Metrics{}, false
	}
	defer func() {
		// Close may race this read after the check above; Pebble
		// panics on a closed database. A scrape then goes without.
		if recover() != nil {
			m, ok = Metrics{}, false
		}
	}()
	pm := st.db.Metrics()
	m = Metrics{
		WALBytesIn:        pm.WAL.BytesIn,
		WALBytesWritten:   pm.WAL.BytesWritten,
		WALFiles:          pm.WAL.Files,
		WALSize:           pm.WAL.Size,
		Compactions:       pm.Compact.Count,
		Flushes:           pm.Flush.Count,
		CompactionDebt:    pm.Compact.EstimatedDebt,
		DiskUsage:         pm.DiskSpaceUsage(),
		LiveTableBytes:    pm.Table.Local.LiveSize,
		BlockCacheHits:    pm.BlockCache.Hits,
		BlockCacheMisses:  pm.BlockCache.Misses,
		BlockCacheSize:    pm.BlockCache.Size,
		MemTableSize:      pm.MemTable.Size,
		MemTables:         pm.MemTable.Count,
		ReadAmplification: pm.ReadAmp(),
	}
	if h := pm.LogWriter.FsyncLatency; h != nil {
		var dm dto.Metric
		if h.Write(&dm) == nil && dm.Histogram != nil {
			m.WALSync = walSyncHistogram(dm.Histogram)
		}
	}
	return m, true
}

// walSyncHistogram folds Pebble's fsync histogram (nanoseconds) into
// walSyncBounds (seconds).
func walSyncHistogram(h *dto.Histogram) Histogram {
	out := Histogram{
		Bounds: walSyncBounds,
		Counts: make([]uint64, len(walSyncBounds)),
		Count:  h.GetSampleCount(),
		Sum:    h.GetSampleSum() / float64(time.Second),
	}
	for i, bound := range walSyncBounds {
		for _, b := range h.GetBucket() {
			// The same float64 bounds, divided: compare with a margin.
			if b.GetUpperBound()/float64(time.Second) <= bound*(1+1e-9) {
				out.Counts[i] = max(out.Counts[i], b.GetCumulativeCount())
			}
		}
	}
	return out
}
