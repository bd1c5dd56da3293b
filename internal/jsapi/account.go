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
	u := a.Usage()
	stats.Memory, stats.Storage = u.Memory, u.Storage
	stats.ReservedMemory, stats.ReservedStorage = u.ReservedMemory, u.ReservedStorage
	stats.Streams, stats.Consumers = u.Streams, u.Consumers
	stats.API = apiStats{Level: u.APILevel, Total: u.APITotal, Errors: u.APIErrors}
	a.respond(req, &accountInfoResponse{apiResponse: apiResponse{Type: typeAccountInfo}, accountStats: stats}, false)
}

// Usage is what an account's JetStream holds and has served, as
// $JS.API.INFO reports it (monitoring sums it over accounts).
type Usage struct {
	// Memory and Storage are the bytes of memory and file streams;
	// ReservedMemory and ReservedStorage the sums of their max_bytes.
	Memory, Storage, ReservedMemory, ReservedStorage uint64
	Streams, Consumers                               int
	// APILevel is the API level reported; APITotal the API requests
	// received and APIErrors those answered with an error.
	APILevel            int
	APITotal, APIErrors uint64
}

// Usage returns the account's usage now. Safe for concurrent use; the
// cost is one pass over the streams, without reading messages.
func (a *API) Usage() Usage {
	u := Usage{APILevel: a.opts.APILevel, APITotal: a.total.Load(), APIErrors: a.errors.Load()}
	streams := a.allStreams()
	for _, s := range streams {
		bytes := s.st.State().Bytes
		cfg := s.config()
		reserve := uint64(max(cfg.MaxBytes, 0))
		if cfg.Storage == StorageMemory {
			u.Memory += bytes
			u.ReservedMemory += reserve
		} else {
			u.Storage += bytes
			u.ReservedStorage += reserve
		}
		if a.consumers != nil {
			u.Consumers += a.consumers.Count(s.name)
		}
	}
	u.Streams = len(streams)
	return u
}
