package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
)

// Background mounts. mount(8) runs `mount -t fuse.torrentfs SOURCE MOUNTPOINT -o OPTIONS`
// (and the matching /etc/fstab line) through fuse3's helper, mount.fuse3, which runs
// `torrentfs SOURCE MOUNTPOINT -o rw,…,dev,suid` with a PATH of /usr/local/sbin,
// /usr/local/bin, /usr/sbin, /usr/bin, /sbin and /bin, and expects it to return once the
// file system is mounted. So torrentfs called with a source and a mount point instead of a
// command (or called as mount.fuse.torrentfs, should someone link it so) starts
// `torrentfs mount ARGS` in a new session with stdin and stdout on /dev/null and waits:
//
//   - The child tells it that the kernel serves the mount through a pipe it inherits as the
//     file descriptor named by $TORRENTFS_READY_FD; the parent then exits 0 and the child
//     runs on as the daemon.
//   - Until then the child's stderr is the parent's, so an error (a bad torrent, a busy
//     mount point) is printed there as a foreground mount prints it, and the parent exits
//     with the child's status (1, or 2 for a usage error).
//   - Once ready the child leaves its working directory for / and points its stderr at the
//     --log-file, else at /dev/null: a background mount without --log-file logs nothing.
//
// umount MOUNTPOINT, fusermount3 -u or SIGTERM to the daemon unmount it and end it.

// readyFDEnv names the environment variable that gives a background mount's child the
// descriptor of its readiness pipe.
const readyFDEnv = "TORRENTFS_READY_FD"

// readyMsg is what the child writes to the readiness pipe once the mount is served.
const readyMsg = "ready\n"

// helperName is the name mount(8) would run for -t fuse.torrentfs without fuse3's helper.
const helperName = "mount.fuse.torrentfs"

// exitStatus is an error whose message has been printed already, by a background mount's
// child: the command exits with this status and prints nothing more.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// isBackgroundMount reports whether args, the command line without the program, ask for a
// background mount: a source and a mount point where a command would be (a first argument
// that names no command), or any arguments when the program is called as
// mount.fuse.torrentfs.
func isBackgroundMount(root *cobra.Command, args []string) bool {
	if filepath.Base(os.Args[0]) == helperName {
		return len(args) > 0
	}
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") ||
		args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd {
		return false
	}
	root.InitDefaultHelpCmd() // Execute adds help; Find must know it now
	c, _, err := root.Find(args[:1])
	return err == nil && c == root
}

// runBackground starts `torrentfs mount args` as a daemon and returns once it serves the
// mount, or with its exit status if it fails first. Cancelling ctx before then (Ctrl-C)
// stops the child.
func runBackground(ctx context.Context, args []string, stderr io.Writer) error {
	childArgs, fake := backgroundArgs(args)
	if fake {
		return nil
	}
	if len(childArgs) == 1 {
		return usagef("%s takes SOURCE MOUNTPOINT [-o OPTIONS]", helperName)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the torrentfs program to start the mount: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, childArgs...)
	cmd.Env = append(os.Environ(), readyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = detachedProcess()
	// The child's stderr is ours until it is ready. Given a file (the process's stderr),
	// the child gets it as is, and a terminal stays a terminal; otherwise a pipe we copy,
	// which the child closes before it says it is ready.
	var copied sync.WaitGroup
	var pipeEnd *os.File // the write end of that pipe, which the child gets
	if f, ok := stderr.(*os.File); ok {
		cmd.Stderr = f
	} else {
		er, ew, err := os.Pipe()
		if err != nil {
			r.Close()
			w.Close()
			return err
		}
		cmd.Stderr, pipeEnd = ew, ew
		copied.Go(func() {
			defer er.Close()
			io.Copy(stderr, er)
		})
	}
	err = cmd.Start()
	w.Close()
	if pipeEnd != nil {
		pipeEnd.Close() // the child has its own copy
	}
	if err != nil {
		r.Close()
		copied.Wait()
		return err
	}
	readyc := make(chan bool, 1)
	go func() { // ends when the child writes and closes the pipe, or exits
		defer r.Close()
		b, _ := io.ReadAll(r)
		readyc <- string(b) == readyMsg
	}()
	var ready bool
	select {
	case ready = <-readyc:
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGTERM)
		ready = <-readyc
	}
	if ready && ctx.Err() == nil {
		copied.Wait() // the child closed its stderr before it said so
		return cmd.Process.Release()
	}
	cmd.Wait()
	copied.Wait()
	switch code := cmd.ProcessState.ExitCode(); {
	case ctx.Err() != nil:
		return errors.New("interrupted before the mount was ready")
	case code <= 0:
		return fmt.Errorf("the mount process ended before mounting (%v)", cmd.ProcessState)
	default:
		return exitStatus(code)
	}
}

// backgroundArgs returns the command line of a background mount's child, `mount` and args
// with local paths made absolute, less mount(8)'s options for its helpers; fake says that
// mount(8) asked for everything but the mount (-f).
func backgroundArgs(args []string) (childArgs []string, fake bool) {
	childArgs = []string{"mount"}
	leading := true // the source and mount point come first
	for _, a := range args {
		switch a {
		case "-s", "-n", "-v": // mount(8)'s sloppy, no-mtab and verbose, for its helpers
			continue
		case "-f": // mount(8)'s fake: do everything but the mount
			return nil, true
		}
		if leading && !strings.HasPrefix(a, "-") {
			// The daemon leaves its working directory: a local source or mount point
			// must not depend on it. Magnet links and info-hashes name no file.
			if _, err := os.Stat(a); err == nil {
				if abs, err := filepath.Abs(a); err == nil {
					a = abs
				}
			}
		} else {
			leading = false
		}
		childArgs = append(childArgs, a)
	}
	return childArgs, false
}

// daemonReady tells a waiting parent, if this process is a background mount's child, that
// the mount is served: the child detaches its stderr (to the log file or /dev/null) and
// its working directory first.
func daemonReady(log *logSink) error {
	v, ok := os.LookupEnv(readyFDEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(readyFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("bad $%s %q", readyFDEnv, v)
	}
	pipe := os.NewFile(uintptr(fd), "readiness pipe")
	defer pipe.Close()
	var errs []error
	to := log.file
	if to == nil {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer null.Close()
		to = null
	}
	if err := redirectStderr(to); err != nil {
		errs = append(errs, fmt.Errorf("stderr: %w", err))
	}
	if err := os.Chdir("/"); err != nil {
		errs = append(errs, err)
	}
	if _, err := io.WriteString(pipe, readyMsg); err != nil {
		errs = append(errs, fmt.Errorf("telling the parent: %w", err))
	}
	return errors.Join(errs...)
}
