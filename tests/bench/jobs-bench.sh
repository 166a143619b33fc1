#!/usr/bin/env bash
# Jobs under load, through the real dcr and a local dcrd (simulated
# enclave), run by hand: the latency of `dcr run --wait` on the salary-sum
# example, and the throughput of many clients that each run and wait, for
# one build against a baseline build measured in the same session.
#
# usage: tests/bench/jobs-bench.sh BUILD_DIR [BASE_BUILD_DIR]
#   BUILD_DIR       a meson build directory with cmd/dcr/dcr and cmd/dcrd/dcrd
#   BASE_BUILD_DIR  another (main's, say), measured the same way right after,
#                   each with its own dcr: waiting is the client's and the
#                   service's together
#   RUNS=N          sequential run --wait measured (default 100)
#   JOBS=N          jobs per concurrency test, split among the clients (default 200)
#
# The room is examples/salary-sum (the same tables, data and SQL) with a CA
# of its own instead of the platform PKI. Steps, for each build:
# 1. latency: RUNS times `dcr run ROOM total --wait`, one after another,
#    after 5 warm-up runs: p50, p95, p99 of the wall time (the dcr process,
#    start to exit); of the lag from dcrd's "job ... succeeded" line (time-
#    stamped as it is read) to dcr's exit, which is what waiting adds and
#    what the machine's load disturbs least; the calls per run (dcrd's
#    request log) and dcrd's CPU per run;
# 2. throughput: C clients (C = 5, then 50), each running JOBS/C times
#    `dcr run --wait` in a loop, all in one room, then spread over 10 rooms
#    (client i in room i mod 10): jobs per second over the whole test,
#    p50/p99 of one run --wait, failed runs, calls per job, and dcrd's CPU
#    per job (/proc/PID/stat); then the CPU per job of the dcr processes
#    (getrusage of the driver's children), of dcrd, of the SQL workers it
#    reaped (cutime + cstime), and how busy the whole machine was
#    (/proc/stat: other users' work included), to tell whether the CPU is
#    what bounds the throughput. dcrd gets --max-room-jobs 64
#    --max-caller-jobs 64 --max-connections-per-address 128, so that 50
#    clients of one identity on one address are not refused by design.
#
# Needs python3, openssl, curl. Files go under ${TMPDIR:-/tmp} and are
# removed on exit; dcrd is killed.
set -euo pipefail

src=$(realpath "$(dirname "$0")/../..")
runs=${RUNS:-100}
jobs=${JOBS:-200}
[ "$jobs" -ge 50 ] || { echo "jobs-bench: JOBS must be at least 50" >&2; exit 2; }
builds=()
for b in "$@"; do
	b=$(realpath "$b")
	for prog in "$b/cmd/dcr/dcr" "$b/cmd/dcrd/dcrd"; do
		[ -x "$prog" ] || { echo "jobs-bench: $prog not built" >&2; exit 1; }
	done
	builds+=("$b")
done
[ ${#builds[@]} -ge 1 ] || { echo "usage: jobs-bench.sh BUILD_DIR [BASE_BUILD_DIR]" >&2; exit 2; }
for prog in python3 openssl curl; do
	command -v "$prog" >/dev/null || { echo "jobs-bench: $prog not found" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/jobs-bench.XXXXXX")
dcrd_pid=
stop_dcrd() {
	if [ -n "$dcrd_pid" ]; then
		kill -KILL "$dcrd_pid" 2>/dev/null || true
		wait "$dcrd_pid" 2>/dev/null || true
	fi
	dcrd_pid=
}
trap 'stop_dcrd; rm -rf "$dir"' EXIT
cd "$dir"
export HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state
unset DCR_ENDPOINT DCR_SPECS
mkdir -p "$HOME"

# ---- a CA, alice and bob, the salary-sum room with that CA ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-days 2 -subj "/CN=bench-ca" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1
for who in alice@acme.example bob@beta.example; do
	id=${who%%@*}
	mkdir -p "$id"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$id/key.pem" \
		-out "$id/req.csr" -subj "/CN=$who" >/dev/null 2>&1
	printf 'subjectAltName=email:%s\nbasicConstraints=critical,CA:FALSE\n' "$who" >"$id/ext.cnf"
	openssl x509 -req -in "$id/req.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-out "$id/cert.pem" -extfile "$id/ext.cnf" >/dev/null 2>&1
done
mkdir -p room
cp ca.pem room/ca.pem
cp "$src/examples/salary-sum/acme_pay.csv" "$src/examples/salary-sum/beta_pay.csv" .
sed -e 's/^  platform: true$/  ca: ca.pem/' "$src/examples/salary-sum/room.yaml" >room/room.yaml
grep -q '^  ca: ca.pem$' room/room.yaml || { echo "jobs-bench: cannot adapt the salary-sum room" >&2; exit 1; }

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -r)"
echo "runs: $runs sequential; $jobs jobs per concurrency test"

stamp() { # prefix each line with the wall clock, in seconds
	local line
	while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}
tck=$(getconf CLK_TCK)
dcrd_cpu() { awk -v t="$tck" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$dcrd_pid/stat"; }
# The CPU of the SQL workers dcrd spawned and reaped (cutime + cstime), in seconds.
worker_cpu() { awk -v t="$tck" '{ printf "%.3f", ($16 + $17) / t }' "/proc/$dcrd_pid/stat"; }
# The whole machine's busy CPU (all but idle and iowait), in seconds: other users' too.
machine_cpu() { awk -v t="$tck" '/^cpu / { printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat; }
calls() { grep -c 'POST /v1/call' dcrd.log || true; }

run=0
for build in "${builds[@]}"; do
	run=$((run + 1)) # new room IDs each time: dcr remembers the logs of the rooms it saw
	dcr=$build/cmd/dcr/dcr
	dcrd=$build/cmd/dcrd/dcrd
	rm -rf dcrd-data dcrd.log
	"$dcrd" spec >specs.yaml
	export DCR_SPECS=$dir/specs.yaml
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$dcrd" serve --data-dir "$dir/dcrd-data" --listen "127.0.0.1:$port" --max-room-jobs 64 \
		--max-caller-jobs 64 --max-connections-per-address 128 2> >(stamp >>dcrd.log) &
	dcrd_pid=$!
	export DCR_ENDPOINT=http://127.0.0.1:$port
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" 2>/dev/null && break
		kill -0 "$dcrd_pid" || { echo "jobs-bench: dcrd died: $(tail -3 dcrd.log)" >&2; exit 1; }
		sleep 0.05
	done
	rooms=()
	for i in $(seq 0 9); do
		room=$("$dcr" -q -i "$dir/alice" create room/room.yaml --salt "bench-$run-$i")
		"$dcr" -q -i "$dir/alice" publish "$room" acme_pay "$("$dcr" -q -i "$dir/alice" upload acme_pay.csv)"
		"$dcr" -q -i "$dir/bob" publish "$room" beta_pay "$("$dcr" -q -i "$dir/bob" upload beta_pay.csv)"
		rooms+=("$room")
	done

	echo
	echo "== $build"
	echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	for _ in 1 2 3 4 5; do "$dcr" -q -i "$dir/alice" run "${rooms[0]}" total --wait >/dev/null; done
	before_calls=$(calls)
	before_cpu=$(dcrd_cpu)
	python3 - "$dcr" "$dir/alice" "${rooms[0]}" "$runs" >latency.txt <<'EOF'
import subprocess, sys, time
dcr, ident, room, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for _ in range(runs):
    t = time.monotonic()
    r = subprocess.run([dcr, "-q", "-i", ident, "run", room, "total", "--wait"], check=True, stdout=subprocess.PIPE)
    print(time.monotonic() - t, time.time(), r.stdout.decode().strip())
EOF
	sleep 0.5 # the log's last lines through stamp
	python3 - latency.txt "$runs" "$(($(calls) - before_calls))" "$before_cpu" "$(dcrd_cpu)" dcrd.log <<'EOF'
import re, sys
rows = [l.split() for l in open(sys.argv[1])]
ended = {}
for line in open(sys.argv[6]):
    m = re.match(r"(\S+) dcrd: job (\S+) succeeded$", line.strip())
    if m:
        ended[m.group(2)] = float(m.group(1))
t = sorted(float(r[0]) * 1000 for r in rows)
lag = sorted((float(r[1]) - ended[r[2]]) * 1000 for r in rows if r[2] in ended)
runs, calls = int(sys.argv[2]), int(sys.argv[3])
q = lambda v, p: v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
print("run --wait, sequential, %d runs: p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (p95 - p50 = %.1f ms)"
      % (runs, q(t, 50), q(t, 95), q(t, 99), t[-1], q(t, 95) - q(t, 50)))
print("  job's end to dcr's exit (%d runs): p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms"
      % (len(lag), q(lag, 50), q(lag, 95), q(lag, 99), lag[-1]))
print("  calls per run %.2f (job.run + job.get), dcrd CPU per run %.1f ms"
      % (calls / runs, (float(sys.argv[5]) - float(sys.argv[4])) * 1000 / runs))
EOF

	for spread in 1 10; do
		for clients in 5 50; do
			before_calls=$(calls)
			before_cpu=$(dcrd_cpu)
			before_workers=$(worker_cpu)
			before_machine=$(machine_cpu)
			python3 - "$dcr" "$dir/alice" "$clients" "$((jobs / clients))" "$spread" "${rooms[@]}" >conc.txt <<'EOF'
import resource, subprocess, sys, threading, time
dcr, ident, clients, each, spread = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rooms = sys.argv[6:]
times, failed, lock = [], [0], threading.Lock()
def client(i):
    room = rooms[i % spread]
    for _ in range(each):
        t = time.monotonic()
        r = subprocess.run([dcr, "-q", "-i", ident, "run", room, "total", "--wait"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with lock:
            times.append(time.monotonic() - t)
            if r.returncode != 0:
                failed[0] += 1
                sys.stderr.write(r.stderr.decode(errors="replace"))
start = time.monotonic()
threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
for th in threads:
    th.start()
for th in threads:
    th.join()
# The dcr processes' CPU, all of them (their parent is this process).
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.monotonic() - start, failed[0], ru.ru_utime + ru.ru_stime, " ".join(str(x) for x in times))
EOF
			python3 - conc.txt "$clients" "$spread" "$(($(calls) - before_calls))" "$before_cpu" "$(dcrd_cpu)" \
				"$before_workers" "$(worker_cpu)" "$before_machine" "$(machine_cpu)" "$(nproc)" <<'EOF'
import sys
wall, failed, client_cpu, *ts = open(sys.argv[1]).read().split()
wall, failed, client_cpu = float(wall), int(failed), float(client_cpu) * 1000
workers = (float(sys.argv[8]) - float(sys.argv[7])) * 1000
machine = (float(sys.argv[10]) - float(sys.argv[9])) * 1000
t = sorted(float(x) * 1000 for x in ts)
clients, spread, calls = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cpu = (float(sys.argv[6]) - float(sys.argv[5])) * 1000
q = lambda p: t[min(len(t) - 1, int(round(p / 100 * (len(t) - 1))))]
print("%2d clients, %2d room%s: %d jobs in %.1f s = %.1f jobs/s, %d failed; run --wait p50 %.0f ms p99 %.0f ms; "
      "%.2f calls/job; dcrd CPU %.1f ms/job"
      % (clients, spread, "s" if spread > 1 else " ", len(t), wall, len(t) / wall, failed, q(50), q(99),
         calls / len(t), cpu / len(t)))
print("    CPU per job: dcr %.1f ms, dcrd %.1f ms, SQL workers %.1f ms, together %.1f ms; the machine was busy "
      "%.0f%% of its %d cores (%.1f ms per job, other users included)"
      % (client_cpu / len(t), cpu / len(t), workers / len(t), (client_cpu + cpu + workers) / len(t),
         100 * machine / 1000 / wall / int(sys.argv[11]), int(sys.argv[11]), machine / len(t)))
EOF
		done
	done
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	stop_dcrd
done
