package server

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Logger writes lines in nats-server's format:
//
//	[1234] 2026/11/25 20:53:06.123456 [INF] Listening for client connections on 127.0.0.1:4222
//
// It is safe for concurrent use; SetLevels changes the levels of a
// logger in use (a configuration reload).
type Logger struct {
	mu           sync.Mutex
	out          io.Writer
	pid          int
	debug, trace atomic.Bool
}

// NewLogger returns a logger writing to out (standard error when nil).
// debug enables [DBG] lines and trace the protocol [TRC] lines.
func NewLogger(out io.Writer, debug, trace bool) *Logger {
	if out == nil {
		out = os.Stderr
	}
	l := &Logger{out: out, pid: os.Getpid()}
	l.SetLevels(debug, trace)
	return l
}

// SetLevels turns [DBG] and [TRC] lines on or off.
func (l *Logger) SetLevels(debug, trace bool) {
	l.debug.Store(debug)
	l.trace.Store(trace)
}

func (l *Logger) logf(level, format string, args ...any) {
	line := fmt.Sprintf("[%d] %s [%s] %s\n", l.pid, time.Now().Format("2006/01/02 15:04:05.000000"), level, fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.out, line)
}

// Noticef logs an informational line.
func (l *Logger) Noticef(format string, args ...any) { l.logf("INF", format, args...) }

// Warnf logs a warning.
func (l *Logger) Warnf(format string, args ...any) { l.logf("WRN", format, args...) }

// Errorf logs an error.
func (l *Logger) Errorf(format string, args ...any) { l.logf("ERR", format, args...) }

// Debugf logs when debug logging is on.
func (l *Logger) Debugf(format string, args ...any) {
	if l.debug.Load() {
		l.logf("DBG", format, args...)
	}
}

// Tracef logs when protocol tracing is on.
func (l *Logger) Tracef(format string, args ...any) {
	if l.trace.Load() {
		l.logf("TRC", format, args...)
	}
}

// Debugging reports whether debug lines are written.
func (l *Logger) Debugging() bool { return l.debug.Load() }

// Tracing reports whether trace lines are written, so callers can skip
// building them.
func (l *Logger) Tracing() bool { return l.trace.Load() }
