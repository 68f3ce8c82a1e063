package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/fetch"
)

// serve is mount without a mount point: the same library, cache, seeding and control
// socket, served over HTTP (the status page, /files/, /dav/, /metrics) alone, so it runs
// where FUSE does not (a container without /dev/fuse, macOS, Windows).
//
// A serve instance has a name (--name, "default" unless given) in place of a mount point.
// Its control socket is serve-NAME.sock in the user's runtime directory, and add, remove,
// ls and status name it as @NAME where they take a mount point.

// defaultServeName is the name of a serve instance without --name.
const defaultServeName = "default"

// serveNameRE is what a serve instance's name may be: it is part of a socket's file name.
var serveNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// serveSocketPrefix starts the file name of a serve instance's control socket.
const serveSocketPrefix = "serve-"

// serveRef is how the commands name the serve instance called name: @name.
func serveRef(name string) string { return "@" + name }

// serveSocket returns the control socket of the serve instance named by ref (@NAME), and
// false if ref does not name one.
func serveSocket(ref string) (string, bool) {
	name, ok := strings.CutPrefix(ref, "@")
	if !ok {
		return "", false
	}
	return controlSocket(serveSocketPrefix + name), true
}

func newServeCmd() *cobra.Command {
	f := mountFlags{readahead: sizeFlag(fetch.DefaultReadahead), readTimeout: durationFlag(fetch.DefaultReadTimeout)}
	var name string
	c := &cobra.Command{
		Use:   "serve [flags] SOURCE...",
		Short: "Serve torrents over HTTP and WebDAV, without FUSE; Ctrl-C stops",
		Long: `Serve each SOURCE as mount does, but with no mount point and no FUSE: over HTTP
at --http, which is required. The status page is at /, the files at /files/ and, read-only
over WebDAV, at /dav/ (Finder's "Connect to Server", Windows' "Map network drive", rclone,
VLC, Kodi, Infuse), Prometheus metrics at /metrics. SOURCEs are as for mount.

The instance is called --name NAME ("default" unless given); 'torrentfs add @NAME',
'remove @NAME', 'ls @NAME' and 'status @NAME' change and list it. It runs in the
foreground until Ctrl-C or SIGTERM.`,
		Example: `  torrentfs serve --http 8080 file.torrent
  torrentfs serve --http 0.0.0.0:8080 --http-auth-file ~/.torrentfs-auth ~/torrents/
  torrentfs add @default 'magnet:?xt=urn:btih:...'`,
		Args: nArgs(1, -1),
		RunE: func(c *cobra.Command, args []string) error {
			if f.http.addr == "" {
				return usagef("serve needs --http ADDRESS: HTTP and WebDAV are its only interface")
			}
			if !serveNameRE.MatchString(name) {
				return usagef("--name %q: want up to 64 letters, digits, dots, dashes or underscores", name)
			}
			return runMount(c.Context(), &f, args, "", name, c.ErrOrStderr())
		},
	}
	f.register(c)
	c.Flags().StringVar(&name, "name", defaultServeName, "`name` of this instance, by which add, remove, ls and status reach it as @name")
	return c
}

// listenServeControl listens on the control socket of the serve instance called name. A
// socket left by an instance that was killed is replaced; one that answers is another
// instance's, and an error.
func listenServeControl(name string) (net.Listener, error) {
	path, _ := serveSocket(serveRef(name))
	l, err := listenControl(serveSocketPrefix + name)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return l, err
	}
	if c, derr := net.Dial("unix", path); derr == nil {
		c.Close()
		return nil, fmt.Errorf("a torrentfs serve called %q is running already (%s): give another --name", name, path)
	}
	if err := os.Remove(path); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return listenControl(serveSocketPrefix + name)
}

// ourServes lists, as @NAME, the serve instances of this user that answer on their control
// sockets.
func ourServes() []string {
	socks, _ := filepath.Glob(filepath.Join(runtimeDir(), serveSocketPrefix+"*.sock"))
	var r []string
	for _, s := range socks {
		c, err := net.Dial("unix", s)
		if err != nil {
			continue // left by an instance that was killed
		}
		c.Close()
		r = append(r, serveRef(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(s), serveSocketPrefix), ".sock")))
	}
	return r
}
