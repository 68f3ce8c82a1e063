package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/torrentfs/torrentfs/internal/human"
	"github.com/torrentfs/torrentfs/library"
	"github.com/torrentfs/torrentfs/status"
)

// A mount takes orders (add, remove, ls, status) on a unix socket in a directory only its
// user can enter, named by an ID the mount also shows as its source in mountinfo
// ("torrentfs:ID"): the commands find the socket from the mount point alone, whatever the
// cache directory's path, and the path stays short (a socket's is limited to 108 bytes).

// fsNamePrefix starts a torrentfs mount's source in /proc/self/mountinfo.
const fsNamePrefix = "torrentfs:"

// runtimeDir is the directory of the user's control sockets.
func runtimeDir() string {
	uid := os.Getuid()
	if uid == 0 {
		return "/run/torrentfs"
	}
	if st, err := os.Stat(fmt.Sprintf("/run/user/%d", uid)); err == nil && st.IsDir() {
		return fmt.Sprintf("/run/user/%d/torrentfs", uid)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("torrentfs-%d", uid))
}

func controlSocket(id string) string { return filepath.Join(runtimeDir(), id+".sock") }

// newMountID returns a new mount's ID.
func newMountID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// listenControl listens on the control socket of mount id, in a directory only this user
// can enter. The engine serves it; closing the listener removes the socket.
func listenControl(id string) (net.Listener, error) {
	dir := runtimeDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The directory must be ours alone: in /tmp, another user could have made it first.
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if !ownedPrivate(st) {
		return nil, fmt.Errorf("control socket: %s must belong to you with mode 0700", dir)
	}
	path := controlSocket(id)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	os.Chmod(path, 0o600)
	return l, nil
}

// mountID returns the ID of the torrentfs mount at dir, from /proc/self/mountinfo, and the
// uid of the user who mounted it, or -1 if mountinfo does not say.
func mountID(dir string) (string, int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", -1, err
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", -1, err
	}
	id, owner, ok := findMount(string(b), abs)
	if !ok {
		return "", -1, fmt.Errorf("%s is not a torrentfs mount", dir)
	}
	return id, owner, nil
}

// findMount returns the ID in the source of the torrentfs mount at dir in a mountinfo
// listing, and the uid of the user who mounted it (the user_id option of a FUSE mount), or
// -1 if there is none: the last mount at dir, as a later mount on the same point hides the
// earlier.
func findMount(mountinfo, dir string) (string, int, bool) {
	id, owner, found := "", -1, false
	for _, line := range strings.Split(mountinfo, "\n") {
		// ID parent major:minor root mountpoint options... - fstype source superoptions
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) || unescapeMountinfo(f[4]) != dir {
			continue
		}
		src := unescapeMountinfo(f[sep+2])
		id, owner, found = strings.TrimPrefix(src, fsNamePrefix), -1, strings.HasPrefix(src, fsNamePrefix)
		if sep+3 < len(f) {
			for _, o := range strings.Split(f[sep+3], ",") {
				if v, ok := strings.CutPrefix(o, "user_id="); ok {
					if n, err := strconv.Atoi(v); err == nil {
						owner = n
					}
				}
			}
		}
	}
	return id, owner, found
}

// torrentfsMounts lists the torrentfs mounts in a mountinfo listing, with their IDs.
func torrentfsMounts(mountinfo string) []struct{ dir, id string } {
	var r []struct{ dir, id string }
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		if src := unescapeMountinfo(f[sep+2]); strings.HasPrefix(src, fsNamePrefix) {
			r = append(r, struct{ dir, id string }{unescapeMountinfo(f[4]), strings.TrimPrefix(src, fsNamePrefix)})
		}
	}
	return r
}

// unescapeMountinfo undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// control is a client of a mount's control socket.
type control struct {
	mnt string
	hc  *http.Client
}

// dialControl returns a client of the mount at mnt, or of the serve instance mnt names as
// @NAME (serve.go).
func dialControl(mnt string) (*control, error) {
	path, ok := serveSocket(mnt)
	if ok {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s: no torrentfs serve of yours is called %s (no %s)", mnt, strings.TrimPrefix(mnt, "@"), path)
		}
	} else {
		id, owner, err := mountID(mnt)
		if err != nil {
			return nil, err
		}
		// A mount's socket is in its user's runtime directory, which no one else can enter.
		if owner >= 0 && owner != os.Getuid() {
			return nil, fmt.Errorf("%s is another user's mount (uid %d): only they can ask it", mnt, owner)
		}
		path = controlSocket(id)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%s: the torrentfs serving it does not answer (no %s: mounted by another user?)", mnt, path)
		}
	}
	return &control{mnt: mnt, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}, nil
}

// do sends a request and decodes a JSON answer into v, if v is not nil.
func (c *control) do(ctx context.Context, method, path string, body any, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://torrentfs"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: the torrentfs serving it does not answer: %w", c.mnt, err)
	}
	defer resp.Body.Close()
	if v == nil {
		return nil
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusNotFound {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s: %s", c.mnt, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		// A mount started by an older torrentfs, which answered /status in plain text.
		return fmt.Errorf("%s: cannot read its answer (is it served by another version of torrentfs? remount it): %w", c.mnt, err)
	}
	return nil
}

// errReported is returned by a command that has printed its errors itself: it exits 1
// without another line.
var errReported = errors.New("failed")

func newAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add MOUNTPOINT|@NAME SOURCE...",
		Short: "Add torrents to a running mount",
		Long: `Add each SOURCE to the mount at MOUNTPOINT: a .torrent file, a magnet link, an
info-hash whose metadata is in the cache, an http(s) URL of a .torrent, or a directory
to watch. Each appears as one entry at the mount's root. @NAME names a 'torrentfs serve'
instance instead of a mount.`,
		Example: `  torrentfs add /mnt/x movie.torrent 'magnet:?xt=urn:btih:...'`,
		Args:    nArgs(2, -1),
		RunE: func(c *cobra.Command, args []string) error {
			ctl, err := dialControl(args[0])
			if err != nil {
				return err
			}
			var sources []string
			for _, s := range args[1:] {
				if _, err := os.Stat(s); err == nil { // the mount runs elsewhere: absolute paths
					s, _ = filepath.Abs(s)
				}
				sources = append(sources, s)
			}
			var res []status.Result
			if err := ctl.do(c.Context(), http.MethodPost, "/torrents", status.AddRequest{Sources: sources}, &res); err != nil {
				return err
			}
			return report(c.OutOrStdout(), c.ErrOrStderr(), "added", res)
		},
	}
}

func newRemoveCmd() *cobra.Command {
	var purge bool
	c := &cobra.Command{
		Use:   "remove [--purge] MOUNTPOINT|@NAME NAME|INFOHASH...",
		Short: "Remove torrents from a running mount",
		Long: `Remove torrents, by entry name or info-hash, from the mount at MOUNTPOINT. Files
already open keep reading until closed. Their cached pieces stay, for the cache's cap to
reclaim, unless --purge. @NAME names a 'torrentfs serve' instance instead of a mount.`,
		Args: nArgs(2, -1),
		RunE: func(c *cobra.Command, args []string) error {
			ctl, err := dialControl(args[0])
			if err != nil {
				return err
			}
			var res []status.Result
			for _, key := range args[1:] {
				q := url.Values{"key": {key}}
				if purge {
					q.Set("purge", "1")
				}
				var r status.Result
				if err := ctl.do(c.Context(), http.MethodDelete, "/torrents?"+q.Encode(), nil, &r); err != nil {
					return err
				}
				res = append(res, r)
			}
			return report(c.OutOrStdout(), c.ErrOrStderr(), "removed", res)
		},
	}
	c.Flags().BoolVar(&purge, "purge", false, "also delete their cached pieces")
	return c
}

// report prints what became of each source or key, and fails if any did.
func report(stdout, stderr io.Writer, did string, res []status.Result) error {
	failed := false
	for _, r := range res {
		if r.Error != "" {
			fmt.Fprintf(stderr, "torrentfs: %s\n", human.Text(r.Error))
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", did, human.Text(r.Source))
	}
	if failed {
		return errReported
	}
	return nil
}

func newLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls MOUNTPOINT|@NAME",
		Short: "List the torrents of a running mount or serve instance (@NAME)",
		Args:  nArgs(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			ctl, err := dialControl(args[0])
			if err != nil {
				return err
			}
			var list []library.Info
			if err := ctl.do(c.Context(), http.MethodGet, "/torrents", nil, &list); err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSIZE\tCACHED\tINFOHASH")
			for _, i := range list {
				if i.Name == "" {
					fmt.Fprintf(w, "(awaiting metadata: %s)\t\t\t%s\n", human.Text(i.Source), i.InfoHash)
					continue
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", human.Text(i.Name), human.Bytes(i.Length), status.Percent(i.Cached, i.Length), i.InfoHash)
			}
			return w.Flush()
		},
	}
}
