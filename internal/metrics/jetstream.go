package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairn-db/cairn/internal/store"
)

// jetStreamCollector exports each account's API counters, buckets and
// storage engine, read at scrape time.
type jetStreamCollector struct {
	js       JetStream
	accounts bool // label series with the account

	apiRequests, streams, consumers, storageBytes, memoryBytes *prometheus.Desc

	bucketEntries, bucketBytes, bucketKeys, bucketWatchers *prometheus.Desc

	walBytes, walLogicalBytes, walFiles, walSize, walSync      *prometheus.Desc
	compactions, flushes, compactionDebt, diskUsage, liveBytes *prometheus.Desc
	memtableBytes, memtables, readAmp                          *prometheus.Desc
	cacheHits, cacheMisses, cacheSize, cacheHitRatio           *prometheus.Desc
}

func newJetStreamCollector(js JetStream, accounts bool) *jetStreamCollector {
	var acct, bucket []string
	if accounts {
		acct = []string{"account"}
	}
	bucket = append(append(bucket, acct...), "bucket")
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("cairn_"+name, help, labels, nil)
	}
	return &jetStreamCollector{
		js: js, accounts: accounts,

		apiRequests:  d("jetstream_api_requests_total", "Requests to the JetStream API ($JS.API.>), as /varz jetstream.stats.api.total.", acct),
		streams:      d("jetstream_streams", "Streams (KV buckets included).", acct),
		consumers:    d("jetstream_consumers", "Consumers (watchers, key listings, history reads).", acct),
		storageBytes: d("jetstream_storage_bytes", "Bytes of the messages of file streams, as stream info counts them.", acct),
		memoryBytes:  d("jetstream_memory_bytes", "Bytes of the messages of memory streams.", acct),

		bucketEntries:  d("kv_bucket_entries", "Messages a KV bucket holds: every revision kept (history) and delete and purge markers.", bucket),
		bucketBytes:    d("kv_bucket_bytes", "Bytes of a KV bucket's messages, as the bucket status reports them.", bucket),
		bucketKeys:     d("kv_bucket_keys", "Keys of a KV bucket with at least one message (deleted keys keep their marker until purged).", bucket),
		bucketWatchers: d("kv_bucket_watchers", "Consumers open on a KV bucket: watches, key listings and history reads.", bucket),

		walBytes:        d("store_wal_written_bytes_total", "Bytes written to the storage engine's write-ahead log files.", acct),
		walLogicalBytes: d("store_wal_record_bytes_total", "Bytes of the records (batches) appended to the write-ahead log.", acct),
		walFiles:        d("store_wal_files", "Live write-ahead log files.", acct),
		walSize:         d("store_wal_size_bytes", "Bytes of live data in the write-ahead log files.", acct),
		walSync: d("store_wal_sync_duration_seconds", "Latency of the write-ahead log syncs. Under the default sync policy most "+
			"are no fsync (the log tail is written to the operating system, fsynced every sync_interval); under sync_interval: always each is an fsync.", acct),
		compactions:    d("store_compactions_total", "LSM compactions since the store opened.", acct),
		flushes:        d("store_flushes_total", "Memtable flushes since the store opened.", acct),
		compactionDebt: d("store_compaction_debt_bytes", "Estimated bytes the LSM still has to compact.", acct),
		diskUsage:      d("store_disk_usage_bytes", "Bytes the storage engine holds on disk: tables, log, manifest and obsolete files not yet removed.", acct),
		liveBytes:      d("store_live_table_bytes", "Bytes of the live tables on disk.", acct),
		memtableBytes:  d("store_memtable_bytes", "Bytes allocated to memtables (the mutable one and those waiting to be flushed).", acct),
		memtables:      d("store_memtables", "Memtables (the mutable one and those waiting to be flushed).", acct),
		readAmp:        d("store_read_amplification", "Sorted runs a point read may have to consult.", acct),

		cacheHits:     d("store_block_cache_hits_total", "Block cache lookups that found the block (the cache is shared by every account's store).", nil),
		cacheMisses:   d("store_block_cache_misses_total", "Block cache lookups that had to read the block from disk.", nil),
		cacheSize:     d("store_block_cache_size_bytes", "Bytes held by the block cache.", nil),
		cacheHitRatio: d("store_block_cache_hit_ratio", "Hits over lookups since start (0 before the first lookup); rate() of the two counters gives the recent ratio.", nil),
	}
}

func (c *jetStreamCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.apiRequests, c.streams, c.consumers, c.storageBytes, c.memoryBytes,
		c.bucketEntries, c.bucketBytes, c.bucketKeys, c.bucketWatchers,
		c.walBytes, c.walLogicalBytes, c.walFiles, c.walSize, c.walSync,
		c.compactions, c.flushes, c.compactionDebt, c.diskUsage, c.liveBytes,
		c.memtableBytes, c.memtables, c.readAmp,
		c.cacheHits, c.cacheMisses, c.cacheSize, c.cacheHitRatio,
	}
}

func (c *jetStreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *jetStreamCollector) Collect(ch chan<- prometheus.Metric) {
	var cache *store.Metrics
	for _, a := range c.js.Accounts() {
		var acct []string
		if c.accounts {
			acct = []string{a.Name}
		}
		emit := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, t, v, append(append([]string(nil), acct...), labels...)...)
		}
		u := a.Usage
		emit(c.apiRequests, prometheus.CounterValue, float64(u.APITotal))
		emit(c.streams, prometheus.GaugeValue, float64(u.Streams))
		emit(c.consumers, prometheus.GaugeValue, float64(u.Consumers))
		emit(c.storageBytes, prometheus.GaugeValue, float64(u.Storage))
		emit(c.memoryBytes, prometheus.GaugeValue, float64(u.Memory))
		for _, b := range a.Buckets {
			emit(c.bucketEntries, prometheus.GaugeValue, float64(b.Entries), b.Bucket)
			emit(c.bucketBytes, prometheus.GaugeValue, float64(b.Bytes), b.Bucket)
			emit(c.bucketKeys, prometheus.GaugeValue, float64(b.Keys), b.Bucket)
			emit(c.bucketWatchers, prometheus.GaugeValue, float64(b.Watchers), b.Bucket)
		}
		if m := a.Store; m != nil {
			c.collectStore(ch, m, acct, emit)
			if cache == nil {
				cache = m
			}
		}
	}
	if cache != nil {
		// Every store shares the daemon's block cache: once, unlabelled.
		ch <- prometheus.MustNewConstMetric(c.cacheHits, prometheus.CounterValue, float64(cache.BlockCacheHits))
		ch <- prometheus.MustNewConstMetric(c.cacheMisses, prometheus.CounterValue, float64(cache.BlockCacheMisses))
		ch <- prometheus.MustNewConstMetric(c.cacheSize, prometheus.GaugeValue, float64(cache.BlockCacheSize))
		ratio := 0.0
		if n := cache.BlockCacheHits + cache.BlockCacheMisses; n > 0 {
			ratio = float64(cache.BlockCacheHits) / float64(n)
		}
		ch <- prometheus.MustNewConstMetric(c.cacheHitRatio, prometheus.GaugeValue, ratio)
	}
}

func (c *jetStreamCollector) collectStore(ch chan<- prometheus.Metric, m *store.Metrics, acct []string,
	emit func(*prometheus.Desc, prometheus.ValueType, float64, ...string)) {
	emit(c.walBytes, prometheus.CounterValue, float64(m.WALBytesWritten))
	emit(c.walLogicalBytes, prometheus.CounterValue, float64(m.WALBytesIn))
	emit(c.walFiles, prometheus.GaugeValue, float64(m.WALFiles))
	emit(c.walSize, prometheus.GaugeValue, float64(m.WALSize))
	emit(c.compactions, prometheus.CounterValue, float64(m.Compactions))
	emit(c.flushes, prometheus.CounterValue, float64(m.Flushes))
	emit(c.compactionDebt, prometheus.GaugeValue, float64(m.CompactionDebt))
	emit(c.diskUsage, prometheus.GaugeValue, float64(m.DiskUsage))
	emit(c.liveBytes, prometheus.GaugeValue, float64(m.LiveTableBytes))
	emit(c.memtableBytes, prometheus.GaugeValue, float64(m.MemTableSize))
	emit(c.memtables, prometheus.GaugeValue, float64(m.MemTables))
	emit(c.readAmp, prometheus.GaugeValue, float64(m.ReadAmplification))
	h := m.WALSync
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.walSync, h.Count, h.Sum, buckets, acct...)
}
