package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// redirectStderr makes f the process's standard error (fd 2). macOS has no dup3.
func redirectStderr(f *os.File) error { return unix.Dup2(int(f.Fd()), 2) }
