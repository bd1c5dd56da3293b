package daemon

import "syscall"

// systemMemory returns the total memory of the machine in bytes, or 0.
func systemMemory() int64 {
	var info syscall.Sysinfo_t
	if err := syscall.Sysinfo(&info); err != nil {
		return 0
	}
	return int64(info.Totalram) * int64(info.Unit)
}

// diskAvailable returns the bytes available to this user on the file
// system holding dir, or 0.
func diskAvailable(dir string) int64 {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0
	}
	return int64(fs.Bavail) * fs.Bsize
}
