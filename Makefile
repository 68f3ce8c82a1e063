# torrentfs: `make demo` shows it working, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
DEBS := patch fuse3 opentracker mktorrent aria2 transmission-cli transmission-daemon python3-libtorrent ffmpeg curl chromium rclone davfs2 litmus iproute2 nginx-light microsocks
PREFIX ?= /usr/local
DESTDIR ?=
# systemd looks for units in /usr/local/lib/systemd/system and /usr/lib/systemd/system.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: build deps test vet cross fuzz fuzz-long third-party third-party-check bench demo man completions install clean

# -buildvcs=auto: --version names the commit, where this machine's go env says not to.
build:
	$(GO) build -buildvcs=auto -o bin/torrentfs ./cmd/torrentfs

# deps installs the Debian packages the tests and the demo use, where missing.
deps:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q $$missing >/dev/null || \
			{ apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
	fi
	@test -e /dev/fuse || { echo "no /dev/fuse: FUSE is needed (modprobe fuse, or run the container with --device /dev/fuse)"; exit 1; }
	@command -v npm >/dev/null || { echo "installing: nodejs npm"; export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q nodejs npm >/dev/null || \
			{ apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null; }; }
	@$(MAKE) --no-print-directory $(DLNA_CLIENT)/node_modules/.installed $(TRACKER6)/node_modules/.installed

# The DLNA tests' control point (node-ssdp, upnp-device-client): installed from its lock
# file, again only when the lock file changes, so make test needs no network after once.
# npm is checked for, not listed in DEBS: NodeSource's nodejs bundles it and conflicts with
# Debian's npm.
DLNA_CLIENT := cmd/torrentfs/testdata/dlna-client
$(DLNA_CLIENT)/node_modules/.installed: $(DLNA_CLIENT)/package-lock.json
	cd $(DLNA_CLIENT) && npm ci --no-audit --no-fund --prefer-offline --loglevel=error
	touch $@

# TestIPv6Tracker's tracker (webtorrent's bittorrent-tracker, HTTP on ::1), the same way.
# --ignore-scripts: its client side's WebRTC (node-datachannel) would be built from source
# and is never loaded (tracker.js imports the server alone).
TRACKER6 := cmd/torrentfs/testdata/tracker6
$(TRACKER6)/node_modules/.installed: $(TRACKER6)/package-lock.json
	cd $(TRACKER6) && npm ci --no-audit --no-fund --prefer-offline --loglevel=error --ignore-scripts
	touch $@

# -timeout is a guard against a hang, not the time budget: cmd/torrentfs takes 8-9 min on a
# quiet machine and went past 15 on one loaded by five other test runs.
test: deps third-party-check vet cross
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 25m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

# fuzz runs each fuzz target for FUZZTIME; `make test` runs each for 20,000 inputs (about a
# minute in all, most of it building each instrumented test binary), fuzz-long for 10 minutes
# each. make test counts inputs rather than seconds: with a duration, Go 1.26's fuzzing
# coordinator can fail a target with "context deadline exceeded" as time runs out on a busy
# machine, with no crasher (go.dev/issue/75804, fixed in Go 1.27).
# A crasher is written to the package's testdata/fuzz/FuzzXxx/, which plain `go test` then
# runs: commit it with the fix.
FUZZTIME ?= 10s
FUZZ_TARGETS := fetch:FuzzParseTorrent fs:FuzzCleanName fs:FuzzUniqueName fs:FuzzBuildTree fs:FuzzInodeNumbers \
	library:FuzzParseInfoHash library:FuzzMagnet library:FuzzControl \
	cache:FuzzReadMeta cache:FuzzMarkerPiece cache:FuzzStoredInfo internal/bencheck:FuzzCheck \
	dlna:FuzzControl dlna:FuzzSearch

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t#*:}; echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		out=$$($(GO) test -trimpath -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/ 2>&1) || \
			{ echo "$$out"; exit 1; }; \
		echo "$$out" | tail -n 1; \
	done

fuzz-long:
	$(MAKE) --no-print-directory fuzz FUZZTIME=10m

# vet runs every analyzer on the whole module, the copies in third_party/ included (the last
# patch of each series makes them vet clean).
vet:
	$(GO) vet ./...

# cross builds every package for macOS and Windows (their tests are Linux's: FUSE, network
# namespaces): mount with macFUSE on macOS, serve everywhere. Type-checking is the check;
# nothing runs. fs, which holds Windows' tree and mount's message there, is vetted for Windows
# too (its tests are not built there). One Mac architecture: our code has no per-architecture
# files, and each platform's build costs `make test` over a minute on a fresh clone.
# -trimpath here and in fuzz: their builds are thrown away, and without the checkout's
# directory in them Go's build cache serves them to any clone of the same code (a fresh
# clone's cross builds took two minutes with it in).
CROSS := darwin/arm64 windows/amd64
cross:
	@set -e; for t in $(CROSS); do echo "build $$t"; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -trimpath -o /dev/null ./...; done
	GOOS=windows $(GO) vet ./fs/

# third-party-check fails if third_party/anacrolix-torrent or third_party/badger is not what
# third_party/regen.sh makes of the pristine upstream versions and third_party/patches/.
# third-party regenerates them (after a change to third_party/patches/ or to the versions).
third-party-check:
	third_party/regen.sh --check

third-party:
	third_party/regen.sh

# bench runs the cache micro-benchmarks and the end-to-end benchmark, which rewrites
# BENCHMARKS.md; it takes about three minutes, three more for the swarm part (which
# `-args -bench-part swarm` runs alone), 20 to 30 more for the fleet part (8 and 16 hosts on
# shaped links; `-args -bench-part fleet -bench-fleet-hosts 4 -bench-fleet-mib 64` is a quick
# one), and needs root (FUSE, dropping the page cache, the fleet's network namespaces).
bench: deps
	$(GO) test ./cache/ -run '^$$' -bench . -benchmem
	$(GO) test ./cmd/torrentfs/ -run '^$$' -bench EndToEnd -benchtime 1x -timeout 90m -args -bench-out $(CURDIR)/BENCHMARKS.md

# demo seeds a generated sample on 127.0.0.1, mounts it, lists and checks it, and unmounts.
demo: deps build
	@bash cmd/torrentfs/demo.sh

# man writes the man pages, generated from the command tree, to bin/man.
man: build
	rm -rf bin/man
	bin/torrentfs gen-man bin/man

# completions writes the bash, zsh and fish completions to bin/completions.
completions: build
	mkdir -p bin/completions
	bin/torrentfs completion bash > bin/completions/torrentfs.bash
	bin/torrentfs completion zsh > bin/completions/_torrentfs
	bin/torrentfs completion fish > bin/completions/torrentfs.fish

# install copies the binary, man pages, completions and the systemd unit under
# $(DESTDIR)$(PREFIX). mount -t fuse.torrentfs needs nothing more: fuse3's mount helper runs
# `torrentfs` from /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin or /bin (a
# PREFIX outside these needs a link named mount.fuse.torrentfs in /sbin).
install: build man completions
	install -D -m 755 bin/torrentfs $(DESTDIR)$(PREFIX)/bin/torrentfs
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 bin/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 644 bin/completions/torrentfs.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/torrentfs
	install -D -m 644 bin/completions/_torrentfs $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_torrentfs
	install -D -m 644 bin/completions/torrentfs.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/torrentfs.fish
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' contrib/systemd/torrentfs@.service > $(DESTDIR)$(SYSTEMDUNITDIR)/torrentfs@.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/torrentfs@.service

clean:
	rm -rf bin demo
