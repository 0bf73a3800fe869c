#!/usr/bin/env bash
# chdb.sh installs libchdb.so (the ClickHouse 26.7 engine as a library, from npm)
# into /usr/local/lib, where github.com/chdb-io/chdb-go finds it. Tests use it to
# prove the schema and KPI SQL on current ClickHouse beside the 18.16 server.
#
# Idempotent: the npm tarball is cached under $REFERRALOPS_DATA_DIR/chdb (default
# <repo>/.data/chdb) with a stamp holding the library's size; the library is
# extracted and copied only when the installed file is missing or its size differs.
#
# Environment:
#   REFERRALOPS_DATA_DIR   cache root (default <repo>/.data)
#   CHDB_NPM_PACKAGE       npm package spec (default @chdb/lib-linux-x64-gnu@26.7.3-stable.1)
#   CHDB_LIB_DIR           install directory (default /usr/local/lib)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data_dir="${REFERRALOPS_DATA_DIR:-$repo/.data}"
pkg="${CHDB_NPM_PACKAGE:-@chdb/lib-linux-x64-gnu@26.7.3-stable.1}"
lib_dir="${CHDB_LIB_DIR:-/usr/local/lib}"
cache="$data_dir/chdb"
target="$lib_dir/libchdb.so"

log() { printf 'chdb.sh: %s\n' "$*" >&2; }

# The version in the spec names the cache entries, so a version bump re-installs.
version="${pkg##*@}"
stamp="$cache/libchdb-$version.size"

size_of() { stat -c %s "$1"; }

if [[ -f "$target" && -s "$stamp" && "$(size_of "$target")" == "$(cat "$stamp")" ]]; then
	log "$target already installed ($(cat "$stamp") bytes, $pkg)"
	exit 0
fi

mkdir -p "$cache"
tgz="$(find "$cache" -maxdepth 1 -name "*-$version.tgz" -print -quit)"
if [[ -z "$tgz" ]]; then
	command -v npm >/dev/null || { log "npm is required"; exit 1; }
	log "fetching $pkg (about 180 MB) into $cache"
	tgz="$cache/$(cd "$cache" && npm pack --silent "$pkg" | tail -n1)"
fi

tmp="$(mktemp -d "$cache/extract.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
log "extracting libchdb.so from $tgz"
tar -xzf "$tgz" -C "$tmp" package/libchdb.so
lib="$tmp/package/libchdb.so"
[[ -s "$lib" ]] || { log "$tgz holds no package/libchdb.so"; exit 1; }
want="$(size_of "$lib")"

mkdir -p "$lib_dir"
if [[ -f "$target" && "$(size_of "$target")" == "$want" ]]; then
	log "$target already installed ($want bytes)"
else
	# Copy then rename so a concurrent loader never maps a half-written library.
	cp "$lib" "$target.tmp.$$"
	mv -f "$target.tmp.$$" "$target"
	if command -v ldconfig >/dev/null; then ldconfig "$lib_dir" 2>/dev/null || true; fi
	log "installed $target ($want bytes) from $pkg"
fi
echo "$want" >"$stamp"
