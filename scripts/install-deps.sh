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
