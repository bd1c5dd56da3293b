package jsapi

// accountInfo answers $JS.API.INFO with the account's usage, its limits
// (none) and the API level and request counters. nats.go calls it before
// creating a bucket, and `nats account info` shows it.
func (a *API) accountInfo(req *request) {
	if !a.checkLevel(req, typeAccountInfo) {
		return
	}
	stats := &accountStats{
		Limits: accountLimits{
			MaxMemory: -1, MaxStorage: -1, MaxStreams: -1, MaxConsumers: -1,
			MaxAckPending: -1, MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1,
		},
		API: apiStats{Level: a.opts.APILevel, Total: a.total.Load(), Errors: a.errors.Load()},
	}
	a.mu.RLock()
	streams := make([]*stream, 0, len(a.mu.streams))
	for _, s := range a.mu.streams {
		streams = append(streams, s)
	}
	a.mu.RUnlock()
	for _, s := range streams {
		bytes := s.st.State().Bytes
		if s.config().Storage == StorageMemory {
			stats.Memory += bytes
		} else {
			stats.Storage += bytes
		}
	}
	stats.Streams = len(streams)
	a.respond(req, &accountInfoResponse{apiResponse: apiResponse{Type: typeAccountInfo}, accountStats: stats}, false)
}
