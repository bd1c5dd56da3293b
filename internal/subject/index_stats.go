package subject

// IndexStats describe an Index at one moment, for monitoring
// (nats-server's sublist statistics).
type IndexStats struct {
	// Subscriptions is the number of subscriptions; Cached the number
	// of cached match results.
	Subscriptions, Cached int
	// Inserts and Removes count the subscriptions added and removed
	// since the index was made.
	Inserts, Removes uint64
	// Matches counts the lookups; CacheHits those answered from the
	// cache.
	Matches, CacheHits uint64
	// MaxFanout and TotalFanout are the largest and the summed number
	// of subscriptions (a queue group counts once) of the cached
	// results.
	MaxFanout, TotalFanout int
}

// Stats returns the index's statistics. It walks the match cache
// (at most cacheLimit entries) under the cache's read lock, so it is
// meant for occasional monitoring requests, not for every message.
func (idx *Index[T]) Stats() IndexStats {
	var st IndexStats
	idx.mu.RLock()
	st.Subscriptions, st.Inserts, st.Removes = idx.count, idx.inserts, idx.removes
	idx.mu.RUnlock()
	// Misses before hits: a hit read here was counted after the miss
	// that filled the cache, so CacheHits never exceeds Matches.
	misses := idx.misses.Load()
	st.CacheHits = idx.hits.Load()
	st.Matches = st.CacheHits + misses
	idx.cache.RLock()
	st.Cached = len(idx.cache.m)
	for _, r := range idx.cache.m {
		n := len(r.Plain) + len(r.Groups)
		st.TotalFanout += n
		st.MaxFanout = max(st.MaxFanout, n)
	}
	idx.cache.RUnlock()
	return st
}
