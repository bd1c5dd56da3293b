package jsapi

// accountInfo answers $JS.API.INFO with the account's usage, its limits
// and the API level and request counters. Cairn has one account, so the
// server-wide limits (max_memory_store, max_file_store, the consumer
// cap) are its limits; nats-server reports -1 there unless accounts have
// limits of their own. nats.go calls it before
// creating a bucket, and `nats account info` shows it.
func (a *API) accountInfo(req *request) {
	if !a.checkLevel(req, typeAccountInfo) {
		return
	}
	stats := &accountStats{
		Limits: accountLimits{
			MaxMemory: a.opts.MaxMemoryStore, MaxStorage: a.opts.MaxFileStore, MaxStreams: -1,
			MaxConsumers: a.opts.MaxConsumers, MaxAckPending: -1,
			MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1,
		},
		API: apiStats{Level: a.opts.APILevel, Total: a.total.Load(), Errors: a.errors.Load()},
	}
	if stats.Limits.MaxConsumers <= 0 {
		stats.Limits.MaxConsumers = -1
	}
	streams := a.allStreams()
	for _, s := range streams {
		bytes := s.st.State().Bytes
		cfg := s.config()
		reserve := uint64(max(cfg.MaxBytes, 0))
		if cfg.Storage == StorageMemory {
			stats.Memory += bytes
			stats.ReservedMemory += reserve
		} else {
			stats.Storage += bytes
			stats.ReservedStorage += reserve
		}
		if a.consumers != nil {
			stats.Consumers += a.consumers.Count(s.name)
		}
	}
	stats.Streams = len(streams)
	a.respond(req, &accountInfoResponse{apiResponse: apiResponse{Type: typeAccountInfo}, accountStats: stats}, false)
}
