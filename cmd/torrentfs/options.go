package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Mount options: every long flag of mount is also accepted as -o name=value, the way
// mount(8), /etc/fstab and fuse3's mount helper pass options. See applyMountOptions.

// optionsFlag is the name of mount's -o flag.
const optionsFlag = "options"

// ownerFlags are --uid, --gid and --umask: who owns the mount's files and their mode.
type ownerFlags struct {
	uid, gid uint32
	umask    octalFlag
	set      func(name string) bool // whether --uid or --gid was given (pflag's Changed)
}

// ownerSet reports whether --uid or --gid was given, by flag or by -o.
func (o *ownerFlags) ownerSet() bool {
	return o.set != nil && (o.set("uid") || o.set("gid"))
}

// octalFlag is a file mode mask written in octal, as umask(1) does: 022, 0027.
type octalFlag uint32

func (m *octalFlag) Type() string { return "octal" }

// String writes 022 for 0o22, and 0 for no mask (which pflag then leaves out of --help).
func (m *octalFlag) String() string {
	if *m == 0 {
		return "0"
	}
	return fmt.Sprintf("%03o", uint32(*m))
}

func (m *octalFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n > 0o777 {
		return errors.New("want an octal mask from 000 to 777, e.g. 022")
	}
	*m = octalFlag(n)
	return nil
}

// registerMountOptions adds -o, --uid, --gid and --umask to the mount command c, whose
// flags are f, and makes the command apply -o before it runs. It also makes the paths of
// --cache-dir and --log-file absolute, so that a mount running as a daemon, which leaves
// its working directory, finds them.
func registerMountOptions(c *cobra.Command, f *mountFlags) {
	fl := c.Flags()
	fl.StringArrayP(optionsFlag, "o", nil, "mount `options`, comma-separated: any long flag as name or name=value (dashes or underscores), e.g. -o cache_dir=/var/cache/torrentfs,allow_other; mount(8)'s generic options (rw, nodev, noauto, _netdev, x-*, ...) are ignored")
	fl.Uint32Var(&f.uid, "uid", 0, "user `id` that owns the mount's files (default the mounting user)")
	fl.Uint32Var(&f.gid, "gid", 0, "group `id` that owns the mount's files (default the mounting user's group)")
	fl.Var(&f.umask, "umask", "`mask` of permission bits taken from the files' modes, in octal, e.g. 022 or 027")
	f.set = func(name string) bool { return fl.Changed(name) }
	c.PreRunE = func(c *cobra.Command, args []string) error {
		opts, err := fl.GetStringArray(optionsFlag)
		if err != nil {
			return err
		}
		for _, o := range opts {
			if err := applyMountOptions(fl, o); err != nil {
				return err
			}
		}
		for _, name := range []string{"cache-dir", "log-file"} {
			if p := fl.Lookup(name); p != nil && p.Value.String() != "" && !filepath.IsAbs(p.Value.String()) {
				abs, err := filepath.Abs(p.Value.String())
				if err != nil {
					return err
				}
				p.Value.Set(abs)
			}
		}
		return nil
	}
}

// mountOption is one option of a -o list: a flag's name and its value, as given.
type mountOption struct {
	name     string // the flag's name, with dashes
	value    string
	hasValue bool // name=value rather than name alone
}

// parseMountOptions splits a -o list into options, with names in the flags' spelling,
// leaving out mount(8)'s generic options, which mean nothing to torrentfs.
func parseMountOptions(list string) []mountOption {
	var opts []mountOption
	for _, o := range strings.Split(list, ",") {
		if o == "" {
			continue
		}
		name, value, hasValue := strings.Cut(o, "=")
		if genericMountOption(name) {
			continue
		}
		opts = append(opts, mountOption{strings.ReplaceAll(name, "_", "-"), value, hasValue})
	}
	return opts
}

// genericMountOption reports whether name is an option that mount(8) or fuse3's helper
// adds or that fstab lines carry for them or for systemd: torrentfs accepts and ignores it.
func genericMountOption(name string) bool {
	switch name {
	case "rw", "ro", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "auto", "noauto",
		"user", "nouser", "users", "owner", "group", "defaults", "_netdev", "nofail",
		"atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
		"diratime", "nodiratime", "lazytime", "nolazytime", "sync", "async", "dirsync",
		"silent", "loud", "comment":
		return true
	}
	return strings.HasPrefix(name, "x-")
}

// applyMountOptions sets the flags of fl that the -o list names. An option that is not a
// flag is a usage error naming it.
func applyMountOptions(fl *pflag.FlagSet, list string) error {
	for _, o := range parseMountOptions(list) {
		f := fl.Lookup(o.name)
		if f == nil || o.name == optionsFlag || o.name == "help" {
			return usagef("unknown mount option %q; see 'torrentfs mount --help' for the flags it may name", o.name)
		}
		v := o.value
		if !o.hasValue {
			if f.NoOptDefVal == "" {
				return usagef("mount option %q needs a value: -o %s=…", o.name, strings.ReplaceAll(o.name, "-", "_"))
			}
			v = f.NoOptDefVal
		}
		if err := fl.Set(o.name, v); err != nil {
			var invalid *pflag.InvalidValueError
			if errors.As(err, &invalid) {
				err = errors.Unwrap(invalid) // the value's own reason, without pflag's preamble
			}
			return usagef("invalid value %q for mount option %q: %v", v, o.name, err)
		}
	}
	return nil
}
