package cache

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The cache trusts what it finds in its directory: a database's pieces marked complete are
// served, its records are read back. So nothing in it may be someone else's: the directory
// is its user's and nobody else can write in it (CheckDir), each torrent's directory is
// checked before its database is opened (checkTorrentDir), and the files the cache reads and
// writes by name are opened without following a symlink (ReadRecord, WriteRecord).

// ModeError is the error of a cache directory that its group or other users may write in:
// they could plant a torrent's database, or a symlink where the cache writes.
type ModeError struct {
	Dir  string
	Mode fs.FileMode // the directory's permission bits
}

func (e *ModeError) Error() string {
	return fmt.Sprintf("cache dir %s is writable by other users (mode %04o)", e.Dir, uint32(e.Mode.Perm()))
}

// PlantedError is the error of a path in the cache directory that the cache did not make: a
// torrent's directory that is a symlink, not a directory, or another user's; or a record
// file that is a symlink. The cache neither follows nor trusts it.
type PlantedError struct {
	Path string
	What string // what is wrong with it: "is a symlink", "belongs to uid 65534", …
}

func (e *PlantedError) Error() string {
	return fmt.Sprintf("%s %s, which the cache never makes: remove it", e.Path, e.What)
}

// CheckDir returns an *OwnerError if the directory dir, symlinks followed, belongs to
// another user than the process's, a *ModeError if its group or others may write in it, a
// *PlantedError if dir is a symlink another user (not root) made, and the error of os.Stat
// if it cannot be found. systemd's CacheDirectory= (mode 0755 unless CacheDirectoryMode=
// says otherwise) passes, and so does a user's own link to a cache on another disk; a link
// planted in /tmp that points root's cache at a directory of root's, such as /etc, does not.
func CheckDir(dir string) error {
	if !ownerChecks {
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("cache dir: %w", err)
		}
		return nil
	}
	if lst, err := os.Lstat(dir); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		if uid, ok := ownerOf(lst); !ok || (uid != os.Geteuid() && uid != 0) {
			return &PlantedError{Path: dir, What: "is a symlink of another user's"}
		}
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cache dir: %w", err)
	}
	owner, ok := ownerOf(st)
	if !ok {
		return fmt.Errorf("cache dir %s: no owner to check", dir)
	}
	if uid := os.Geteuid(); owner != uid {
		return &OwnerError{Dir: dir, Owner: owner, Uid: uid}
	}
	if st.Mode().Perm()&0o022 != 0 {
		return &ModeError{Dir: dir, Mode: st.Mode().Perm()}
	}
	return nil
}

// makeTorrentDir makes a torrent's directory in the cache directory, with mode 0700, unless
// it exists; either way it must then pass checkTorrentDir.
func makeTorrentDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("cache dir: %w", err)
	}
	return checkTorrentDir(dir)
}

// checkTorrentDir returns a *PlantedError unless dir, not followed if a symlink, is a
// directory of the process's user that nobody else may write in.
func checkTorrentDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("cache dir: %w", err)
	}
	owner, ok := ownerOf(st)
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return &PlantedError{Path: dir, What: "is a symlink"}
	case !st.IsDir():
		return &PlantedError{Path: dir, What: "is not a directory"}
	case !ownerChecks:
	case !ok:
		return fmt.Errorf("cache dir %s: no owner to check", dir)
	case owner != os.Geteuid():
		return &PlantedError{Path: dir, What: fmt.Sprintf("belongs to uid %d", owner)}
	case st.Mode().Perm()&0o022 != 0:
		return &PlantedError{Path: dir, What: fmt.Sprintf("is writable by other users (mode %04o)", uint32(st.Mode().Perm()))}
	}
	return nil
}

// maxRecord is the most ReadRecord reads: the records are small (a torrent's name and
// sizes, the names of a library's torrents).
const maxRecord = 16 << 20

// ErrRecordTooLarge is returned by ReadRecord for a file over its limit.
var ErrRecordTooLarge = errors.New("cache: record file too large")

// ReadRecord returns the contents of the file name in the cache directory dir, which the
// cache or its user wrote with WriteRecord: a symlink there is not followed (a
// *PlantedError), and a file over 16 MiB is not read (ErrRecordTooLarge). A file that does
// not exist is an error that matches fs.ErrNotExist.
func ReadRecord(dir, name string) ([]byte, error) {
	f, err := openNoFollow(filepath.Join(dir, name), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err == nil && len(b) > maxRecord {
		return nil, fmt.Errorf("%s: %w", f.Name(), ErrRecordTooLarge)
	}
	return b, err
}

// WriteRecord replaces the file name in the cache directory dir with data, atomically: it
// writes a new file of its own (O_EXCL, mode 0600) and renames it over name, so neither a
// symlink planted at name nor one at a temporary name is followed. Readers see the old
// contents or the new, whole.
func WriteRecord(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp") // O_EXCL: never through a symlink
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
