#!/usr/bin/env bash
# Measures what starting dcr costs: `dcr --version` against `sqlite3
# --version` (hyperfine), the CPU time and instruction counts of both, the
# shared libraries dcr loads, and the client side of one `dcr status`
# against a local dcrd (simulated enclave); in the same session (run by
# hand).
#
# usage: tests/bench/startup-bench.sh BUILD_DIR [BASE_BUILD_DIR]
#   BUILD_DIR       a meson build directory with cmd/dcr/dcr and cmd/dcrd/dcrd
#   BASE_BUILD_DIR  another build (e.g. of main) whose dcr is measured too
#   RUNS=N          hyperfine and perf runs (default 300)
#
# Wall times on a loaded machine mostly measure the scheduler: CPU time
# (perf stat task-clock, user + system, mean of RUNS) and instructions
# (callgrind, one run, deterministic but for the kernel's part) are the
# numbers to compare. perf and valgrind are optional; without them those
# lines are left out.
#
# Needs python3, hyperfine, sqlite3, openssl, curl.
set -euo pipefail

build=$(realpath "${1:?usage: startup-bench.sh BUILD_DIR [BASE_BUILD_DIR]}")
base=${2:-}
runs=${RUNS:-300}
variants=(dcr)
declare -A prog=([dcr]=$build/cmd/dcr/dcr)
if [ -n "$base" ]; then
	variants+=(base)
	prog[base]=$(realpath "$base")/cmd/dcr/dcr
fi
dcrd=$build/cmd/dcrd/dcrd
for p in "${prog[@]}" "$dcrd"; do
	[ -x "$p" ] || { echo "startup-bench: $p not built" >&2; exit 1; }
done
for p in python3 hyperfine sqlite3 openssl curl; do
	command -v "$p" >/dev/null || { echo "startup-bench: $p not found" >&2; exit 1; }
done
have_perf=0
perf stat -e task-clock true >/dev/null 2>&1 && have_perf=1
have_valgrind=0
command -v valgrind >/dev/null && have_valgrind=1

. "$(dirname "$0")/bench-lib.sh"
bench_begin startup-bench

bench_machine
echo "sqlite3: $(sqlite3 --version | cut -d' ' -f1)"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

# task_clock CMD...: mean CPU milliseconds of RUNS runs (perf stat task-clock).
task_clock() {
	perf stat -r "$runs" -x, -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { printf "%.2f", $1 }'
}
# instructions CMD...: instructions of one run, dynamic loader included (callgrind).
instructions() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
		awk '/Collected :/ { print $NF }'
}

echo
echo "== start-up: --version"
cmds=()
for v in "${variants[@]}"; do
	cmds+=("${prog[$v]} --version")
	echo "$v: $(ldd "${prog[$v]}" | wc -l) shared objects at start"
done
hyperfine -N --runs "$runs" --warmup 20 --style basic "${cmds[@]}" 'sqlite3 --version' 2>&1 | grep -vE '^ *$'
printf '%-8s %14s %14s\n' "" "CPU ms (perf)" "instructions"
for v in "${variants[@]}" sqlite3; do
	p=${prog[$v]:-sqlite3}
	printf '%-8s %14s %14s\n' "$v" "$([ $have_perf = 1 ] && task_clock "$p" --version || echo -)" \
		"$([ $have_valgrind = 1 ] && instructions "$p" --version || echo -)"
done

# ---- dcr status against a local dcrd ----
bench_dcrd "$dcrd" "${prog[dcr]}"

echo
echo "== dcr status ROOM: the client's side"
printf '%-8s %14s %14s\n' "" "CPU ms (perf)" "instructions"
for v in "${variants[@]}"; do
	"${prog[$v]}" -q -i owner status "$room" >/dev/null
	# A sixth of the runs: each is a round trip to dcrd.
	printf '%-8s %14s %14s\n' "$v" \
		"$([ $have_perf = 1 ] && runs=$((runs / 6 + 1)) task_clock "${prog[$v]}" -q -i owner status "$room" || echo -)" \
		"$([ $have_valgrind = 1 ] && instructions "${prog[$v]}" -q -i owner status "$room" || echo -)"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
