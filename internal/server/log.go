package server

import (
	"encoding/json"
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
// or, with LogConfig.JSON, one JSON object per line for log shippers:
//
//	{"time":"2026-11-25T20:53:06.123456Z","level":"info","msg":"Listening for client connections on 127.0.0.1:4222","pid":1234}
//
// to standard error or to a file that is rotated when it grows past a
// size limit (log_file.go). It is safe for concurrent use; SetLevels and
// Configure change a logger in use (a configuration reload), Reopen
// reopens its file (SIGUSR1, after an external logrotate).
type Logger struct {
	pid          int
	debug, trace atomic.Bool

	mu struct {
		sync.Mutex
		// stderr is where lines go without a file, and where they go
		// when the file cannot be reopened after a rotation.
		stderr io.Writer
		file   *logFile // nil: lines go to stderr
		cfg    LogConfig
	}
}

// LogConfig is how a Logger writes. The zero value writes nats-server's
// text lines with the local time to standard error.
type LogConfig struct {
	// Debug enables [DBG] lines, Trace the protocol [TRC] lines.
	Debug, Trace bool
	// NoTime leaves the time out (nats-server's logtime: false); UTC
	// writes it in UTC (logtime_utc).
	NoTime, UTC bool
	// JSON writes one JSON object per line (Cairn's log_format: json).
	JSON bool
	// File is the log file (log_file, -l); empty: standard error.
	File string
	// SizeLimit rotates File once it holds more bytes (log_size_limit;
	// 0: never); MaxFiles is the most files kept, the current one
	// included (log_max_num; 0: all).
	SizeLimit int64
	MaxFiles  int
}

// NewLogger returns a logger writing text lines with the time to out
// (standard error when nil). debug enables [DBG] lines and trace the
// protocol [TRC] lines.
func NewLogger(out io.Writer, debug, trace bool) *Logger {
	if out == nil {
		out = os.Stderr
	}
	l := &Logger{pid: os.Getpid()}
	l.mu.stderr = out
	l.SetLevels(debug, trace)
	return l
}

// OpenLogger returns a logger configured by cfg, writing to its file or,
// without one, to stderr (standard error when nil). The error is a file
// that cannot be opened. Close the logger to close its file.
func OpenLogger(cfg LogConfig, stderr io.Writer) (*Logger, error) {
	l := NewLogger(stderr, cfg.Debug, cfg.Trace)
	if err := l.Configure(cfg); err != nil {
		return nil, err
	}
	return l, nil
}

// Configure applies cfg to a logger in use: levels, format, file, size
// limit and number of files. A new file is opened before the old one is
// closed; when it cannot be, the error is returned and nothing changes.
func (l *Logger) Configure(cfg LogConfig) error {
	l.mu.Lock()
	var opened *logFile
	if cfg.File != "" && (l.mu.file == nil || l.mu.file.path != cfg.File) {
		f, err := openLogFile(cfg.File)
		if err != nil {
			l.mu.Unlock()
			return err
		}
		opened = f
	}
	var old *logFile
	switch {
	case opened != nil:
		old, l.mu.file = l.mu.file, opened
	case cfg.File == "":
		old, l.mu.file = l.mu.file, nil
	}
	l.mu.cfg = cfg
	if l.mu.file != nil {
		l.mu.file.limit, l.mu.file.maxFiles = cfg.SizeLimit, cfg.MaxFiles
		// As nats-server: a file already past a new limit is rotated
		// at once.
		l.rotateIfFullLocked()
	}
	l.mu.Unlock()
	l.SetLevels(cfg.Debug, cfg.Trace)
	if old != nil {
		_ = old.f.Close()
	}
	return nil
}

// Reopen closes and reopens the log file (nats-server's SIGUSR1 and
// --signal reopen), for rotation by an external tool that renamed it.
// Without a file it only logs that there is nothing to do.
func (l *Logger) Reopen() error {
	l.mu.Lock()
	if l.mu.file == nil {
		l.mu.Unlock()
		l.Noticef("File log re-open ignored, not a file logger")
		return nil
	}
	path := l.mu.file.path
	f, err := openLogFile(path)
	if err != nil {
		l.mu.Unlock()
		l.Errorf("File log re-open failed: %v", err)
		return err
	}
	old := l.mu.file
	f.limit, f.maxFiles = old.limit, old.maxFiles
	l.mu.file = f
	l.mu.Unlock()
	_ = old.f.Close()
	l.Noticef("File log re-opened")
	return nil
}

// Close closes the log file, if any; later lines go to stderr.
func (l *Logger) Close() error {
	l.mu.Lock()
	f := l.mu.file
	l.mu.file = nil
	l.mu.cfg.File = ""
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	return f.f.Close()
}

// SetLevels turns [DBG] and [TRC] lines on or off.
func (l *Logger) SetLevels(debug, trace bool) {
	l.debug.Store(debug)
	l.trace.Store(trace)
}

func (l *Logger) logf(level, format string, args ...any) {
	l.log(level, fmt.Sprintf(format, args...), nil)
}

func (l *Logger) log(level, msg string, attrs []Attr) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writeLocked(l.formatAttrsLocked(now, level, msg, attrs))
}

// Attr is a named value a line carries besides its message (the
// attributes of the store's slog records): in a JSON line a field of
// "attrs", in a text line " key=value" after the message.
type Attr struct {
	Key, Value string
}

// Level is the severity of a line written with Log.
type Level int

// Levels, lowest first.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

var levelLabels = [...]string{LevelTrace: "TRC", LevelDebug: "DBG", LevelInfo: "INF", LevelWarn: "WRN", LevelError: "ERR"}

// Log writes msg with attrs at level; debug and trace lines only when
// those are on. A level out of range is written as an error.
func (l *Logger) Log(level Level, msg string, attrs ...Attr) {
	switch {
	case level == LevelTrace && !l.trace.Load(), level == LevelDebug && !l.debug.Load():
		return
	case level < LevelTrace || level > LevelError:
		level = LevelError
	}
	l.log(levelLabels[level], msg, attrs)
}

// writeLocked writes one line to the file (rotating it when full) or to
// stderr.
func (l *Logger) writeLocked(line []byte) {
	if l.mu.file == nil {
		_, _ = l.mu.stderr.Write(line)
		return
	}
	l.mu.file.write(line)
	l.rotateIfFullLocked()
}

// formatLocked renders one line in the configured format.
func (l *Logger) formatLocked(now time.Time, level, msg string) []byte {
	return l.formatAttrsLocked(now, level, msg, nil)
}

func (l *Logger) formatAttrsLocked(now time.Time, level, msg string, attrs []Attr) []byte {
	cfg := &l.mu.cfg
	if cfg.UTC {
		now = now.UTC()
	}
	if cfg.JSON {
		type entry struct {
			Time  string            `json:"time,omitempty"`
			Level string            `json:"level"`
			Msg   string            `json:"msg"`
			Pid   int               `json:"pid"`
			Attrs map[string]string `json:"attrs,omitempty"`
		}
		e := entry{Level: jsonLevels[level], Msg: msg, Pid: l.pid}
		if len(attrs) > 0 {
			e.Attrs = make(map[string]string, len(attrs))
			for _, a := range attrs {
				e.Attrs[a.Key] = a.Value
			}
		}
		if !cfg.NoTime {
			e.Time = now.Format("2006-01-02T15:04:05.000000Z07:00")
		}
		b, _ := json.Marshal(e) // strings and an int: cannot fail
		return append(b, '\n')
	}
	b := make([]byte, 0, 48+len(msg))
	b = append(b, '[')
	b = fmt.Append(b, l.pid)
	b = append(b, "] "...)
	if !cfg.NoTime {
		b = now.AppendFormat(b, "2006/01/02 15:04:05.000000 ")
	}
	b = append(b, '[')
	b = append(b, level...)
	b = append(b, "] "...)
	b = append(b, msg...)
	for _, a := range attrs {
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		b = append(b, a.Value...)
	}
	return append(b, '\n')
}

// jsonLevels names the levels in JSON lines.
var jsonLevels = map[string]string{
	"INF": "info", "WRN": "warn", "ERR": "error", "DBG": "debug", "TRC": "trace",
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
