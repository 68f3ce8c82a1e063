package cache

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// meta is what `cache ls` shows of a torrent even while a mount holds its database. It lives
// next to the database in metaFile; the file's mtime is when the torrent was last used.
type meta struct {
	Name        string `json:"name"`
	Length      int64  `json:"length"`
	PieceLength int64  `json:"piece_length"`
}

const metaFile = "torrent.json"

func writeMeta(dir string, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return WriteRecord(dir, metaFile, append(b, '\n'))
}

func readMeta(dir string) (meta, error) {
	var m meta
	b, err := ReadRecord(dir, metaFile)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// touchMeta marks the torrent in dir used now.
func touchMeta(dir string) {
	setTimes(filepath.Join(dir, metaFile), time.Now())
}

// lastUsed is when the torrent in dir was last opened or closed.
func lastUsed(dir string) time.Time {
	for _, p := range []string{filepath.Join(dir, metaFile), dir} {
		if st, err := os.Lstat(p); err == nil {
			return st.ModTime()
		}
	}
	return time.Time{}
}
