package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/cairn-db/cairn/internal/server"
)

// logHandler sends slog records (the store's and Pebble's) to the
// server's logger, so that all lines share one format and destination.
type logHandler struct {
	log   *server.Logger
	attrs string
}

func (h *logHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.log.Debugging()
}

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	switch {
	case r.Level >= slog.LevelError:
		h.log.Errorf("%s", b.String())
	case r.Level >= slog.LevelWarn:
		h.log.Warnf("%s", b.String())
	case r.Level >= slog.LevelInfo:
		h.log.Noticef("%s", b.String())
	default:
		h.log.Debugf("%s", b.String())
	}
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	return &logHandler{log: h.log, attrs: b.String()}
}

func (h *logHandler) WithGroup(string) slog.Handler { return h }
