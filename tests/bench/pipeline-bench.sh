#!/usr/bin/env bash
# Measures the data path through the real dcr and a local dcrd (simulated
# enclave): upload, publish, run --wait and fetch of a CSV table, against
# baselines measured in the same session (run by hand).
#
# usage: tests/bench/pipeline-bench.sh BUILD_DIR [SIZE_MIB]
#   BUILD_DIR  a meson build directory with cmd/dcr/dcr, cmd/dcrd/dcrd and
#              (for two of the baselines) tests/bench/stream-tool
#   SIZE_MIB   size of the generated CSV table, default 256
#   RUNS=N     runs of every step and baseline (default 5)
#
# The room has one table node, sales (id int64, region string, amount
# float64, day date), and two SQL computations: by_region (GROUP BY region,
# COUNT, SUM), the one measured step by step, and total (COUNT and SUM
# without GROUP BY), whose job shows what loading the table costs without
# the sort a GROUP BY needs.
#
# Each run uploads a fresh dataset, publishes it, runs by_region with
# --wait, fetches the result, runs total with --wait, and then runs the
# sqlite3 shell on the same CSV the same way (three variants), so that the
# SQL baselines see the same machine load as the steps they are compared
# with. Streaming baselines (cat, sha256sum, openssl dgst, stream-tool) are
# measured once with hyperfine. Reported per step: the wall-clock median;
# for a job also the time between dcrd's "job ... started" and "succeeded"
# lines, which leaves out the polling of --wait (100 ms, doubling up to
# 2 s); the CPU time of the process doing the work (dcr for upload, dcrd
# for publish and the jobs, from /proc/PID/stat), which a busy machine
# disturbs less than wall time; and the peak RSS (GNU time for dcr and
# sqlite3; dcrd's VmHWM, reset before each step through
# /proc/PID/clear_refs).
#
# Needs python3, hyperfine, GNU time (/usr/bin/time), sqlite3, openssl, curl.
# Temporary files go under ${TMPDIR:-/tmp} (about RUNS + 3 times SIZE_MIB)
# and are removed on exit, and dcrd is killed.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

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

bench_begin pipeline-bench

# ---- the table: id int64, region string, amount float64, day date ----
bench_sales_csv "$size_mib" sales.csv
bytes=$(stat -c %s sales.csv)
rows=$(($(wc -l <sales.csv) - 1))
query='SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region'
total_query='SELECT COUNT(*) AS n, SUM(amount) AS total FROM sales'

# ---- a room, a CA and the owner, dcrd on a free loopback port (its stderr time-stamped: job start and end) ----
bench_sales_room bench "[upload sales, run by_region, fetch by_region, run total, fetch total]"
cat >>room/room.yaml <<YAML
compute:
  by_region:
    type: sql
    query: $query
  total:
    type: sql
    query: $total_query
YAML

bench_dcrd "$dcrd" "$dcr"
as() { "$dcr" -q -i "$dir/owner" "$@"; }

bench_machine
echo "sqlite3: $(sqlite3 --version | cut -d' ' -f1)"
echo "input: $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB of CSV, $rows rows, $runs runs"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dcrd RSS after start: $(awk '/^VmRSS/ { print $2 }' "/proc/$dcrd_pid/status") KiB"

# Warm the page cache, as stream-bench.sh does.
cat sales.csv >/dev/null

# ---- streaming baselines, with hyperfine (medians) and GNU time (peak RSS) ----
echo
echo "== streaming baselines ($runs runs each)"
: >baselines.tsv
baseline() { # name command
	hyperfine --runs "$runs" --warmup 1 --style none --export-json "b.json" "$2" >/dev/null 2>b.err ||
		{ cat b.err >&2; exit 1; }
	/usr/bin/time -f %M -o b.rss sh -c "$2" >/dev/null
	python3 - "$1" b.json "$(tail -1 b.rss)" >>baselines.tsv <<'EOF'
import json, sys
r = json.load(open(sys.argv[2]))["results"][0]
print("%s\t%s\t%s\t%s" % (sys.argv[1], r["median"], r["user"] + r["system"], sys.argv[3]))
EOF
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
awk -F'\t' '{ printf "  %-22s median %7.3f s  cpu %7.3f s  peak RSS %6d KiB\n", $1, $2, $3, $4 }' baselines.tsv

# sqlite3 on the same CSV, into the same STRICT table the SQL worker makes
# (cmd/dcrd/sqlwork.c), with the same queries. The worker sets temp_store =
# MEMORY (no plaintext in temporary files); the sqlite3 shell by default
# sorts a large GROUP BY through temporary files. Both are measured.
sqlite_script() { # FILE PRAGMA QUERY
	cat >"$1" <<EOF
$2
CREATE TABLE sales (id INTEGER, region TEXT, amount REAL, day TEXT) STRICT;
BEGIN;
.import --csv --skip 1 '$dir/sales.csv' sales
COMMIT;
.mode csv
.headers on
$3;
EOF
}
sqlite_script sq-memory.sql "PRAGMA temp_store = MEMORY;" "$query"
sqlite_script sq-default.sql "" "$query"
sqlite_script sq-total.sql "PRAGMA temp_store = MEMORY;" "$total_query"

# ---- the data path and the SQL baselines, RUNS times, a fresh dataset each time ----
hwm_reset() { echo 5 >"/proc/$dcrd_pid/clear_refs"; }
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$dcrd_pid/status"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$dcrd_pid/status"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
timed() { # NAME CMD...: runs CMD under GNU time; sets NAME (wall seconds), NAME_cpu, NAME_rss
	local t=$EPOCHREALTIME
	/usr/bin/time -f '%U %S %M' -o timed.out "${@:2}"
	printf -v "$1" %s "$(since "$t")"
	printf -v "$1_cpu" %s "$(awk '{ printf "%.2f", $1 + $2 }' timed.out)"
	printf -v "$1_rss" %s "$(awk '{ print $3 }' timed.out)"
}
cols=(upload upload_cpu upload_rss publish publish_cpu publish_rss publish_before
	run job job_cpu job_rss job_before fetch fetch_rss total_run total_job total_cpu total_rss total_before
	sq_memory sq_memory_cpu sq_memory_rss sq_default sq_default_cpu sq_default_rss sq_total sq_total_cpu sq_total_rss
	dcrd_after)
(IFS=$'\t'; echo "${cols[*]}") >steps.tsv
echo
echo "== data path and sqlite3, interleaved ($runs runs; seconds, peak RSS in KiB)"
printf '  %-3s %6s %7s %7s %7s %6s %7s | %7s %7s %7s | %7s %8s %8s %8s\n' run upload publish run "(job)" fetch \
	"(total)" "sq mem" "sq def" "sq tot" "dcr up" "dcrd pub" "dcrd job" "dcrd tot"
# The loop sets the variables named in cols (directly or through timed) and
# writes them out as ${!c}, which shellcheck cannot follow.
# shellcheck disable=SC2034,SC2154
for i in $(seq "$runs"); do
	timed upload "$dcr" -q -i "$dir/owner" upload sales.csv --name "sales-$i.csv" >ds

	hwm_reset
	publish_before=$(rss)
	c=$(bench_dcrd_cpu)
	t=$EPOCHREALTIME
	as publish "$room" sales "$(cat ds)" >/dev/null
	publish=$(since "$t")
	publish_cpu=$(minus "$(bench_dcrd_cpu)" "$c")
	publish_rss=$(hwm)

	hwm_reset
	job_before=$(rss)
	c=$(bench_dcrd_cpu)
	t=$EPOCHREALTIME
	job_id=$(as run "$room" by_region --wait)
	run=$(since "$t")
	job_cpu=$(minus "$(bench_dcrd_cpu)" "$c")
	job_rss=$(hwm)
	job=$(bench_job_time "$job_id")

	timed fetch "$dcr" -q -i "$dir/owner" fetch "$job_id" -o result.csv

	hwm_reset
	total_before=$(rss)
	c=$(bench_dcrd_cpu)
	t=$EPOCHREALTIME
	total_id=$(as run "$room" total --wait)
	total_run=$(since "$t")
	total_cpu=$(minus "$(bench_dcrd_cpu)" "$c")
	total_rss=$(hwm)
	total_job=$(bench_job_time "$total_id")
	as fetch "$total_id" -o total.csv
	dcrd_after=$(rss)

	timed sq_memory sqlite3 :memory: <sq-memory.sql >sqlite-result.csv
	timed sq_default sqlite3 :memory: <sq-default.sql >/dev/null
	timed sq_total sqlite3 :memory: <sq-total.sql >/dev/null

	printf '  %-3s %6s %7s %7s %7s %6s %7s | %7s %7s %7s | %7s %8s %8s %8s\n' "$i" "$upload" "$publish" "$run" \
		"$job" "$fetch" "$total_job" "$sq_memory" "$sq_default" "$sq_total" \
		"$upload_rss" "$publish_rss" "$job_rss" "$total_rss"
	vals=()
	for c in "${cols[@]}"; do vals+=("${!c}"); done
	(IFS=$'\t'; echo "${vals[*]}") >>steps.tsv
done
echo "  (job, total: the by_region and total jobs inside dcrd; sq mem, sq def, sq tot: sqlite3 with"
echo "   the GROUP BY and temp_store=MEMORY, the GROUP BY and the default temp_store, the total)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# The enclave computed what sqlite3 computed (counts exactly, sums to 9 digits).
python3 - result.csv sqlite-result.csv total.csv "$rows" <<'EOF'
import csv, sys
a, b, t = (list(csv.reader(open(p))) for p in sys.argv[1:4])
ok = len(a) == len(b) and a[0] == b[0] and all(
    x[:2] == y[:2] and abs(float(x[2]) - float(y[2])) <= 1e-9 * abs(float(y[2])) for x, y in zip(a[1:], b[1:]))
ok = ok and t[1][0] == sys.argv[4] and sum(int(x[1]) for x in a[1:]) == int(sys.argv[4])
print("\nresults match sqlite3 and the row count: %s (%d groups)" % ("yes" if ok else "NO", len(a) - 1))
sys.exit(0 if ok else 1)
EOF

# ---- the summary ----
python3 - "$bytes" steps.tsv baselines.tsv <<'EOF'
import csv, statistics, sys
mib = int(sys.argv[1]) / 1048576
steps = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")]
med = lambda k: statistics.median(r[k] for r in steps)
peak = lambda k: int(max(r[k] for r in steps))
growth = lambda k, b: int(max(r[k] - r[b] for r in steps))
base = {}
for l in open(sys.argv[3]):
    if l.strip():
        name, t, c, rss = l.rstrip("\n").split("\t")
        base[name] = (float(t), float(c), "%d KiB" % int(rss))
base["sqlite3 GROUP BY, temp_store=MEMORY"] = (med("sq_memory"), med("sq_memory_cpu"), "%d KiB" % peak("sq_memory_rss"))
base["sqlite3 GROUP BY, default temp_store"] = (med("sq_default"), med("sq_default_cpu"), "%d KiB" % peak("sq_default_rss"))
base["sqlite3 total (no GROUP BY)"] = (med("sq_total"), med("sq_total_cpu"), "%d KiB" % peak("sq_total_rss"))

def against(*names):  # (label, wall, cpu): the sums of some baselines' medians, if all were measured
    if not all(n in base for n in names):
        return ("-", None, None)
    return (" + ".join(names), sum(base[n][0] for n in names), sum(base[n][1] for n in names))

dcrd = lambda k, b: "%d KiB (dcrd, +%d)" % (peak(k), growth(k, b))
sq = against("sqlite3 GROUP BY, temp_store=MEMORY")
rows = [(name, t, c, ("-", None, None), rss) for name, (t, c, rss) in base.items()]
rows += [
    ("dcr upload", med("upload"), med("upload_cpu"), against("openssl dgst -sha256", "stream-tool enc"),
     "%d KiB (dcr)" % peak("upload_rss")),
    ("dcr publish", med("publish"), med("publish_cpu"), against("openssl dgst -sha256", "stream-tool dec"),
     dcrd("publish_rss", "publish_before")),
    ("dcr run --wait by_region", med("run"), med("job_cpu"), sq, dcrd("job_rss", "job_before")),
    ("  the job in dcrd", med("job"), med("job_cpu"), sq, ""),
    ("  the job in dcrd", med("job"), med("job_cpu"), against("sqlite3 GROUP BY, default temp_store"), ""),
    ("publish + job", statistics.median(r["publish"] + r["job"] for r in steps),
     statistics.median(r["publish_cpu"] + r["job_cpu"] for r in steps), sq, ""),
    ("dcr fetch", med("fetch"), None, ("-", None, None), "%d KiB (dcr)" % peak("fetch_rss")),
    ("dcr run --wait total", med("total_run"), med("total_cpu"), against("sqlite3 total (no GROUP BY)"),
     dcrd("total_rss", "total_before")),
    ("  the job in dcrd", med("total_job"), med("total_cpu"), against("sqlite3 total (no GROUP BY)"), ""),
]
print("\n== summary: medians of %d runs, %.1f MiB of CSV" % (len(steps), mib))
print("   ratio = step / baseline, of the wall-clock and of the CPU medians; dcrd's peak RSS is the whole")
print("   process's, +N KiB the most it grew over its RSS before the step; dcrd's CPU for run --wait is the job's")
print("  %-37s %8s %8s %8s  %-38s %5s %5s  %s" % ("step", "wall s", "MiB/s", "cpu s", "baseline", "wall", "cpu",
                                                "peak RSS"))
fmt = lambda x, f: f % x if x is not None else "%*s" % (len(f % 0), "-")
for name, t, c, (bname, bt, bc), rss in rows:
    rate = fmt(mib / t if name != "dcr fetch" else None, "%8.1f")
    print("  %-37s %8.3f %s %s  %-38s %s %s  %s" % (name, t, rate, fmt(c, "%8.2f"), bname,
          fmt(t / bt if bt else None, "%5.2f"), fmt(c / bc if bc and c is not None else None, "%5.2f"), rss))
print("dcrd RSS after the last run: %d KiB" % int(steps[-1]["dcrd_after"]))
EOF
