#!/usr/bin/env bash
# regen.sh rebuilds the patched copies of upstream packages in third_party/ from the
# pristine module versions and the patch series in third_party/patches/.
#
#   third_party/regen.sh            regenerate third_party/anacrolix-torrent and third_party/badger
#   third_party/regen.sh --check    regenerate into a temporary directory and fail on any
#                                   difference from the committed copies
#                                   (both fail first if go.mod requires another version of a
#                                   copied module than the copies table below names)
#   third_party/regen.sh --rewrite [FILE|DIR...]
#                                   point imports of the copied packages at the copies, in
#                                   our own code (default: every .go file outside third_party/)
#                                   and drop go.mod's replace directives for the two modules;
#                                   safe to run again, and on other branches
#
# Each copy is: the listed packages of the pristine module (non-test .go files) and its
# LICENSE, the series applied in order (patch -p1, against the pristine files, so each patch
# reads as a change to upstream), imports of the copied packages rewritten to this module's
# path, then gofmt (the rewrite reorders imports; upstream's config.go was unformatted).
# Packages not listed are imported from the pristine module, which stays in go.mod.
set -euo pipefail

self=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$self")
ourmod=github.com/torrentfs/torrentfs

# name | module | version | packages copied ("." is the module's root package)
copies=(
	"anacrolix-torrent|github.com/anacrolix/torrent|v1.61.0|. smartban test tracker tracker/http internal/amortize internal/check internal/extracmp internal/indexed internal/limiter internal/mytimer internal/nestedmaps internal/request-strategy internal/testutil"
	"badger|github.com/dgraph-io/badger/v4|v4.9.6|."
)

die() { echo "regen.sh: $*" >&2; exit 1; }

# checkversions fails unless go.mod (as the go command reads it, so GOFLAGS=-modfile=FILE
# is honoured) requires each copied module at the version its copy is made from: otherwise
# the copied packages and the module's other packages, imported from go.mod's version, would
# be two versions of one module built together.
checkversions() {
	local entry name mod ver pkgs have status=0
	for entry in "${copies[@]}"; do
		IFS='|' read -r name mod ver pkgs <<<"$entry"
		# -e: go.mod's version is printed even when the module cannot be looked up (offline).
		have=$(cd "$root" && go list -m -e -f '{{.Version}}' "$mod") || die "cannot read the version of $mod in go.mod"
		if [ "$have" != "$ver" ]; then
			echo "regen.sh: go.mod requires $mod ${have:-at no version} but third_party/$name is made from $ver;" \
				"make them agree (the copies table in third_party/regen.sh, and the patches, or go.mod)" >&2
			status=1
		fi
	done
	return $status
}

# sedscript prints a sed -E program that rewrites the quoted import paths of every copied
# package to its path in this module.
sedscript() {
	local entry name mod ver pkgs pkg from to
	for entry in "${copies[@]}"; do
		IFS='|' read -r name mod ver pkgs <<<"$entry"
		for pkg in $pkgs; do
			from=$mod to=$ourmod/third_party/$name
			if [ "$pkg" != . ]; then from=$from/$pkg to=$to/$pkg; fi
			printf 's|"%s"|"%s"|g\n' "$(printf '%s' "$from" | sed 's/[.]/\\./g')" "$to"
		done
	done
}

# rewrite rewrites the imports in the .go files given, and gofmts those it changed.
rewrite() {
	local script f changed=()
	script=$(sedscript)
	for f in "$@"; do
		if ! sed -E "$script" "$f" | cmp -s - "$f"; then
			sed -E -i "$script" "$f"
			changed+=("$f")
		fi
	done
	if [ ${#changed[@]} -gt 0 ]; then gofmt -w "${changed[@]}"; fi
	for f in "${changed[@]}"; do echo "rewrote $f"; done
}

# moddir prints the directory of a pristine module version, downloading it if needed.
moddir() {
	local dir
	dir=$(cd "$root" && go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -n "$dir" ] && [ -d "$dir" ] || die "cannot download $1@$2"
	printf '%s\n' "$dir"
}

# generate writes the patched copy named $1 into directory $2 (which must not exist).
generate() {
	local want=$1 out=$2 entry name mod ver pkgs pkg src p f
	for entry in "${copies[@]}"; do
		IFS='|' read -r name mod ver pkgs <<<"$entry"
		[ "$name" = "$want" ] || continue
		src=$(moddir "$mod" "$ver")
		mkdir -p "$out"
		cp "$src/LICENSE" "$out/"
		for pkg in $pkgs; do
			mkdir -p "$out/$pkg"
			for f in "$src/$pkg"/*.go; do
				case $f in *_test.go) continue ;; esac
				cp "$f" "$out/$pkg/"
			done
		done
		chmod -R u+w "$out"
		if [ -d "$self/patches/$name" ]; then
			for p in "$self/patches/$name"/*.patch; do
				[ -e "$p" ] || continue
				patch -d "$out" -p1 -s -F0 -N --no-backup-if-mismatch <"$p" ||
					die "$(basename "$p") does not apply to $mod@$ver"
			done
		fi
		# patch leaves no .orig with --no-backup-if-mismatch; a .rej means a failure above.
		find "$out" -name '*.go' -print0 | xargs -0 sed -E -i "$(sedscript)"
		find "$out" -name '*.go' -print0 | xargs -0 gofmt -w
		return 0
	done
	die "no copy named $want"
}

mode=${1:-}
case $mode in
--rewrite)
	shift
	cd "$root"
	if [ $# -eq 0 ]; then set -- .; fi
	mapfile -d '' files < <(find "$@" -path ./third_party -prune -o -path ./.git -prune -o -name '*.go' -type f -print0)
	rewrite "${files[@]}"
	for entry in "${copies[@]}"; do
		IFS='|' read -r name mod ver pkgs <<<"$entry"
		go mod edit -dropreplace="$mod"
	done
	;;
--check)
	checkversions || exit 1
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	status=0
	for entry in "${copies[@]}"; do
		IFS='|' read -r name mod ver pkgs <<<"$entry"
		generate "$name" "$tmp/$name"
		# TORRENTFS.md describes the copy; it is not generated.
		if ! diff -r -u -x TORRENTFS.md "$tmp/$name" "$self/$name"; then
			echo "regen.sh: third_party/$name differs from $mod@$ver with the series applied (run third_party/regen.sh)" >&2
			status=1
		fi
	done
	exit $status
	;;
"")
	checkversions || exit 1
	for entry in "${copies[@]}"; do
		IFS='|' read -r name mod ver pkgs <<<"$entry"
		tmp=$(mktemp -d)
		generate "$name" "$tmp/$name"
		if [ -e "$self/$name/TORRENTFS.md" ]; then cp "$self/$name/TORRENTFS.md" "$tmp/$name/"; fi
		rm -rf "${self:?}/$name"
		mv "$tmp/$name" "$self/$name"
		rmdir "$tmp"
		echo "regenerated third_party/$name from $mod@$ver and $(find "$self/patches/$name" -name '*.patch' 2>/dev/null | wc -l) patches"
	done
	;;
*)
	die "usage: regen.sh [--check | --rewrite [FILE|DIR...]]"
	;;
esac
