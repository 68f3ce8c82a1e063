package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

// The TestCLI tests check the command line without mounting anything or joining a swarm:
// go test ./cmd/torrentfs/ -run TestCLI.

// runCLI runs args in this process and returns the error, stdout and stderr.
func runCLI(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestCLIUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"mout"}, `did you mean "mount"?`},
		{[]string{"mount", "x.torrent"}, "mount takes at least 2 arguments (SOURCE... MOUNTPOINT), got 1; see 'torrentfs mount --help'"},
		{[]string{"seed", "a", "b", "c"}, "seed takes 2 arguments (TORRENT PATH), got 3"},
		{[]string{"create"}, "create takes 1 argument (PATH), got 0"},
		{[]string{"status", "a", "b"}, "status takes at most 1 argument ([MOUNTPOINT|@NAME]), got 2"},
		{[]string{"cache"}, "want ls, rm or verify"},
		{[]string{"cache", "clean"}, "want ls"},
		{[]string{"cache", "rm", "--cache-dir", "/nonexistent"}, "cache rm takes at least 1 argument (TORRENT...), got 0"},
		{[]string{"cache", "ls", "x"}, "cache ls takes no arguments, got 1"},
		{[]string{"mount", "--nope", "a", "b"}, "flag provided but not defined: --nope"},
		{[]string{"create", "-x", "a"}, "flag provided but not defined: -x"},
		{[]string{"mount", "-cache-dir", "c", "a", "b"}, "flag provided but not defined: -c (long flags take two dashes)"},
		{[]string{"mount", "--readahead", "lots", "a", "b"}, `invalid argument "lots" for "--readahead": bad size`},
		{[]string{"mount", "--read-timeout", "5", "a", "b"}, `invalid argument "5" for "--read-timeout": a duration needs a unit, e.g. 5s or 2m`},
		{[]string{"mount", "--read-timeout", "soon", "a", "b"}, `invalid argument "soon" for "--read-timeout"`},
		{[]string{"mount", "--log-level", "loud", "a", "b"}, "bad --log-level"},
		{[]string{"seed", "--log-format", "xml", "a", "b"}, "bad --log-format"},
		{[]string{"mount", "--prefetch", "some", "a", "b"}, "some"},
		{[]string{"mount", "--dht-bootstrap", "router.example", "a", "b"}, "--dht-bootstrap router.example: want host:port"},
		{[]string{"mount", "--dht-bootstrap", "127.0.0.1:0", "a", "b"}, "--dht-bootstrap 127.0.0.1:0: want host:port: bad port"},
		{[]string{"seed", "--no-dht", "--dht-bootstrap", "127.0.0.1:6881", "a", "b"}, "--dht-bootstrap with --no-dht"},
		{[]string{"create", "--output"}, "flag needs an argument: --output"},
		{[]string{"completion", "bash", "extra"}, "completion bash takes no arguments, got 1"},
	} {
		stdout, stderr, err := runCLI(tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v; want a one-line usage error with %q", tc.args, err, tc.want)
		}
		if stdout != "" || (tc.args != nil && stderr != "") {
			t.Errorf("%q wrote stdout %q, stderr %q; want nothing (main prints the error)", tc.args, stdout, stderr)
		}
	}
}

func TestCLIHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"Usage:\n  torrentfs [flags]", "mount", "create", "seed", "status", "cache", "completion", "-v, --version"}},
		{[]string{"-h"}, []string{"Available Commands:"}},
		{[]string{"help"}, []string{"Available Commands:"}},
		{[]string{"mount", "-h"}, []string{"torrentfs mount [flags] SOURCE... MOUNTPOINT", "--cache-dir dir", "(default 32M)", "(default 1m)",
			"-t, --tracker URL", "--peer host:port", "--log-format format", "--log-file file", "--no-dht", "--utp", "--read-timeout duration"}},
		{[]string{"seed", "--help"}, []string{"-t, --tracker URL", "--listen host:port"}},
		{[]string{"create", "--help"}, []string{"-t, --tracker URL", "-o, --output file", "-f, --force", "--piece-length size", "--private", "--comment text"}},
		{[]string{"cache", "rm", "--help"}, []string{"torrentfs cache rm [flags] TORRENT...", "--cache-dir"}},
		{[]string{"completion", "bash"}, []string{"bash completion"}},
		{[]string{"completion", "zsh"}, []string{"#compdef torrentfs"}},
		{[]string{"completion", "fish"}, []string{"complete -c torrentfs"}},
	} {
		stdout, stderr, err := runCLI(tc.args...)
		if err != nil || stderr != "" {
			t.Errorf("%q: %v, stderr %q", tc.args, err, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%q: no %q in:\n%s", tc.args, w, stdout)
			}
		}
	}
	// Not the single-dash spellings of Go's flag package.
	if stdout, _, _ := runCLI("mount", "--help"); regexp.MustCompile(`(?m)^\s+-[a-z]{2,}`).MatchString(stdout) {
		t.Errorf("single-dash long flags in mount --help:\n%s", stdout)
	}
}

func TestCLIVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "b78c35c"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionOf(bi), "v1.2.3, commit b78c35c-dirty, go1.26.8"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
	bi.Settings[1].Value = "false"
	if got, want := versionOf(bi), "v1.2.3, commit b78c35c, go1.26.8"; got != want {
		t.Errorf("versionOf = %q, want %q", got, want)
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		stdout, _, err := runCLI(args...)
		if err != nil || !strings.HasPrefix(stdout, "torrentfs ") || !strings.Contains(stdout, "go1.") {
			t.Errorf("%q: %v, %q", args, err, stdout)
		}
	}
}

func TestCLISizeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int64
		show string
	}{
		{"0", 0, "0"}, {"512", 512, "512"}, {"1536", 1536, "1536"}, {"64K", 64 << 10, "64K"}, {"32M", 32 << 20, "32M"},
		{"32mb", 32 << 20, "32M"}, {"1024M", 1 << 30, "1G"}, {"10G", 10 << 30, "10G"}, {"2T", 2 << 40, "2T"}, {"1048577", 1<<20 + 1, "1048577"},
	} {
		var s sizeFlag
		if err := s.Set(tc.in); err != nil || int64(s) != tc.n || s.String() != tc.show {
			t.Errorf("Set(%q): %v, %d shown as %q; want %d shown as %q", tc.in, err, s, s.String(), tc.n, tc.show)
		}
	}
	for _, in := range []string{"lots", "-1", "1.5G", "", "M"} {
		var s sizeFlag
		if err := s.Set(in); err == nil {
			t.Errorf("Set(%q) = nil, want an error", in)
		}
	}
}

func TestCLIDurationFlag(t *testing.T) {
	for in, show := range map[string]string{"1m": "1m", "90s": "1m30s", "2h": "2h", "0": "0s", "1.5s": "1.5s", "1h0m30s": "1h0m30s"} {
		var d durationFlag
		if err := d.Set(in); err != nil || d.String() != show {
			t.Errorf("Set(%q): %v, shown as %q; want %q", in, err, d.String(), show)
		}
	}
	var d durationFlag
	if err := d.Set("5"); err == nil || err.Error() != "a duration needs a unit, e.g. 5s or 2m" {
		t.Errorf("Set(5): %v", err)
	}
}

// Off a terminal the log is slog's key=value text, which the tests and scripts wait on.
func TestCLILogFormat(t *testing.T) {
	for format, want := range map[string]string{
		"auto":   `level=INFO msg=mounted torrent=a port=42069`,
		"logfmt": `level=INFO msg=mounted torrent=a port=42069`,
		"json":   `"level":"INFO","msg":"mounted","torrent":"a","port":42069}`,
		"text":   `INFO  mounted torrent=a port=42069`,
	} {
		var b bytes.Buffer
		log, err := (&logFlags{level: "info", format: format}).open(&b)
		if err != nil {
			t.Fatal(err)
		}
		log.Debug("hidden")
		log.Info("mounted", "torrent", "a", "port", 42069)
		if !strings.Contains(b.String(), want) || strings.Count(b.String(), "\n") != 1 {
			t.Errorf("--log-format %s wrote %q; want one line with %q", format, b.String(), want)
		}
	}
}

func TestCLIHumanLog(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(newHumanHandler(&b, slog.LevelDebug))
	log.Info("mounted")
	log.With("torrent", "a b").WithGroup("g").Warn("slow", "n", 1)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{`^\d\d:\d\d:\d\d INFO  mounted$`, `^\d\d:\d\d:\d\d WARN  slow torrent="a b" g.n=1$`}
	if len(lines) != len(want) {
		t.Fatalf("human log:\n%s", b.String())
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("line %q does not match %s", lines[i], w)
		}
	}
}

// The binary prints usage errors in one line and exits 2, and help on stdout with exit 0.
func TestCLIExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout bool
	}{
		{[]string{"--help"}, 0, true},
		{[]string{"-h"}, 0, true},
		{[]string{"mount", "-h"}, 0, true},
		{[]string{"--version"}, 0, true},
		{[]string{"mount", "x"}, 2, false},
		{[]string{"mount", "--read-timeout", "5", "a", "b"}, 2, false},
		{[]string{"status", t.TempDir()}, 1, false},
	} {
		cmd := exec.Command(bin, tc.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		code := cmd.ProcessState.ExitCode()
		lines := strings.Count(stderr.String(), "\n")
		if code != tc.code || (stdout.Len() > 0) != tc.stdout || (code != 0 && (lines != 1 || !strings.HasPrefix(stderr.String(), "torrentfs: "))) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, stdout.String(), stderr.String())
		}
	}
}
