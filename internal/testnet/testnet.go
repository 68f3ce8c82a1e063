//go:build linux

// Package testnet keeps tests that start peers on the machine: run as root, a test binary
// runs again in a network namespace of its own, whose only interface is loopback, so
// nothing its tests or their child processes do can reach another host, and nothing
// outside can reach them. It changes nothing else: the mount namespace is shared, so FUSE
// mounts and unix sockets (which are named by path) work as before.
//
// Run as another user, where a namespace cannot be made, tests run as they always did.
//
// In the namespace, New makes a network of hosts for tests where one address for every
// client would hide behaviour (per-address limits, PEX, the DHT, shaped links): a bridge,
// and hosts on it, each a network namespace of its own with its own addresses and a link
// shaped with tc's tbf; Host.Command runs a program in a host, and Host.Counters says how
// many bytes it sent and received.
//
// It is for tests only and must not be imported by product code.
package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Env is set in the environment of a test binary that runs in the namespace, and so of
// every process it starts.
const Env = "TORRENTFS_TESTNET"

// Isolate is the first call of a TestMain. Run as root outside the namespace, it starts the
// test binary again, with the same arguments, environment and standard files, in a new
// network namespace, waits for it, and exits with its exit code: it does not return. In
// the namespace, it brings loopback up and returns; run as another user, it returns at
// once. An error (no namespace can be made, loopback stays down) ends the process with
// exit code 1 and a message: tests that start peers do not run with the network open.
func Isolate() {
	if err := isolate(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: testnet: %v\n", err)
		os.Exit(1)
	}
}

// Isolated reports whether this process runs in the namespace Isolate made.
func Isolated() bool { return os.Getenv(Env) != "" }

func isolate() error {
	if Isolated() {
		return loopbackUp()
	}
	if os.Geteuid() != 0 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), Env+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Pdeathsig is sent when the thread that started the child ends: keep this one.
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	// go test's own timeout sends SIGQUIT for a stack dump; Ctrl-C and SIGTERM stop the run.
	// The child gets them, and its exit code says what happened.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run the tests in a new network namespace: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			cmd.Process.Signal(sig)
		case err := <-done:
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					fmt.Fprintf(os.Stderr, "testnet: the test binary was killed by %v\n", ws.Signal())
					os.Exit(2)
				}
				os.Exit(ee.ExitCode())
			}
			if err != nil {
				return err
			}
			os.Exit(0)
		}
	}
}

// loopbackUp brings lo up, as `ip link set lo up` does, unless it is up already: a new
// namespace's loopback is down, and a test binary started by another user in the namespace
// could not change it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}
