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

dir=$(mktemp -d "${TMPDIR:-/tmp}/startup-bench.XXXXXX")
dcrd_pid=
cleanup() {
	if [ -n "$dcrd_pid" ]; then
		kill -KILL "$dcrd_pid" 2>/dev/null || true
		wait "$dcrd_pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
export HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state
unset DCR_ENDPOINT DCR_SPECS
mkdir -p "$HOME"

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
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
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-days 2 -subj "/CN=bench-ca" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1
mkdir -p owner room
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout owner/key.pem \
	-out owner/req.csr -subj "/CN=owner@bench.example" >/dev/null 2>&1
printf 'subjectAltName=email:owner@bench.example\nbasicConstraints=critical,CA:FALSE\n' >owner/ext.cnf
openssl x509 -req -in owner/req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
	-out owner/cert.pem -extfile owner/ext.cnf >/dev/null 2>&1
cp ca.pem room/ca.pem
cat >room/room.yaml <<YAML
version: 1
name: startup-bench
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  owner@bench.example: [upload blob]
data:
  blob: {type: file}
YAML
"$dcrd" spec >specs.yaml
export DCR_SPECS=$dir/specs.yaml
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$dcrd" serve --data-dir "$dir/dcrd" --listen "127.0.0.1:$port" 2>dcrd.log &
dcrd_pid=$!
export DCR_ENDPOINT=http://127.0.0.1:$port
for _ in $(seq 200); do
	curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" 2>/dev/null && break
	kill -0 "$dcrd_pid" || { echo "startup-bench: dcrd died: $(tail -3 dcrd.log)" >&2; exit 1; }
	sleep 0.05
done
room=$("${prog[dcr]}" -q -i owner create room/room.yaml)

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
