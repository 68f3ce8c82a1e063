package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/windows"
)

// ownedPrivate is true: Windows has ACLs rather than owners and modes, and the directory is
// under the user's own %TEMP%.
func ownedPrivate(os.FileInfo) bool { return true }

// detachedProcess starts a child without a console of its own.
func detachedProcess() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS}
}

// statusSignals: Windows has no SIGUSR1; torrentfs status reads the same through the
// control socket.
var statusSignals []os.Signal

// termWidth is the width in columns of the console f, 0 if it cannot be told.
func termWidth(f *os.File) int {
	var info windows.ConsoleScreenBufferInfo
	if err := windows.GetConsoleScreenBufferInfo(windows.Handle(f.Fd()), &info); err != nil {
		return 0
	}
	return int(info.Window.Right-info.Window.Left) + 1
}

// redirectStderr makes f the process's standard error.
func redirectStderr(f *os.File) error {
	return windows.SetStdHandle(windows.STD_ERROR_HANDLE, windows.Handle(f.Fd()))
}
