package jsapi

// accountInfo answers $JS.API.INFO with the account's usage, its limits
// and the API level and request counters. Without accounts, the
// server-wide limits (max_memory_store, max_file_store, the consumer
// cap) are the global account's; with accounts, each reports its own
// (group.go), -1 where it has none, as nats-server. nats.go calls it
// before creating a bucket, and `nats account info` shows it.
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
	if l := a.opts.Account; l != nil {
		// An account of a server with accounts reports its own limits,
		// -1 where it has none, as nats-server.
		stats.Limits.MaxMemory, stats.Limits.MaxStorage = l.MaxMemory, l.MaxFile
		stats.Limits.MaxStreams, stats.Limits.MaxConsumers = max(l.MaxStreams, -1), l.MaxConsumers
		if stats.Limits.MaxStreams == 0 {
			stats.Limits.MaxStreams = -1
		}
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
