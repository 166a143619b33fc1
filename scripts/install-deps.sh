#!/bin/sh
# Installs what dcr needs to build and test on Debian 12; uses sudo when not root.
# Extra package names given as arguments are installed too (CI adds clang etc.).
set -eu

packages="
	gcc meson ninja-build pkg-config
	libssl-dev libprotobuf-c-dev protobuf-c-compiler
	libyaml-dev libsqlite3-dev sqlite3 libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
	libcmocka-dev scdoc openssl python3 python3-cryptography curl
	libzip-dev libcsv-dev bubblewrap
	python3-numpy python3-pandas python3-scipy python3-sklearn
	python3-matplotlib python3-seaborn python3-nltk python3-requests python3-yaml python3-toml
	python3-dateutil python3-protobuf
"

if [ "$(id -u)" -eq 0 ]; then
	as_root=
elif command -v sudo >/dev/null 2>&1; then
	as_root=sudo
else
	echo "install-deps: run me as root, or install sudo" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # word splitting of the package list is wanted
$as_root apt-get update -q
# shellcheck disable=SC2086
$as_root apt-get install -y -q --no-install-recommends $packages "$@"

# dcrd run as root runs python computations as this unprivileged user, never as root (see dcrd(8)).
if ! getent passwd dcr-sandbox >/dev/null; then
	$as_root useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin dcr-sandbox
fi

# DuckDB, the second SQL engine (dcr-room(5), engine): Debian 12 has no package, so its
# shared library comes from the npm package of DuckDB's node bindings, pinned and checked,
# with a pkg-config file for meson. Skipped with DCR_NO_DUCKDB=1; dcr builds without it.
# Installed again unless both the pkg-config file and the library itself (its SHA-256, the
# libduckdb.so of the checked package) are the pinned ones: a library put there otherwise
# is never taken on its pkg-config file's word.
duckdb_version=1.5.6
duckdb_npm="@duckdb/node-bindings-linux-x64@${duckdb_version}-r.1"
duckdb_sha256=1b9f82478539bb9a1d1df44bd103121a12ae52142c07158dc52b97d2ec1d69ff
duckdb_so_sha256=3f4962cdd266eab2b479a5b5a4a6d063d279b2954ae814ed00385d553b747633
duckdb_dir=/usr/local/lib/dcr-duckdb
if [ "${DCR_NO_DUCKDB:-0}" != 1 ] && [ "$(uname -m)" = x86_64 ] &&
	! { pkg-config --exact-version="$duckdb_version" duckdb 2>/dev/null &&
		echo "$duckdb_so_sha256  $duckdb_dir/libduckdb.so" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
	$as_root apt-get install -y -q --no-install-recommends npm libstdc++6
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "$duckdb_npm" >/dev/null)
	echo "$duckdb_sha256  $tmp/duckdb-node-bindings-linux-x64-${duckdb_version}-r.1.tgz" | sha256sum -c --quiet -
	tar -xzf "$tmp"/*.tgz -C "$tmp" package/libduckdb.so package/LICENSE
	echo "$duckdb_so_sha256  $tmp/package/libduckdb.so" | sha256sum -c --quiet -
	$as_root install -d -m 0755 "$duckdb_dir" /usr/local/lib/pkgconfig
	$as_root install -m 0644 "$tmp/package/libduckdb.so" "$tmp/package/LICENSE" "$duckdb_dir/"
	printf '%s\n' "libdir=$duckdb_dir" '' 'Name: duckdb' \
		'Description: DuckDB (shared library from @duckdb/node-bindings-linux-x64, no header)' \
		"Version: $duckdb_version" 'Libs: -L${libdir} -Wl,-rpath,${libdir} -lduckdb' |
		$as_root tee /usr/local/lib/pkgconfig/duckdb.pc >/dev/null
fi
