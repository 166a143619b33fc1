#!/usr/bin/env bash
# dcrd's CPU per `dcr status` as a room's audit log grows (issue 16: within
# 1.5x from 10 to 100,000 entries), for this build and optionally a
# baseline build measured in the same session (run by hand).
#
# usage: tests/bench/audit-bench.sh BUILD_DIR [BASELINE_BUILD_DIR [BASELINE_FILL]]
#   BUILD_DIR           a meson build directory with cmd/dcr/dcr, cmd/dcrd/dcrd
#                       and tests/bench/audit-fill
#   BASELINE_BUILD_DIR  the same for the baseline (e.g. main built in a scratch
#                       directory); its filler is BASELINE_BUILD_DIR/tests/bench/
#                       audit-fill, or BASELINE_FILL: audit-fill.c compiled
#                       against the baseline's cmd/dcrd/state.c (a tree from
#                       before this bench has none)
#   SIZES="10 1000 ..." the log sizes measured (default 10 1000 10000 100000)
#   MIN_CPU_MS=N        calls per size: until dcrd has spent N ms of CPU
#                       (default 3000), at least 5 and at most MAX_CALLS (400)
#
# Per build: a sim dcrd on a free loopback port with a fresh data directory,
# one room (alice may upload and run), created by dcr. Before each size
# dcrd is stopped and the log filled up to that size by audit-fill
# (entries like those a room.status call logs, appended through dcrd's own
# state_audit_append in one transaction: filling 100,000 entries through
# calls would take hours on the baseline, whose calls grow with the log);
# dcrd is started again, alice makes 2 warm-up calls (her stored head is
# then the log's), and the measured calls follow, each one a real `dcr
# status` whose answer carries the consistency proof from alice's last head.
# dcrd's CPU is user + system time from /proc/PID/stat (all its threads)
# before and after. Printed per size: entries, calls, dcrd CPU per call in
# ms, and the ratio to the first size.
set -euo pipefail

build=$(realpath "${1:?usage: audit-bench.sh BUILD_DIR [BASELINE_BUILD_DIR [BASELINE_FILL]]}")
baseline=${2:+$(realpath "$2")}
baseline_fill=${3:-}
sizes=${SIZES:-10 1000 10000 100000}
min_cpu_ms=${MIN_CPU_MS:-3000}
max_calls=${MAX_CALLS:-400}
tick_ms=$((1000 / $(getconf CLK_TCK)))

tmp=$(mktemp -d "${TMPDIR:-/tmp}/audit-bench.XXXXXX")
dcrd_pid=
cleanup() {
	[ -n "$dcrd_pid" ] && kill "$dcrd_pid" 2>/dev/null && wait "$dcrd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# cpu_ticks: dcrd's user + system time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$dcrd_pid/stat"; }

start() {
	"$dcrd" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" 2>>"$dir/dcrd.log" &
	dcrd_pid=$!
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "audit-bench: dcrd did not start: $(tail -3 "$dir/dcrd.log")" >&2
	exit 1
}
stop() { kill "$dcrd_pid"; wait "$dcrd_pid" 2>/dev/null || true; dcrd_pid=; }

# bench LABEL BUILD_DIR FILL: one build, every size.
bench() {
	local label=$1 b=$2 fill=$3 size=0 first= target calls c0 c1 per
	dcr=$b/cmd/dcr/dcr dcrd=$b/cmd/dcrd/dcrd dir=$tmp/$label port=$(free_port)
	mkdir -p "$dir/room"
	export HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/xdata XDG_STATE_HOME=$dir/state
	mkdir -p "$HOME"
	"$dcrd" spec >"$dir/specs.yaml"
	export DCR_SPECS=$dir/specs.yaml DCR_ENDPOINT=http://127.0.0.1:$port
	# An EC P-256 CA and alice's certificate from it, as tests/cli/lib.sh makes them.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
		-days 2 -subj "/CN=bench-ca" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1
	mkdir -p "$dir/alice"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/alice/key.pem" \
		-out "$dir/alice/req.csr" -subj "/CN=alice@acme.example" >/dev/null 2>&1
	printf 'subjectAltName=email:alice@acme.example\nbasicConstraints=critical,CA:FALSE\n' >"$dir/alice/ext.cnf"
	openssl x509 -req -in "$dir/alice/req.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
		-out "$dir/alice/cert.pem" -extfile "$dir/alice/ext.cnf" >/dev/null 2>&1
	cp "$dir/ca.pem" "$dir/room/ca.pem"
	cat >"$dir/room/room.yaml" <<'YAML'
version: 1
name: audit-bench
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload t, run count]
data:
  t:
    type: table
    columns:
      - {name: id, type: int64}
compute:
  count:
    type: sql
    query: SELECT COUNT(*) AS n FROM t
YAML
	as() { "$dcr" -q -i "$dir/alice" "$@"; }
	start
	room=$(as create "$dir/room/room.yaml")
	size=1
	printf '%-10s %9s %6s %14s %7s\n' build entries calls "dcrd ms/call" ratio
	for target in $sizes; do
		stop
		[ "$target" -gt "$size" ] && "$fill" "$dir/data" "$room" alice@acme.example $((target - size))
		[ "$target" -gt "$size" ] && size=$target
		start
		as status "$room" >/dev/null
		as status "$room" >/dev/null
		size=$((size + 2))
		calls=0
		c0=$(cpu_ticks)
		c1=$c0
		while [ "$calls" -lt 5 ] || { [ $(((c1 - c0) * tick_ms)) -lt "$min_cpu_ms" ] && [ "$calls" -lt "$max_calls" ]; }; do
			as status "$room" >/dev/null
			calls=$((calls + 1))
			c1=$(cpu_ticks)
		done
		per=$(python3 -c "print(f'{($c1 - $c0) * $tick_ms / $calls:.3f}')")
		[ -z "$first" ] && first=$per
		printf '%-10s %9d %6d %14s %7s\n' "$label" "$size" "$calls" "$per" \
			"$(python3 -c "print(f'{$per / $first:.2f}')")"
		size=$((size + calls))
	done
	stop
}

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
bench this "$build" "$build/tests/bench/audit-fill"
if [ -n "$baseline" ]; then
	bench baseline "$baseline" "${baseline_fill:-$baseline/tests/bench/audit-fill}"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
