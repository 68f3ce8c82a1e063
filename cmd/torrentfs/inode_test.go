package main

import (
	"encoding/xml"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/torrentfs/torrentfs/fetch/fetchtest"
)

// inodes returns the inode number of every file and directory under mnt, the root
// included ("."), by path, as stat(2) shows them, and fails t if two are equal.
func inodes(t *testing.T, mnt string) map[string]uint64 {
	t.Helper()
	r := make(map[string]uint64)
	seen := make(map[uint64]string)
	err := filepath.WalkDir(mnt, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		if o, ok := seen[st.Ino]; ok {
			t.Errorf("%s and %s have the same inode number %d", o, rel, st.Ino)
		}
		seen[st.Ino] = rel
		r[rel] = st.Ino
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// davETag returns the getetag of the PROPFIND Depth 0 of target.
func davETag(t *testing.T, base, target string) string {
	t.Helper()
	code, body := rawStatus(t, base, "PROPFIND", target, "Depth", "0")
	var ms struct {
		ETags []string `xml:"response>propstat>prop>getetag"`
	}
	if err := xml.Unmarshal([]byte(body), &ms); code != 207 || err != nil || len(ms.ETags) != 1 {
		t.Fatalf("PROPFIND %s: %d, %v:\n%s", target, code, err, body)
	}
	return ms.ETags[0]
}

// TestInodesLast mounts three torrents (two directories, one holding a directory of the
// same name as the other's, and a single file), then mounts them again in a new process
// named in the other order with a new cache, then adds them one by one to a running
// mount in a third order: stat shows the same inode number for every file and directory
// each time, and again after a remove and add. A torrent's files are numbered in its
// order, as cp -r reads them. A file's ETag over WebDAV (GET and PROPFIND) and /files/ is
// its inode number.
func TestInodesLast(t *testing.T) {
	alpha, addrA, _ := multiSwarm(t, "alpha", map[string][]byte{
		"x/1.bin": fetchtest.Payload(70<<10, 1), "x/2.bin": fetchtest.Payload(10, 2),
		"x/y/3.bin": fetchtest.Payload(5, 3), "top.txt": []byte("top\n"),
	})
	beta, addrB, _ := multiSwarm(t, "beta", map[string][]byte{
		"x/1.bin": fetchtest.Payload(70<<10, 4), "z/z/z.bin": fetchtest.Payload(3, 5),
	})
	gamma, gammaData, addrG := swarm(t, "gamma.bin", 100<<10+7)
	peers := []string{"--peer", addrA, "--peer", addrB, "--peer", addrG}

	mountOf := func(http bool, sources ...string) (*proc, string, string) {
		t.Helper()
		mnt := t.TempDir()
		args := append([]string{"mount", "--cache-dir", t.TempDir()}, peers...)
		base := ""
		if http {
			hp := freePort(t)
			args = append(args, "--http", fmt.Sprintf("127.0.0.1:%d", hp))
			base = fmt.Sprintf("http://127.0.0.1:%d", hp)
		}
		p := start(t, nil, append(append(args, append(sources, mnt)...), loopback...)...)
		p.waitReady(t)
		return p, mnt, base
	}
	stop := func(p *proc) {
		t.Helper()
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Fatalf("mount: exit %d:\n%s", code, p.output())
		}
	}

	p, mnt, _ := mountOf(false, alpha, beta, gamma)
	first := inodes(t, mnt)
	for _, p := range []string{".", "alpha", "alpha/x", "alpha/x/y", "alpha/x/y/3.bin", "beta/x", "beta/x/1.bin", "gamma.bin"} {
		if _, ok := first[p]; !ok {
			t.Fatalf("no %s in the mount: %v", p, first)
		}
	}
	if first["."] != 1 {
		t.Errorf("the root's inode number is %d, want 1", first["."])
	}
	// In the torrent's order, as cp -r reads a directory (by inode number).
	for _, tor := range []string{alpha, beta} {
		_, info := loadTorrent(t, tor)
		var order []uint64
		for _, f := range info.UpvertedFiles() {
			order = append(order, first[filepath.Join(append([]string{info.Name}, f.Path...)...)])
		}
		if !slices.IsSorted(order) || order[0] <= first[info.Name] {
			t.Errorf("%s: files' inode numbers out of the torrent's order: %d (its directory %d)", info.Name, order, first[info.Name])
		}
	}
	stop(p)

	p, mnt, base := mountOf(true, gamma, beta, alpha)
	if second := inodes(t, mnt); !maps.Equal(first, second) {
		t.Errorf("named in the other order, in a new process:\n%v\nfirst:\n%v", second, first)
	}
	// WebDAV and /files/: the ETag of a file and of a torrent's directory is its number.
	for _, path := range []string{"alpha/x/1.bin", "beta/x/1.bin", "gamma.bin"} {
		want := `"` + strconv.FormatUint(first[path], 10) + `"`
		if got := davETag(t, base, "/dav/"+path); got != want {
			t.Errorf("PROPFIND %s: getetag %s, inode number %s", path, got, want)
		}
		if resp, _ := get(t, base+"/dav/"+path, "Range", "bytes=0-0"); resp.StatusCode != 206 || resp.Header.Get("ETag") != want {
			t.Errorf("GET /dav/%s: %s, ETag %s, inode number %s", path, resp.Status, resp.Header.Get("ETag"), want)
		}
		if resp, _ := get(t, base+"/files/"+path, "Range", "bytes=0-0"); resp.StatusCode != 206 || resp.Header.Get("ETag") != want {
			t.Errorf("GET /files/%s: %s, ETag %s, inode number %s", path, resp.Status, resp.Header.Get("ETag"), want)
		}
	}
	if resp, b := get(t, base+"/files/gamma.bin"); resp.StatusCode != 200 || string(b) != string(gammaData) {
		t.Errorf("GET /files/gamma.bin: %s, %d bytes", resp.Status, len(b))
	}
	stop(p)

	// Added to a running mount, one at a time, in a third order.
	p, mnt, _ = mountOf(false, beta)
	for _, tor := range []string{gamma, alpha} {
		if code, out, errOut := torrentfs(t, nil, "add", mnt, tor); code != 0 {
			t.Fatalf("add %s: exit %d, %q %q", tor, code, out, errOut)
		}
	}
	if third := inodes(t, mnt); !maps.Equal(first, third) {
		t.Errorf("added one at a time:\n%v\nfirst:\n%v", third, first)
	}
	// Removed and added again, its nodes perhaps still in the kernel's memory.
	if code, out, errOut := torrentfs(t, nil, "remove", mnt, "alpha"); code != 0 {
		t.Fatalf("remove alpha: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := torrentfs(t, nil, "add", mnt, alpha); code != 0 {
		t.Fatalf("add alpha again: exit %d, %q %q", code, out, errOut)
	}
	if again := inodes(t, mnt); !maps.Equal(first, again) {
		t.Errorf("removed and added again:\n%v\nfirst:\n%v", again, first)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "alpha", "top.txt")); err != nil || string(b) != "top\n" {
		t.Errorf("alpha/top.txt added again: %q, %v", b, err)
	}
	stop(p)
}
