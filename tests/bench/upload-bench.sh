#!/usr/bin/env bash
# Measures dcr upload of one big file to a local dcrd (simulated enclave)
# against `openssl enc` of the same file to a file on the same file system
# followed by sync, in the same session, runs interleaved so that both see
# the same machine load (run by hand).
#
# usage: tests/bench/upload-bench.sh BUILD_DIR [SIZE_MIB] [BASE_BUILD_DIR]
#   BUILD_DIR       a meson build directory with cmd/dcr/dcr and cmd/dcrd/dcrd
#   SIZE_MIB        the file's size, default 2048
#   BASE_BUILD_DIR  another build (e.g. of main) whose dcr is measured too,
#                   against the same dcrd
#   RUNS=N          runs of each (default 5)
#
# Reported, as medians: wall time, the CPU time (user + system) of dcr,
# and its peak RSS (GNU time); for the baseline the same of openssl. The
# baseline is `openssl enc -aes-256-ctr` (no authentication, one pass, a
# buffer of a few KiB) writing the ciphertext next to dcrd's blobs, then
# `sync` of that file: what "encrypt it and put it on a disk" costs at
# least. dcrd writes the blob to the same file system and fsyncs it, so
# dcr's wall time includes one write of the ciphertext too, by another
# process. Every dataset is deleted (dcr upload --delete) after its run.
#
# Needs python3, GNU time (/usr/bin/time), openssl, curl. Temporary files
# go under ${TMPDIR:-/tmp} (about 3 times SIZE_MIB) and are removed on
# exit, and dcrd is killed.
set -euo pipefail

build=${1:?usage: upload-bench.sh BUILD_DIR [SIZE_MIB] [BASE_BUILD_DIR]}
size_mib=${2:-2048}
base=${3:-}
runs=${RUNS:-5}
build=$(realpath "$build")
dcr=$build/cmd/dcr/dcr
dcrd=$build/cmd/dcrd/dcrd
base_dcr=
[ -n "$base" ] && base_dcr=$(realpath "$base")/cmd/dcr/dcr
for prog in "$dcr" "$dcrd" ${base_dcr:+"$base_dcr"}; do
	[ -x "$prog" ] || { echo "upload-bench: $prog not built" >&2; exit 1; }
done
for prog in python3 /usr/bin/time openssl curl; do
	command -v "$prog" >/dev/null || { echo "upload-bench: $prog not found" >&2; exit 1; }
done

. "$(dirname "$0")/bench-lib.sh"
bench_begin upload-bench

# Incompressible and quick to make: zeros encrypted with a throwaway key.
head -c $((size_mib << 20)) /dev/zero |
	openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 -nosalt >input.bin

bench_dcrd "$dcrd" "$dcr" --min-free 0
bench_machine
echo "input: $size_mib MiB, $runs runs of each"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME CMD...: one run under GNU time; appends name, wall, cpu, peak RSS (KiB) to runs.tsv.
measure() {
	local name=$1
	shift
	/usr/bin/time -f '%e %U %S %M' -o t.out "$@" >out.txt
	awk -v n="$name" '{ printf "%s\t%s\t%.2f\t%s\n", n, $1, $2 + $3, $4 }' t.out >>runs.tsv
}
: >runs.tsv
cat input.bin >/dev/null
for i in $(seq "$runs"); do
	measure "openssl enc + sync" sh -c 'openssl enc -aes-256-ctr -K "$0" -iv 00000000000000000000000000000000 -in input.bin -out enc.bin && sync enc.bin' \
		000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
	rm -f enc.bin
	for variant in dcr ${base_dcr:+base}; do
		prog=$dcr
		[ "$variant" = base ] && prog=$base_dcr
		measure "dcr upload ($variant)" "$prog" -q -i owner upload input.bin
		"$dcr" -q -i owner upload --delete "$(cat out.txt)" >/dev/null
	done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - runs.tsv <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, cpu, rss = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((float(wall), float(cpu), int(rss)))
base = statistics.median(w for w, _, _ in rows["openssl enc + sync"])
print("%-22s %10s %10s %12s %8s" % ("", "wall s", "CPU s", "peak RSS", "wall/base"))
for name, r in rows.items():
    wall = statistics.median(x[0] for x in r)
    print("%-22s %10.2f %10.2f %9.1f MiB %7.2fx" % (name, wall, statistics.median(x[1] for x in r),
                                                 max(x[2] for x in r) / 1024, wall / base))
print("(medians of %d runs; peak RSS is the largest of the runs)" % len(r))
EOF
