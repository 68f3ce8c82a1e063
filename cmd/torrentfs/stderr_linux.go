package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// redirectStderr makes f the process's standard error (fd 2).
func redirectStderr(f *os.File) error { return unix.Dup3(int(f.Fd()), 2, 0) }
