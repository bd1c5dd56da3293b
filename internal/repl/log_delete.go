package repl

import "github.com/cockroachdb/pebble/v2"

// Delete removes everything the group saved (hard state, entries,
// snapshot, metadata), durably. The group's Node must be stopped.
func (l *Log) Delete() error {
	if l.d.db == nil {
		return nil
	}
	start := l.key('g', 0)[:9] // 'g' group(8)
	end := make([]byte, 9)
	copy(end, start)
	// The next group's prefix; past the last group, 'h' ends them all.
	for i := 8; ; i-- {
		if i == 0 {
			end = []byte{'h'}
			break
		}
		end[i]++
		if end[i] != 0 {
			break
		}
	}
	return l.d.db.DeleteRange(start, end, pebble.Sync)
}
