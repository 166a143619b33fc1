#!/usr/bin/env bash
# Measures stream encryption/decryption of a 1 GiB file against `openssl speed` (run by hand).
#
# usage: tests/bench/stream-bench.sh PATH/TO/stream-tool [SIZE_MIB]
# Needs hyperfine, GNU time (/usr/bin/time) and openssl. Temporary files go
# under ${TMPDIR:-/tmp} and are removed on exit.
set -euo pipefail

tool=${1:?usage: stream-bench.sh PATH/TO/stream-tool [SIZE_MIB]}
size_mib=${2:-1024}
runs=${RUNS:-5}
tool=$(realpath "$tool")
for prog in hyperfine /usr/bin/time openssl; do
	command -v "$prog" >/dev/null || { echo "stream-bench: $prog not found" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/stream-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
bytes=$((size_mib * 1024 * 1024))

# Incompressible input without waiting on /dev/urandom: AES-CTR of zeros.
# openssl dies of SIGPIPE when dd has enough; that is expected. Whole-MiB
# writes lay the file out in the page cache as a copy tool would (tiny
# writes make later reads of it measurably slower).
{ openssl enc -aes-128-ctr -pass pass:bench -pbkdf2 -nosalt </dev/zero 2>/dev/null || true; } |
	dd of="$dir/plain" bs=1M count="$size_mib" iflag=fullblock status=none
head -c 32 /dev/urandom >"$dir/key"
chmod 600 "$dir/key"
"$tool" enc "$dir/key" <"$dir/plain" >"$dir/sealed"
"$tool" dec "$dir/key" <"$dir/sealed" | cmp - "$dir/plain"

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "openssl: $(openssl version)"
echo "input: $size_mib MiB, ciphertext $(stat -c %s "$dir/sealed") bytes"

# Warm the page cache so that the first run is not the only one reading from disk.
cat "$dir/plain" "$dir/sealed" >/dev/null

median() { # hyperfine JSON -> median seconds
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

echo
echo "== openssl speed -evp aes-256-gcm -bytes 65536 -seconds 3"
speed=$(openssl speed -evp aes-256-gcm -bytes 65536 -seconds 3 2>/dev/null |
	awk '/^AES-256-GCM/ { sub(/k$/, "", $2); print $2 * 1000 }')
echo "baseline: $(awk -v s="$speed" 'BEGIN { printf "%.0f MB/s\n", s / 1e6 }')"

report() { # name json
	local med rate
	med=$(median "$2")
	rate=$(awk -v b="$bytes" -v t="$med" 'BEGIN { printf "%.0f", b / t }')
	printf '%-22s median %.3f s  %5.0f MB/s  ratio %.2f\n' "$1" "$med" \
		"$(awk -v r="$rate" 'BEGIN { print r / 1e6 }')" \
		"$(awk -v r="$rate" -v s="$speed" 'BEGIN { print r / s }')"
}

for dest in /dev/null file; do
	out=/dev/null
	prep=true
	if [ "$dest" = file ]; then
		out="$dir/out"
		# A fresh file each run: truncating the last run's 1 GiB would be timed too.
		prep="rm -f '$out'"
	fi
	echo
	echo "== output to $dest ($runs runs each)"
	# Through sh for the redirections; hyperfine subtracts the shell's start-up time.
	hyperfine --runs "$runs" --warmup 1 --style none --prepare "$prep" --export-json "$dir/enc.json" \
		"'$tool' enc '$dir/key' <'$dir/plain' >'$out'" >/dev/null
	hyperfine --runs "$runs" --warmup 1 --style none --prepare "$prep" --export-json "$dir/dec.json" \
		"'$tool' dec '$dir/key' <'$dir/sealed' >'$out'" >/dev/null
	report "encrypt -> $dest" "$dir/enc.json"
	report "decrypt -> $dest" "$dir/dec.json"
	if [ "$dest" = file ]; then
		# What the same writes cost without any cryptography.
		hyperfine --runs "$runs" --warmup 1 --style none --prepare "$prep" \
			--export-json "$dir/cp.json" "dd if='$dir/plain' of='$out' bs=1M status=none" >/dev/null
		report "dd bs=1M -> file" "$dir/cp.json"
	fi
	rm -f "$dir/out"
done

echo
echo "== peak RSS (GNU time -v, output to /dev/null)"
rss() { awk -F': ' '/Maximum resident set size/ { print $2 " KiB" }' "$dir/time"; }
/usr/bin/time -v -o "$dir/time" "$tool" enc "$dir/key" <"$dir/plain" >/dev/null
echo "encrypt: $(rss)"
/usr/bin/time -v -o "$dir/time" "$tool" dec "$dir/key" <"$dir/sealed" >/dev/null
echo "decrypt: $(rss)"
