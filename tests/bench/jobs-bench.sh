#!/usr/bin/env bash
# Jobs under load, through the real dcr and a local dcrd (simulated
# enclave), run by hand: the latency of `dcr run --wait` on the salary-sum
# example, and the throughput of many clients that each run and wait, for
# one build against a baseline build measured in the same session,
# alternating between them.
#
# usage: tests/bench/jobs-bench.sh BUILD_DIR [BASE_BUILD_DIR]
#   BUILD_DIR       a meson build directory with cmd/dcr/dcr and cmd/dcrd/dcrd
#   BASE_BUILD_DIR  another (main's, say), measured the same way, each with
#                   its own dcr: waiting is the client's and the service's
#                   together
#   RUNS=N          sequential run --wait measured (default 100)
#   JOBS=N          jobs per concurrency test, split among the clients (default 200)
#   ROUNDS=N        how many times each concurrency test is repeated (default 3)
#
# The room is examples/salary-sum (the same tables, data and SQL) with a CA
# of its own instead of the platform PKI. Each build's dcrd runs for the
# whole bench, started as a service manager starts a service: in a session
# of its own (setsid), and so, where the kernel groups by session
# (/proc/sys/kernel/sched_autogroup_enabled 1, as here), in a scheduler
# group of its own rather than in the driver's, with the 50 dcr clients,
# which is how it shares the CPU in production. (Two quiet-machine runs of
# main with and without it differed by no more than their noise: it is
# there to measure the real arrangement, not to help the ratio.) Steps:
# 1. latency, for each build: RUNS times `dcr run ROOM total --wait`, one
#    after another, after 5 warm-up runs: p50, p95, p99 of the wall time
#    (the dcr process, start to exit); of the lag from dcrd's "job ...
#    succeeded" line (time-stamped as it is read) to dcr's exit, which is
#    what waiting adds and what the machine's load disturbs least; the
#    calls per run (dcrd's request log) and dcrd's CPU per run;
# 2. throughput, ROUNDS rounds; in each, for each build in turn, C
#    clients (C = 5, then 50), each running JOBS/C times `dcr run --wait`
#    in a loop, all in one room, then spread over 10 rooms (client i in
#    room i mod 10): jobs per second over the whole test, p50/p99 of one
#    run --wait, failed runs, calls per job; the CPU per job of the dcr
#    processes (getrusage of the driver's children), of dcrd
#    (/proc/PID/stat), of its SQL workers (those it reaped, cutime +
#    cstime, and those alive, kept warm); the fdatasyncs of its state log
#    per job (dcrd_state_syncs_total, group commit); how busy the whole machine was
#    (/proc/stat: other users' work included), to tell whether the CPU is
#    what bounds the throughput. Alternating 5 and 50 clients, and the
#    builds, within each round spreads the machine's changing load over
#    all of them; then
# 3. the summary: for each build and configuration the medians over the
#    rounds, the ratio of the medians of 50 and 5 clients (issue 16's
#    target: at least 1), and, with a base build, each configuration's
#    median jobs/s against the base's.
# dcrd gets --max-room-jobs 64 --max-caller-jobs 64
# --max-connections-per-address 128, so that 50 clients of one identity on
# one address are not refused by design.
#
# Needs python3, openssl, curl, setsid. Files go under ${TMPDIR:-/tmp} and are
# removed on exit; the dcrds are killed.
set -euo pipefail

src=$(realpath "$(dirname "$0")/../..")
runs=${RUNS:-100}
jobs=${JOBS:-200}
rounds=${ROUNDS:-3}
[ "$jobs" -ge 50 ] || { echo "jobs-bench: JOBS must be at least 50" >&2; exit 2; }
[ "$rounds" -ge 1 ] || { echo "jobs-bench: ROUNDS must be at least 1" >&2; exit 2; }
builds=()
for b in "$@"; do
	b=$(realpath "$b")
	for prog in "$b/cmd/dcr/dcr" "$b/cmd/dcrd/dcrd"; do
		[ -x "$prog" ] || { echo "jobs-bench: $prog not built" >&2; exit 1; }
	done
	builds+=("$b")
done
[ ${#builds[@]} -ge 1 ] || { echo "usage: jobs-bench.sh BUILD_DIR [BASE_BUILD_DIR]" >&2; exit 2; }
for prog in python3 openssl curl setsid; do
	command -v "$prog" >/dev/null || { echo "jobs-bench: $prog not found" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/jobs-bench.XXXXXX")
dcrd_pids=()
stop_dcrds() {
	local p
	for p in "${dcrd_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	dcrd_pids=()
}
trap 'stop_dcrds; rm -rf "$dir"' EXIT
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
echo "sched_autogroup_enabled: $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null || echo absent)"
echo "runs: $runs sequential; $jobs jobs per concurrency test; $rounds rounds"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

stamp() { # prefix each line with the wall clock, in seconds
	local line
	while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}
tck=$(getconf CLK_TCK)
# The CPU of dcrd $1 (utime + stime), in seconds.
dcrd_cpu() { awk -v t="$tck" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }
# The CPU of dcrd $1's SQL workers, in seconds: those it reaped (cutime +
# cstime) and those alive (kept warm between jobs, utime + stime).
worker_cpu() {
	local p ticks
	ticks=$(awk '{ print $16 + $17 }' "/proc/$1/stat")
	for p in /proc/[0-9]*; do
		[ "$(cut -d' ' -f4 "$p/stat" 2>/dev/null)" = "$1" ] || continue
		ticks=$((ticks + $(awk '{ print $14 + $15 }' "$p/stat" 2>/dev/null || echo 0)))
	done
	awk -v s="$ticks" -v t="$tck" 'BEGIN { printf "%.3f", s / t }'
}
# The whole machine's busy CPU (all but idle and iowait), in seconds: other users' too.
machine_cpu() { awk -v t="$tck" '/^cpu / { printf "%.3f", ($2 + $3 + $4 + $7 + $8 + $9) / t }' /proc/stat; }
calls() { grep -c 'POST /v1/call' "$1/dcrd.log" || true; }
# The fdatasyncs of dcrd's state log so far (group commit, /metrics); -1 for a dcrd without the count.
syncs() { curl -fsS "$DCR_ENDPOINT/metrics" | awk '/^dcrd_state_syncs_total / { n = $2 } END { print n == "" ? -1 : n }'; }

# ---- each build's dcrd, in a session of its own, with ten rooms; all run to the end ----
declare -A endpoint pid_of rooms_of bdir_of
n=0
for build in "${builds[@]}"; do
	n=$((n + 1)) # new room IDs for each: dcr remembers the logs of the rooms it saw
	dcr=$build/cmd/dcr/dcr
	dcrd=$build/cmd/dcrd/dcrd
	bdir=$dir/b$n
	mkdir -p "$bdir"
	"$dcrd" spec >"$bdir/specs.yaml"
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	# setsid execs dcrd in this PID (the driver is no process group leader), checked below.
	setsid "$dcrd" serve --data-dir "$bdir/data" --listen "127.0.0.1:$port" --max-room-jobs 64 \
		--max-caller-jobs 64 --max-connections-per-address 128 2> >(stamp >>"$bdir/dcrd.log") &
	pid=$!
	dcrd_pids+=("$pid")
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break
		kill -0 "$pid" || { echo "jobs-bench: dcrd died: $(tail -3 "$bdir/dcrd.log")" >&2; exit 1; }
		sleep 0.05
	done
	[ "$(cat "/proc/$pid/comm")" = dcrd ] && [ "$(cut -d' ' -f6 "/proc/$pid/stat")" = "$pid" ] ||
		{ echo "jobs-bench: dcrd is not $pid in a session of its own" >&2; exit 1; }
	endpoint[$build]=http://127.0.0.1:$port
	pid_of[$build]=$pid
	bdir_of[$build]=$bdir
	export DCR_SPECS=$bdir/specs.yaml DCR_ENDPOINT=${endpoint[$build]}
	rs=()
	for i in $(seq 0 9); do
		room=$("$dcr" -q -i "$dir/alice" create room/room.yaml --salt "bench-$n-$i")
		"$dcr" -q -i "$dir/alice" publish "$room" acme_pay "$("$dcr" -q -i "$dir/alice" upload acme_pay.csv)"
		"$dcr" -q -i "$dir/bob" publish "$room" beta_pay "$("$dcr" -q -i "$dir/bob" upload beta_pay.csv)"
		rs+=("$room")
	done
	rooms_of[$build]="${rs[*]}"
done

# use BUILD: its dcr, dcrd's PID, rooms and directory, and the environment dcr needs for them.
use() {
	dcr=$1/cmd/dcr/dcr
	pid=${pid_of[$1]}
	bdir=${bdir_of[$1]}
	read -r -a rooms <<<"${rooms_of[$1]}"
	export DCR_SPECS=$bdir/specs.yaml DCR_ENDPOINT=${endpoint[$1]}
}

# ---- 1. latency ----
for build in "${builds[@]}"; do
	use "$build"
	echo
	echo "== $build: latency (load average $(cut -d' ' -f1-3 /proc/loadavg))"
	for _ in 1 2 3 4 5; do "$dcr" -q -i "$dir/alice" run "${rooms[0]}" total --wait >/dev/null; done
	before_calls=$(calls "$bdir")
	before_cpu=$(dcrd_cpu "$pid")
	python3 - "$dcr" "$dir/alice" "${rooms[0]}" "$runs" >latency.txt <<'PY'
import subprocess, sys, time
dcr, ident, room, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for _ in range(runs):
    t = time.monotonic()
    r = subprocess.run([dcr, "-q", "-i", ident, "run", room, "total", "--wait"], check=True, stdout=subprocess.PIPE)
    print(time.monotonic() - t, time.time(), r.stdout.decode().strip())
PY
	sleep 0.5 # the log's last lines through stamp
	python3 - latency.txt "$runs" "$(($(calls "$bdir") - before_calls))" "$before_cpu" "$(dcrd_cpu "$pid")" \
		"$bdir/dcrd.log" <<'PY'
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
PY
done

# ---- 2. throughput: rounds, each alternating the builds and 5/50 clients ----
: >results.txt
for round in $(seq "$rounds"); do
	for build in "${builds[@]}"; do
		use "$build"
		echo
		echo "== round $round: $build (load average $(cut -d' ' -f1-3 /proc/loadavg))"
		for spread in 1 10; do
			for clients in 5 50; do
				before_calls=$(calls "$bdir")
				before_cpu=$(dcrd_cpu "$pid")
				before_workers=$(worker_cpu "$pid")
				before_machine=$(machine_cpu)
				before_syncs=$(syncs)
				python3 - "$dcr" "$dir/alice" "$clients" "$((jobs / clients))" "$spread" "${rooms[@]}" \
					>conc.txt <<'PY'
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
PY
				python3 - conc.txt "$clients" "$spread" "$(($(calls "$bdir") - before_calls))" "$before_cpu" \
					"$(dcrd_cpu "$pid")" "$before_workers" "$(worker_cpu "$pid")" "$before_machine" \
					"$(machine_cpu)" "$(nproc)" "$build" "$round" "$before_syncs" "$(syncs)" >>results.txt <<'PY'
import sys
wall, failed, client_cpu, *ts = open(sys.argv[1]).read().split()
wall, failed, client_cpu = float(wall), int(failed), float(client_cpu) * 1000
workers = (float(sys.argv[8]) - float(sys.argv[7])) * 1000
machine = (float(sys.argv[10]) - float(sys.argv[9])) * 1000
t = sorted(float(x) * 1000 for x in ts)
clients, spread, calls, n = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), len(t)
cpu = (float(sys.argv[6]) - float(sys.argv[5])) * 1000
q = lambda p: t[min(len(t) - 1, int(round(p / 100 * (len(t) - 1))))]
busy = 100 * machine / 1000 / wall / int(sys.argv[11])
syncs = (int(sys.argv[15]) - int(sys.argv[14])) / n if int(sys.argv[14]) >= 0 else -1
# build, round, clients, rooms, jobs/s, p50 ms, p99 ms, failed, calls/job, CPU ms/job of dcr, dcrd, the SQL
# workers, % of the machine busy, state log fdatasyncs per job (-1: not counted)
print("\t".join(str(x) for x in (sys.argv[12], sys.argv[13], clients, spread, n / wall, q(50), q(99), failed,
      calls / n, client_cpu / n, cpu / n, workers / n, busy, syncs)))
PY
				python3 - "$(tail -1 results.txt)" "$(nproc)" <<'PY'
import sys
b, r, clients, spread, jobs, p50, p99, failed, calls, dcr, dcrd, workers, busy, syncs = sys.argv[1].split("\t")
clients, spread = int(clients), int(spread)
print("%2d clients, %2d room%s: %.1f jobs/s, %s failed; run --wait p50 %.0f ms p99 %.0f ms; %.2f calls/job"
      % (clients, spread, "s" if spread > 1 else " ", float(jobs), failed, float(p50), float(p99), float(calls)))
print("    CPU per job: dcr %.1f ms, dcrd %.1f ms, SQL workers %.1f ms, together %.1f ms; the machine was busy "
      "%.0f%% of its %s cores (other users included)"
      % (float(dcr), float(dcrd), float(workers), float(dcr) + float(dcrd) + float(workers), float(busy), sys.argv[2]))
if float(syncs) >= 0:
    print("    state log fdatasyncs per job: %.2f" % float(syncs))
PY
			done
		done
	done
done

# ---- 3. the summary: medians over the rounds ----
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - results.txt "${builds[@]}" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
builds = sys.argv[2:]
med = {}
for b in builds:
    for spread in (1, 10):
        for clients in (5, 50):
            r = [x for x in rows if x[0] == b and int(x[2]) == clients and int(x[3]) == spread]
            col = lambda i: statistics.median(float(x[i]) for x in r)
            med[b, spread, clients] = {"jobs": col(4), "p50": col(5), "p99": max(float(x[6]) for x in r),
                                      "failed": sum(int(x[7]) for x in r), "dcr": col(9), "dcrd": col(10),
                                      "workers": col(11), "busy": col(12), "syncs": col(13), "n": len(r),
                                      "all": " ".join("%.1f" % float(x[4]) for x in r)}
rooms = lambda s: "%2d room%s" % (s, "s" if s > 1 else " ")
for b in builds:
    print("\n== summary: %s (medians of %d rounds)" % (b, med[b, 1, 5]["n"]))
    for spread in (1, 10):
        for clients in (5, 50):
            m = med[b, spread, clients]
            print("%2d clients, %s: %.1f jobs/s (rounds: %s), p50 %.0f ms, worst p99 %.0f ms, %d failed; CPU per "
                  "job: dcr %.1f, dcrd %.1f, SQL workers %.1f, together %.1f ms; machine busy %.0f%%%s"
                  % (clients, rooms(spread), m["jobs"], m["all"], m["p50"], m["p99"], m["failed"], m["dcr"],
                     m["dcrd"], m["workers"], m["dcr"] + m["dcrd"] + m["workers"], m["busy"],
                     "; fdatasyncs per job %.2f" % m["syncs"] if m["syncs"] >= 0 else ""))
    for spread in (1, 10):
        five, fifty = med[b, spread, 5], med[b, spread, 50]
        ratio = fifty["jobs"] / five["jobs"]
        failed = five["failed"] + fifty["failed"]
        print("TARGET %s: 50 clients %.1f jobs/s vs 5 clients %.1f jobs/s = %.3fx (medians), %d failed: %s"
              % (rooms(spread), fifty["jobs"], five["jobs"], ratio, failed,
                 "met" if ratio >= 1 and failed == 0 else "NOT met"))
if len(builds) > 1:
    base = builds[-1]
    for b in builds[:-1]:
        print("\n== %s against %s (median jobs/s)" % (b, base))
        for spread in (1, 10):
            for clients in (5, 50):
                x, y = med[b, spread, clients]["jobs"], med[base, spread, clients]["jobs"]
                print("%2d clients, %s: %.1f vs %.1f = %.3fx" % (clients, rooms(spread), x, y, x / y))
PY
