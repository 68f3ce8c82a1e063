// Package thirdparty holds no code: its test runs regen.sh, which makes the patched copies
// of upstream packages in this directory.
package thirdparty

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegenVersions: regen.sh, checking or regenerating, refuses to go on when go.mod
// requires another version of a copied module than the one its copy is made from, and says
// which; with go.mod's versions as they are, the check passes. go.mod is not touched: the
// go command reads a modified copy of it through GOFLAGS=-modfile.
func TestRegenVersions(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// regen runs regen.sh with args against a copy of go.mod requiring mod at ver (as
	// go.mod does if mod is empty) and returns its exit code and its stderr.
	regen := func(t *testing.T, mod, ver string, args ...string) (int, string) {
		dir := t.TempDir()
		modfile := filepath.Join(dir, "go.mod")
		for _, f := range []string{"go.mod", "go.sum"} {
			b, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if mod != "" {
			if out, err := exec.Command("go", "mod", "edit", "-require="+mod+"@"+ver, modfile).CombinedOutput(); err != nil {
				t.Fatalf("go mod edit: %v\n%s", err, out)
			}
		}
		cmd := exec.Command("bash", append([]string{filepath.Join(root, "third_party", "regen.sh")}, args...)...)
		// GOPROXY=off: nothing is looked up; a version missing from the module cache fails.
		cmd.Env = append(os.Environ(), "GOFLAGS=-modfile="+modfile, "GOPROXY=off")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		var exit *exec.ExitError
		if err := cmd.Run(); err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}

	t.Run("same", func(t *testing.T) {
		if code, stderr := regen(t, "", "", "--check"); code != 0 {
			t.Fatalf("regen.sh --check with go.mod as it is: exit %d\n%s", code, stderr)
		}
	})
	for _, c := range []struct{ name, mod, have, want string }{
		{"anacrolix-torrent", "github.com/anacrolix/torrent", "v1.61.1", "v1.61.0"},
		{"badger", "github.com/dgraph-io/badger/v4", "v4.9.5", "v4.9.6"},
	} {
		for _, args := range [][]string{{"--check"}, {}} {
			t.Run(c.name+strings.Join(args, ""), func(t *testing.T) {
				before := tree(t, filepath.Join(root, "third_party", c.name))
				code, stderr := regen(t, c.mod, c.have, args...)
				if code == 0 {
					t.Fatalf("regen.sh %s with go.mod requiring %s %s: exit 0", strings.Join(args, " "), c.mod, c.have)
				}
				// The message names the module, both versions and the copy.
				for _, s := range []string{c.mod + " " + c.have, c.want, "third_party/" + c.name} {
					if !strings.Contains(stderr, s) {
						t.Errorf("regen.sh %s: stderr does not say %q:\n%s", strings.Join(args, " "), s, stderr)
					}
				}
				if after := tree(t, filepath.Join(root, "third_party", c.name)); after != before {
					t.Errorf("regen.sh %s changed third_party/%s", strings.Join(args, " "), c.name)
				}
			})
		}
	}
}

// tree returns the names and modification times of the files under dir.
func tree(t *testing.T, dir string) string {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(path + " " + info.ModTime().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
