package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A log file rotated by size, as nats-server's (log_size_limit,
// log_max_num): once a line takes the file past the limit, the file is
// renamed to "<file>.<YYYY.MM.DD.hh.mm.ss.nnnnnnnnn>" (local time, so
// backups sort by name in the order they were made), a new file is
// opened with a first line naming the backup, and, with a maximum
// number of files, the oldest backups beyond it are removed.

// logFile is the open log file. Its fields are guarded by the Logger's
// mu.
type logFile struct {
	path     string
	f        *os.File
	size     int64 // bytes in the file
	limit    int64 // rotate past this many bytes; 0: never
	maxFiles int   // files kept, the current one included; 0: all
}

// logFilePerm is the mode of a new log file (nats-server's).
const logFilePerm = 0o640

// backupStamp is the time suffix of a rotated file.
const backupStamp = "2006.01.02.15.04.05.000000000"

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logFilePerm)
	if err != nil {
		return nil, fmt.Errorf("server: cannot open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("server: cannot open log file: %w", err)
	}
	return &logFile{path: path, f: f, size: st.Size()}, nil
}

func (lf *logFile) write(line []byte) {
	n, _ := lf.f.Write(line)
	lf.size += int64(n)
}

// rotateIfFullLocked rotates the file when it is past its limit. When
// the new file cannot be opened, lines go to stderr from then on, with
// an error saying why.
func (l *Logger) rotateIfFullLocked() {
	lf := l.mu.file
	if lf == nil || lf.limit <= 0 || lf.size <= lf.limit {
		return
	}
	now := time.Now()
	backup := lf.path + "." + now.Format(backupStamp)
	_ = lf.f.Close()
	renameErr := os.Rename(lf.path, backup)
	nf, err := openLogFile(lf.path)
	if err != nil {
		l.mu.file = nil
		_, _ = l.mu.stderr.Write(l.formatLocked(now, "ERR", fmt.Sprintf("Unable to reopen the log file %q after rotation, logging to standard error: %v", lf.path, err)))
		return
	}
	nf.limit, nf.maxFiles = lf.limit, lf.maxFiles
	l.mu.file = nf
	if renameErr != nil {
		// The same file again: try once it has doubled, not on every
		// line.
		nf.limit = 2 * lf.size
		nf.write(l.formatLocked(now, "ERR", fmt.Sprintf("Unable to rotate the log file (%v), will attempt next rotation at size %d", renameErr, nf.limit)))
		return
	}
	nf.write(l.formatLocked(now, "INF", fmt.Sprintf("Rotated log, backup saved as %q", backup)))
	if nf.maxFiles > 0 {
		l.purgeBackupsLocked(nf)
	}
}

// purgeBackupsLocked removes the oldest backups of lf beyond its
// maximum number of files, logging each.
func (l *Logger) purgeBackupsLocked(lf *logFile) {
	backups, err := logBackups(lf.path)
	if err != nil {
		lf.write(l.formatLocked(time.Now(), "ERR", fmt.Sprintf("Unable to read the log directory for purging (%v), will attempt next rotation", err)))
		return
	}
	for i := 0; i < len(backups)-(lf.maxFiles-1); i++ {
		level, msg := "INF", fmt.Sprintf("Purged log file %q", backups[i])
		if err := os.Remove(backups[i]); err != nil {
			level, msg = "ERR", fmt.Sprintf("Unable to remove backup log file %q (%v), will attempt next rotation", backups[i], err)
		}
		lf.write(l.formatLocked(time.Now(), level, msg))
	}
}

// logBackups returns the paths of path's rotated files, oldest first.
func logBackups(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries { // sorted by name, so by time
		stamp, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || e.IsDir() || len(stamp) != len(backupStamp) {
			continue
		}
		if _, err := time.Parse(backupStamp, stamp); err == nil {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
