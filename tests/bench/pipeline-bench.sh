#!/usr/bin/env bash
# Measures the data path through the real dcr and a local dcrd (simulated
# enclave): upload, publish, run --wait and fetch of a CSV table, against
# baselines measured in the same session (run by hand).
#
# usage: tests/bench/pipeline-bench.sh BUILD_DIR [SIZE_MIB]
#   BUILD_DIR  a meson build directory with cmd/dcr/dcr, cmd/dcrd/dcrd and
#              (for two of the baselines) tests/bench/stream-tool
#   SIZE_MIB   size of the generated CSV table, default 256
#   RUNS=N     runs of each step and baseline (default 5); every run of the
#              data path uploads, publishes, runs and fetches a fresh dataset
#
# Needs python3, hyperfine, GNU time (/usr/bin/time), sqlite3, openssl, curl.
# Temporary files go under ${TMPDIR:-/tmp} (about RUNS + 3 times SIZE_MIB)
# and are removed on exit, and dcrd is killed.
set -euo pipefail

build=${1:?usage: pipeline-bench.sh BUILD_DIR [SIZE_MIB]}
size_mib=${2:-256}
runs=${RUNS:-5}
build=$(realpath "$build")
dcr=$build/cmd/dcr/dcr
dcrd=$build/cmd/dcrd/dcrd
stream_tool=$build/tests/bench/stream-tool
for prog in "$dcr" "$dcrd"; do
	[ -x "$prog" ] || { echo "pipeline-bench: $prog not built" >&2; exit 1; }
done
[ -x "$stream_tool" ] || stream_tool=
for prog in python3 hyperfine /usr/bin/time sqlite3 openssl curl; do
	command -v "$prog" >/dev/null || { echo "pipeline-bench: $prog not found" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/pipeline-bench.XXXXXX")
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
# A private keystore and configuration, as tests/cli/lib.sh sets them up.
export HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data XDG_STATE_HOME=$dir/state
unset DCR_ENDPOINT DCR_SPECS
mkdir -p "$HOME"

# ---- the table: id int64, region string, amount float64, day date ----
# Deterministic (fixed seed), about SIZE_MIB MiB, written in large blocks.
python3 - "$size_mib" sales.csv <<'EOF'
import datetime, random, sys
target = int(sys.argv[1]) << 20
rng = random.Random(20240501)
regions = ["north", "south", "east", "west", "centre", "alps", "coast", "islands",
           "lakes", "plains", "delta", "valley", "highlands", "metro", "border", "forest"]
start = datetime.date(2020, 1, 1)
days = [(start + datetime.timedelta(d)).isoformat() for d in range(1827)]
with open(sys.argv[2], "w", newline="") as f:
    head = "id,region,amount,day\n"
    f.write(head)
    size, i = len(head), 0
    while size < target:
        rows = []
        for _ in range(20000):
            i += 1
            rows.append("%d,%s,%d.%02d,%s\n" % (i, rng.choice(regions), rng.randrange(1000000),
                                                  rng.randrange(100), rng.choice(days)))
        block = "".join(rows)
        if size + len(block) > target:  # stop at the first row that reaches the size
            cut, n = target - size, 0
            n = block.index("\n", cut - 1) + 1 if cut > 0 else 0
            block = block[:n]
        f.write(block)
        size += len(block)
EOF
bytes=$(stat -c %s sales.csv)
rows=$(($(wc -l <sales.csv) - 1))
query='SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region'

# ---- a CA, the owner, a room ----
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
name: bench
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  owner@bench.example: [upload sales, run by_region, fetch by_region]
data:
  sales:
    type: table
    columns:
      - {name: id, type: int64}
      - {name: region, type: string}
      - {name: amount, type: float64}
      - {name: day, type: date}
compute:
  by_region:
    type: sql
    query: $query
YAML

# ---- dcrd on a free loopback port; its stderr time-stamped (job start and end) ----
"$dcrd" spec >specs.yaml
export DCR_SPECS=$dir/specs.yaml
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
stamp() { # prefix each line with the wall clock, in seconds
	local line
	while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}
"$dcrd" serve --data-dir "$dir/dcrd" --listen "127.0.0.1:$port" 2> >(stamp >>dcrd.log) &
dcrd_pid=$!
export DCR_ENDPOINT=http://127.0.0.1:$port
for _ in $(seq 200); do
	curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" 2>/dev/null && break
	kill -0 "$dcrd_pid" || { echo "pipeline-bench: dcrd died: $(tail -3 dcrd.log)" >&2; exit 1; }
	sleep 0.05
done
as() { "$dcr" -q -i "$dir/owner" "$@"; }
room=$(as create room/room.yaml)

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "kernel: $(uname -r)"
echo "openssl: $(openssl version)"
echo "sqlite3: $(sqlite3 --version | cut -d' ' -f1)"
echo "input: $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB of CSV, $rows rows, $runs runs"
echo "dcrd RSS after start: $(awk '/^VmRSS/ { print $2 }' "/proc/$dcrd_pid/status") KiB"

# Warm the page cache, as stream-bench.sh does.
cat sales.csv >/dev/null

# ---- baselines, with hyperfine (medians) and GNU time (peak RSS) ----
echo
echo "== baselines ($runs runs each)"
: >baselines.tsv
baseline() { # name command
	hyperfine --runs "$runs" --warmup 1 --style none --export-json "b.json" "$2" >/dev/null 2>b.err ||
		{ cat b.err >&2; exit 1; }
	/usr/bin/time -f %M -o b.rss sh -c "$2" >/dev/null
	printf '%s\t%s\t%s\n' "$1" \
		"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' b.json)" \
		"$(tail -1 b.rss)" >>baselines.tsv
}
baseline "cat" "cat '$dir/sales.csv'"
baseline "sha256sum" "sha256sum '$dir/sales.csv'"
baseline "openssl dgst -sha256" "openssl dgst -sha256 '$dir/sales.csv'"
if [ -n "$stream_tool" ]; then
	head -c 32 /dev/urandom >stream.key
	chmod 600 stream.key
	"$stream_tool" enc stream.key <sales.csv >sales.sealed
	baseline "stream-tool enc" "'$stream_tool' enc '$dir/stream.key' <'$dir/sales.csv' >/dev/null"
	baseline "stream-tool dec" "'$stream_tool' dec '$dir/stream.key' <'$dir/sales.sealed' >/dev/null"
	rm -f sales.sealed
fi
# The same STRICT table the SQL worker makes (cmd/dcrd/sqlwork.c), the same query.
cat >baseline.sql <<EOF
CREATE TABLE sales (id INTEGER, region TEXT, amount REAL, day TEXT) STRICT;
.import --csv --skip 1 '$dir/sales.csv' sales
.mode csv
.headers on
$query;
EOF
baseline "sqlite3 import+query" "sqlite3 :memory: <'$dir/baseline.sql'"
sqlite3 :memory: <baseline.sql >sqlite-result.csv
awk -F'\t' '{ printf "  %-22s median %7.3f s  peak RSS %6d KiB\n", $1, $2, $3 }' baselines.tsv

# ---- the data path, RUNS times, a fresh dataset each time ----
# dcr's peak RSS from GNU time; dcrd's from VmHWM, reset before each step
# through /proc/PID/clear_refs (5 resets the high-water mark).
hwm_reset() { echo 5 >"/proc/$dcrd_pid/clear_refs"; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$dcrd_pid/status"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$dcrd_pid/status"; }
echo
echo "== data path ($runs runs; seconds; peak RSS in KiB)"
printf '  %-4s %8s %8s %8s %8s %8s   %9s %9s %9s %9s\n' run upload publish run "(job)" fetch \
	"dcr up" "dcrd pub" "dcrd run" "dcrd after"
: >steps.tsv
for i in $(seq "$runs"); do
	t0=$EPOCHREALTIME
	/usr/bin/time -f %M -o up.rss "$dcr" -q -i "$dir/owner" upload sales.csv --name "sales-$i.csv" >ds
	t1=$EPOCHREALTIME
	up_rss=$(tail -1 up.rss)
	hwm_reset
	pub_before=$(rss)
	t2=$EPOCHREALTIME
	as publish "$room" sales "$(cat ds)" >/dev/null
	t3=$EPOCHREALTIME
	pub_rss=$(hwm)
	hwm_reset
	run_before=$(rss)
	t4=$EPOCHREALTIME
	job=$(as run "$room" by_region --wait)
	t5=$EPOCHREALTIME
	run_rss=$(hwm)
	t6=$EPOCHREALTIME
	/usr/bin/time -f %M -o fetch.rss "$dcr" -q -i "$dir/owner" fetch "$job" -o result.csv
	t7=$EPOCHREALTIME
	fetch_rss=$(tail -1 fetch.rss)
	after_rss=$(rss)
	# The job itself, between dcrd's "started" and "succeeded" lines (no polling in it).
	jt=$(awk -v j="$job" '$3 == "job" && $4 == j && $5 == "started" { s = $1 }
		$3 == "job" && $4 == j && $5 == "succeeded" { e = $1 } END { if (s && e) printf "%.3f", e - s }' dcrd.log)
	[ -n "$jt" ] || { echo "pipeline-bench: job $job did not succeed" >&2; tail -5 dcrd.log >&2; exit 1; }
	read -r up pub run fetch < <(awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" -v f="$t5" \
		-v g="$t6" -v h="$t7" 'BEGIN { printf "%.3f %.3f %.3f %.3f\n", b - a, d - c, f - e, h - g }')
	printf '  %-4s %8s %8s %8s %8s %8s   %9s %9s %9s %9s\n' "$i" "$up" "$pub" "$run" "$jt" "$fetch" \
		"$up_rss" "$pub_rss" "$run_rss" "$after_rss"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$up" "$pub" "$run" "$jt" "$fetch" \
		"$up_rss" "$pub_rss" "$run_rss" "$fetch_rss" "$after_rss" "$pub_before" "$run_before" >>steps.tsv
done

# The enclave computed what sqlite3 computed (counts exactly, sums to 9 digits).
python3 - result.csv sqlite-result.csv <<'EOF'
import csv, sys
a, b = (list(csv.reader(open(p))) for p in sys.argv[1:])
ok = len(a) == len(b) and a[0] == b[0] and all(
    x[:2] == y[:2] and abs(float(x[2]) - float(y[2])) <= 1e-9 * abs(float(y[2])) for x, y in zip(a[1:], b[1:]))
print("\nresult matches sqlite3: %s (%d groups)" % ("yes" if ok else "NO", len(a) - 1))
sys.exit(0 if ok else 1)
EOF

# ---- the summary ----
python3 - "$bytes" steps.tsv baselines.tsv <<'EOF'
import statistics, sys
mib = int(sys.argv[1]) / 1048576
steps = [list(map(float, l.split("\t"))) for l in open(sys.argv[2]) if l.strip()]
base = {}
for l in open(sys.argv[3]):
    if l.strip():
        name, t, rss = l.rstrip("\n").split("\t")
        base[name] = (float(t), int(rss))
col = lambda k: [r[k] for r in steps]
med = lambda k: statistics.median(col(k))
peak = lambda k: int(max(col(k)))
growth = lambda k, b: int(max(r[k] - r[b] for r in steps))

def floor(*names):  # the sum of some baselines' medians, if all were measured
    if not all(n in base for n in names):
        return "-", None
    return " + ".join(names), sum(base[n][0] for n in names)

sq = ("sqlite3 import+query", base["sqlite3 import+query"][0])
rows = [(name, t, "-", None, "%d KiB" % rss) for name, (t, rss) in base.items()]
rows += [
    ("dcr upload", med(0)) + floor("openssl dgst -sha256", "stream-tool enc") + ("%d KiB (dcr)" % peak(5),),
    ("dcr publish", med(1)) + floor("openssl dgst -sha256", "stream-tool dec") +
    ("%d KiB (dcrd, +%d)" % (peak(6), growth(6, 10)),),
    ("dcr run --wait", med(2)) + sq + ("%d KiB (dcrd, +%d)" % (peak(7), growth(7, 11)),),
    ("  the job inside dcrd", med(3)) + sq + ("",),
    ("publish + job", statistics.median(r[1] + r[3] for r in steps)) + sq + ("",),
    ("dcr fetch", med(4), "-", None, "%d KiB (dcr)" % peak(8)),
]
print("\n== summary: medians of %d runs, %.1f MiB of CSV; ratio = time / baseline time" % (len(steps), mib))
print("   (dcrd's peak RSS is the whole process's; +N: the most it grew over its RSS before the step)")
print("  %-22s %9s %9s  %-36s %6s  %s" % ("step", "median s", "MiB/s", "baseline", "ratio", "peak RSS"))
for name, t, bname, bt, rss in rows:
    rate = "%9.1f" % (mib / t) if name != "dcr fetch" else "%9s" % "-"
    ratio = "%6.2f" % (t / bt) if bt else "%6s" % "-"
    print("  %-22s %9.3f %s  %-36s %s  %s" % (name, t, rate, bname, ratio, rss))
print("dcrd RSS after the last run: %d KiB" % int(steps[-1][9]))
EOF
