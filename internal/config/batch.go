package config

import (
	"time"

	"github.com/cairn-db/cairn/internal/daemon"
)

// BatchLimits is jetstream { limits { batch { … } } }: the bounds of
// atomic batch publish (ADR-50). 0 takes nats-server's defaults (50
// batches in flight per stream, 1000 per server, 1000 messages per
// batch, 10s idle timeout), as does a negative value, which nats-server
// also ignores.
type BatchLimits struct {
	MaxInflightPerStream int           // max_inflight_per_stream
	MaxInflightTotal     int           // max_inflight_total
	MaxMsgs              int           // max_msgs
	Timeout              time.Duration // timeout
}

// jetStreamLimits parses jetstream { limits { … } }. Cairn enforces the
// batch limits; the other keys nats-server knows (max_ack_pending,
// max_ha_assets, max_request_batch, default_max_consumers,
// duplicate_window) concern features Cairn does not have and are
// ignored with a warning.
func (c *Config) jetStreamLimits(k string, v value) error {
	m, err := v.mapping(k)
	if err != nil {
		return err
	}
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		if mk != "batch" {
			c.warn(mv.warnf(key, "not supported by Cairn, ignored"))
			continue
		}
		if err := c.batchLimits(key, mv); err != nil {
			return err
		}
	}
	return nil
}

// batchLimits parses the batch map of jetstream limits.
func (c *Config) batchLimits(k string, v value) error {
	m, err := v.mapping(k)
	if err != nil {
		return err
	}
	b := &c.JetStream.Batch
	for _, mk := range sortedKeys(m) {
		mv, key := m[mk], k+"."+mk
		var n int64
		switch mk {
		case "max_inflight_per_stream", "max_inflight_total", "max_msgs":
			if n, err = mv.integer(key); err != nil {
				return err
			}
			if n <= 0 || n > NoLimit {
				c.warn(mv.warnf(key, "%d is not a positive number; the default applies", n))
				n = 0
			}
		case "timeout":
			var d time.Duration
			if d, err = mv.duration(key, c.warn); err != nil {
				return err
			}
			b.Timeout = d
			continue
		default:
			c.warn(mv.warnf(key, "unknown batch limit, ignored"))
			continue
		}
		switch mk {
		case "max_inflight_per_stream":
			b.MaxInflightPerStream = int(n)
		case "max_inflight_total":
			b.MaxInflightTotal = int(n)
		case "max_msgs":
			b.MaxMsgs = int(n)
		}
	}
	return nil
}

// applyBatchLimits sets the batch limits given in the file.
func (c *Config) applyBatchLimits(dc *daemon.Config) {
	b := c.JetStream.Batch
	if b.MaxInflightPerStream > 0 {
		dc.Batch.MaxInflightPerStream = b.MaxInflightPerStream
	}
	if b.MaxInflightTotal > 0 {
		dc.Batch.MaxInflightTotal = b.MaxInflightTotal
	}
	if b.MaxMsgs > 0 {
		dc.Batch.MaxMsgs = b.MaxMsgs
	}
	if b.Timeout > 0 {
		dc.Batch.Timeout = b.Timeout
	}
}
