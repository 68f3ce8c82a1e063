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
	tmp := filepath.Join(dir, metaFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, metaFile))
}

func readMeta(dir string) (meta, error) {
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

func touchMeta(dir string) {
	now := time.Now()
	os.Chtimes(filepath.Join(dir, metaFile), now, now)
}

// lastUsed is when the torrent in dir was last opened or closed.
func lastUsed(dir string) time.Time {
	for _, p := range []string{filepath.Join(dir, metaFile), dir} {
		if st, err := os.Stat(p); err == nil {
			return st.ModTime()
		}
	}
	return time.Time{}
}
