//go:build !linux

package daemon

// systemMemory is unknown here: the fallback limit applies.
func systemMemory() int64 { return 0 }

// diskAvailable is unknown here: the fallback limit applies.
func diskAvailable(string) int64 { return 0 }
