#!/usr/bin/env bash
# The demo: make sample data, create a torrent, seed it and mount it on 127.0.0.1 only,
# read it through the mount, unmount. Everything it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$PWD/bin/torrentfs
d=$PWD/demo
rm -rf "$d" && mkdir -p "$d/sample/docs" "$d/mnt"
head -c 48M /dev/urandom > "$d/sample/video.bin"
echo "hello from torrentfs" > "$d/sample/docs/readme.txt"
loop=(--listen 127.0.0.1:0 --no-dht --no-upnp --no-pex)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	mountpoint -q "$d/mnt" && umount -l "$d/mnt" 2>/dev/null || true
}
trap cleanup EXIT

# wait_log FILE TEXT PID: wait for TEXT in FILE while PID runs.
wait_log() {
	while ! grep -q "$2" "$1"; do
		kill -0 "$3" 2>/dev/null || { cat "$1"; echo "demo: process exited"; exit 1; }
		sleep 0.1
	done
}

echo "== create"
"$bin" create -o "$d/sample.torrent" "$d/sample"
echo "== seed (127.0.0.1)"
"$bin" seed "${loop[@]}" "$d/sample.torrent" "$d/sample" 2> "$d/seed.log" & pids+=($!)
wait_log "$d/seed.log" "msg=seeding" "${pids[0]}"
port=$(grep -o 'port=[0-9]*' "$d/seed.log" | head -1 | cut -d= -f2)
echo "== mount (cache in $d/cache)"
"$bin" mount "${loop[@]}" --cache-dir "$d/cache" --peer "127.0.0.1:$port" "$d/sample.torrent" "$d/mnt" 2> "$d/mount.log" & pids+=($!)
wait_log "$d/mount.log" "msg=mounted" "${pids[1]}"
echo "== ls -lR (the tree is there before any data)"
ls -lR "$d/mnt"
echo "== du before reading"; du -sh "$d/mnt/sample/video.bin"
echo "== cat docs/readme.txt"; cat "$d/mnt/sample/docs/readme.txt"
echo "== cmp video.bin through the mount"
start=$EPOCHREALTIME
cmp "$d/mnt/sample/video.bin" "$d/sample/video.bin"
awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "identical; 48 MiB in %.2f s (%.0f MiB/s)\n", e-s, 48/(e-s) }'
sleep 1.1 # the kernel caches st_blocks for a second
echo "== du after reading"; du -sh "$d/mnt/sample/video.bin"
echo "== unmount (SIGINT)"
kill -INT "${pids[1]}"; wait "${pids[1]}"
mountpoint -q "$d/mnt" && { echo "demo: still mounted"; exit 1; }
echo "demo OK"
