//go:build unix

package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ownedPrivate reports whether the directory st belongs to this user alone (mode 0700).
func ownedPrivate(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Getuid() && st.Mode().Perm()&0o077 == 0
}

// detachedProcess starts a child in a session of its own, out of the terminal's.
func detachedProcess() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// statusSignals ask a mount for its client's status on stderr.
var statusSignals = []os.Signal{syscall.SIGUSR1}

// termWidth is the width in columns of the terminal f, 0 if it cannot be told.
func termWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
