#!/usr/bin/env bash
# Builds the store benchmark's images with umoci (no network), into $OCI (default
# $DATA/oci): `busybox` (1 layer) and `big` (5 layers, ~300 MB of tar): busybox; many small
# files (headers, zoneinfo, the python stdlib: whatever this host has); a few large files (the
# largest shared library found, 48 MiB of seeded random bytes, 8 MiB of zeros); a delta layer
# with whiteouts, a file turned into a symlink and a new hardlink pair; an opaque directory.
# mtimes are pinned so digests are stable on one host.
set -euo pipefail
DATA=${DATA:-/tmp/berth-bench}
OCI=${OCI:-$DATA/oci}
WORK=$DATA/make-work
CREATED=2026-01-01T00:00:00Z
BUSYBOX=${BUSYBOX:-/bin/busybox}
rm -rf "$OCI" "$WORK"; mkdir -p "$OCI" "$WORK"
H=(--history.created "$CREATED" --history.author berth-bench)
stamp() { find "$@" -exec touch -h -d "$CREATED" {} + ; }

umoci init --layout "$OCI/big"
umoci new --image "$OCI/big:latest"
umoci config --image "$OCI/big:latest" --created "$CREATED" --author berth-bench --os linux --architecture amd64 --no-history \
  --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.cmd /bin/sh
B=$WORK/bundle; R=$B/rootfs
umoci unpack --image "$OCI/big:latest" "$B" >/dev/null
mkdir -p "$R"/{bin,etc,tmp,root,usr/share,usr/lib,opt}
chmod 1777 "$R/tmp"; cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list-full); do [[ $a == bin/busybox ]] && continue; mkdir -p "$R/$(dirname "$a")"; ln -sf /bin/busybox "$R/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"; printf 'root:x:0:\n' >"$R/etc/group"
stamp "$R"
umoci repack --refresh-bundle --image "$OCI/big:latest" "${H[@]}" --history.created_by busybox "$B"
cp -a "$OCI/big" "$OCI/busybox"

# L2: many small files from whatever the host has (~100-150 MB).
for src in /usr/include /usr/share/zoneinfo /usr/lib/python3*; do
  [[ -d $src ]] || continue
  dst="$R/usr/share/small$(echo "$src" | tr / _)"; cp -a "$src" "$dst"
done
find "$R/usr/share" -name __pycache__ -prune -exec rm -rf {} +
echo "hardlinked content" >"$R/etc/hl-a"; ln "$R/etc/hl-a" "$R/etc/hl-b"
mkdir -p "$R/opt/data/keep" "$R/opt/data/gone"
echo keep >"$R/opt/data/keep/file"; echo gone >"$R/opt/data/gone/file"
echo "delete me" >"$R/opt/data/delete-me.txt"; echo v1 >"$R/opt/data/modify-me.txt"
echo "file to become symlink" >"$R/opt/data/becomes-link"
mkdir -p "$R/usr/share/zoneinfo/Europe"; echo CET >"$R/usr/share/zoneinfo/Europe/Paris"
stamp "$R"
umoci repack --refresh-bundle --image "$OCI/big:latest" "${H[@]}" --history.created_by "small files" "$B"

# L3: large files.
mkdir -p "$R/opt/big"
LARGE=$(find /usr/lib -xdev -type f -name '*.so*' -size +20M -printf '%s %p\n' 2>/dev/null | sort -rn | head -1 | cut -d' ' -f2-)
[[ -n $LARGE ]] && cp "$LARGE" "$R/opt/big/$(basename "$LARGE")"
python3 -c 'import random,sys
r=random.Random(20260101)
with open(sys.argv[1],"wb") as f:
  [f.write(r.randbytes(1<<20)) for _ in range(48)]' "$R/opt/big/random.bin"
head -c $((8 << 20)) /dev/zero >"$R/opt/big/zeros.bin"
stamp "$R/opt"
umoci repack --refresh-bundle --image "$OCI/big:latest" "${H[@]}" --history.created_by "large files" "$B"

# L4: deletes, a file turned into a symlink, modified and new hardlinked files.
rm "$R/opt/data/delete-me.txt"; rm -r "$R/opt/data/gone"
rm "$R/opt/data/becomes-link"; ln -s keep/file "$R/opt/data/becomes-link"
echo v2 >"$R/opt/data/modify-me.txt"
echo "new in L4" >"$R/opt/data/new.txt"; ln "$R/opt/data/new.txt" "$R/opt/data/new-hardlink.txt"
stamp "$R/opt/data"
umoci repack --image "$OCI/big:latest" "${H[@]}" --history.created_by delta "$B"
rm -rf "$B"

# L5: an opaque directory.
S=$WORK/opaque; mkdir -p "$S"; echo "opaque replacement" >"$S/README"; ln -s README "$S/UTC"; stamp "$S"
umoci insert --image "$OCI/big:latest" "${H[@]}" --history.created_by opaque --opaque "$S" /usr/share/zoneinfo
umoci gc --layout "$OCI/big"
rm -rf "$WORK"
du -sh "$OCI"/*
