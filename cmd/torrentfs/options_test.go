package main

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The TestCLIMountOptions tests check -o without mounting anything:
// go test ./cmd/torrentfs/ -run TestCLIMountOptions

func TestCLIMountOptionsParse(t *testing.T) {
	got := parseMountOptions("rw,cache_dir=/var/cache/torrentfs,,cache-max-size=20G,allow_other,nosuid,nodev,noauto,_netdev," +
		"x-systemd.automount,x-gvfs-show,comment=systemd.x,defaults,uid=1000,no_dht=false,relatime,peer=a=b")
	want := []mountOption{
		{"cache-dir", "/var/cache/torrentfs", true},
		{"cache-max-size", "20G", true},
		{"allow-other", "", false},
		{"uid", "1000", true},
		{"no-dht", "false", true},
		{"peer", "a=b", true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseMountOptions:\n got %+v\nwant %+v", got, want)
	}
}

// The options set mount's flags: every long flag by its name with dashes or underscores,
// booleans with or without a value, repeatable flags once per option.
func TestCLIMountOptionsApply(t *testing.T) {
	c := newMountCmd()
	fl := c.Flags()
	if err := fl.Parse([]string{"--cache-dir", "/first", "-o", "cache_dir=/var/cache/torrentfs,cache-max-size=20G,allow_other,uid=1000,gid=100,umask=027",
		"-o", "rw,dev,suid,no_dht,no-pex=true,direct_io=false,peer=127.0.0.1:1,peer=127.0.0.1:2,log_level=debug,read_timeout=30s", "src", "mnt"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PreRunE(c, fl.Args()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"cache-dir": "/var/cache/torrentfs", "cache-max-size": "20G", "allow-other": "true", "uid": "1000", "gid": "100",
		"umask": "027", "no-dht": "true", "no-pex": "true", "direct-io": "false", "peer": "[127.0.0.1:1,127.0.0.1:2]",
		"log-level": "debug", "read-timeout": "30s", "no-upload": "false",
	} {
		if got := fl.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s is %q; want %q", name, got, want)
		}
	}
	if !fl.Changed("uid") {
		t.Error("-o uid=1000 does not count as --uid given")
	}
}

// Unknown options, a missing value and a bad value are usage errors that name the option.
func TestCLIMountOptionsErrors(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"rw,frobnicate", `unknown mount option "frobnicate"`},
		{"kernel_cache", `unknown mount option "kernel-cache"`},
		{"options=x", `unknown mount option "options"`},
		{"help", `unknown mount option "help"`},
		{"cache_dir", `mount option "cache-dir" needs a value: -o cache_dir=…`},
		{"cache_max_size=lots", `invalid value "lots" for mount option "cache-max-size": bad size`},
		{"no_dht=maybe", `invalid value "maybe" for mount option "no-dht"`},
		{"umask=999", `invalid value "999" for mount option "umask": want an octal mask`},
		{"uid=-1", `invalid value "-1" for mount option "uid"`},
	} {
		stdout, stderr, err := runCLI("mount", "-o", tc.opts, "src", "mnt")
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-o %s: %v; want a usage error with %q", tc.opts, err, tc.want)
		}
		if stdout != "" || stderr != "" {
			t.Errorf("-o %s wrote %q, %q", tc.opts, stdout, stderr)
		}
	}
	if _, _, err := runCLI("mount", "--umask", "8", "src", "mnt"); err == nil || !strings.Contains(err.Error(), `invalid argument "8" for "--umask"`) {
		t.Errorf("--umask 8: %v", err)
	}
}

// Relative --cache-dir and --log-file become absolute before the mount runs, so that a
// daemon that leaves its working directory still finds them.
func TestCLIMountOptionsAbsolutePaths(t *testing.T) {
	c := newMountCmd()
	fl := c.Flags()
	if err := fl.Parse([]string{"-o", "cache_dir=rel/cache,log_file=x.log", "src", "mnt"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PreRunE(c, fl.Args()); err != nil {
		t.Fatal(err)
	}
	for name, rel := range map[string]string{"cache-dir": "rel/cache", "log-file": "x.log"} {
		want, _ := filepath.Abs(rel)
		if got := fl.Lookup(name).Value.String(); got != want {
			t.Errorf("--%s is %q; want %q", name, got, want)
		}
	}
}
