package daemon

import (
	"context"
	"log/slog"

	"github.com/cairn-db/cairn/internal/server"
)

// logHandler sends slog records (the store's and Pebble's) to the
// server's logger, so that all lines share one format and destination;
// their attributes stay attributes (" key=value" in text lines, "attrs"
// in JSON lines).
type logHandler struct {
	log   *server.Logger
	attrs []server.Attr
}

func (h *logHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.log.Debugging()
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := make([]server.Attr, 0, len(h.attrs)+r.NumAttrs())
	attrs = append(attrs, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, server.Attr{Key: a.Key, Value: a.Value.String()})
		return true
	})
	level := server.LevelDebug
	switch {
	case r.Level >= slog.LevelError:
		level = server.LevelError
	case r.Level >= slog.LevelWarn:
		level = server.LevelWarn
	case r.Level >= slog.LevelInfo:
		level = server.LevelInfo
	}
	h.log.Log(level, r.Message, attrs...)
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	all := append([]server.Attr(nil), h.attrs...)
	for _, a := range attrs {
		all = append(all, server.Attr{Key: a.Key, Value: a.Value.String()})
	}
	return &logHandler{log: h.log, attrs: all}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
