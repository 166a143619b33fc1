#!/usr/bin/env bash
# Issue 18's targets for the DuckDB engine (run by hand): the by_region job
# (GROUP BY region, COUNT, SUM) with engine duckdb on the benchmark's sales
# table, against DuckDB's own load (read_csv with the declared types) and
# the same query in a plain C program (tests/bench/duckdb-base.c, compiled
# here against the installed libduckdb) with the same thread count and
# memory limit; a second run of the same job right after the first, in
# the SQL worker dcrd kept with the first's tables in memory; and a third,
# in a new worker (the kept one killed first), which reads the table dcrd
# kept in its table store instead of loading it (checked: the "cached"
# fact of each second and third job's audit entry).
#
# usage: tests/bench/duckdb-bench.sh BUILD_DIR [SIZE_MIB]
#   BUILD_DIR  a meson build directory with cmd/dcr/dcr and cmd/dcrd/dcrd,
#              built with DuckDB
#   SIZE_MIB   size of the generated CSV, default 256
#   RUNS=N     runs (default 5); each uploads and publishes a fresh dataset
#              (one id changed), runs by_region three times, then the
#              baseline
#   THREADS=N  DuckDB's threads, in dcrd (serve --duckdb-threads) and in the
#              baseline (default: nproc; a dcrd without the option: 1 only)
#   MEMORY=S   DuckDB's memory limit, in dcrd (serve --max-sql-memory) and in
#              the baseline (default 1GiB, dcrd's default)
#
# Reported, as medians: the job's wall time (between dcrd's "job N
# started" and "succeeded" lines: the answer), the time until its table
# is in the store ("kept": a first run writes it after the answer), the
# CPU time of dcrd and its SQL worker for the whole job, the store's
# writing included (dcrd's utime + stime + cutime + cstime once dcrd has
# no child left: the worker is a child it waits for), the baseline's wall and CPU time and peak RSS (GNU
# time), and the ratios. Needs python3, GNU time (/usr/bin/time), a C
# compiler, pkg-config, openssl, curl.
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"

build=${1:?usage: duckdb-bench.sh BUILD_DIR [SIZE_MIB]}
size_mib=${2:-256}
runs=${RUNS:-5}
threads=${THREADS:-$(nproc)}
memory=${MEMORY:-1GiB}
src=$(realpath "$(dirname "$0")")
build=$(realpath "$build")
dcr=$build/cmd/dcr/dcr
dcrd=$build/cmd/dcrd/dcrd
for prog in "$dcr" "$dcrd"; do
	[ -x "$prog" ] || { echo "duckdb-bench: $prog not built" >&2; exit 1; }
done
for prog in python3 /usr/bin/time "${CC:-cc}" pkg-config openssl curl; do
	command -v "$prog" >/dev/null || { echo "duckdb-bench: $prog not found" >&2; exit 1; }
done
pkg-config --exists duckdb || { echo "duckdb-bench: no DuckDB (pkg-config duckdb)" >&2; exit 1; }

bench_begin duckdb-bench
# shellcheck disable=SC2046 # pkg-config's flags are words
"${CC:-cc}" -O2 -o duckdb-base "$src/duckdb-base.c" -I"$src/../../cmd/dcrd" $(pkg-config --cflags --libs duckdb)
bench_sales_csv "$size_mib" sales.csv
bytes=$(stat -c %s sales.csv)
rows=$(($(wc -l <sales.csv) - 1))
query='SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region'

bench_sales_room duckdb-bench "[upload sales, run by_region, fetch by_region]"
cat >>room/room.yaml <<YAML
compute:
  by_region:
    type: sql
    engine: duckdb
    query: $query
YAML
# A dcrd from before --duckdb-threads runs DuckDB on one thread: it can be measured with THREADS=1.
# (A kept worker holding a DuckDB database waits a minute for the next job by default: --duckdb-worker-idle.)
if "$dcrd" serve --help 2>&1 | grep -q -- --duckdb-threads; then
	bench_dcrd "$dcrd" "$dcr" --duckdb-threads "$threads" --max-sql-memory "$memory"
elif [ "$threads" = 1 ]; then
	bench_dcrd "$dcrd" "$dcr" --max-sql-memory "$memory"
else
	echo "duckdb-bench: this dcrd has no --duckdb-threads: measure it with THREADS=1" >&2
	exit 1
fi
as() { "$dcr" -q -i "$dir/owner" "$@"; }

bench_machine
echo "duckdb: $(pkg-config --modversion duckdb), $threads threads, memory limit $memory"
echo "input: $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }') MiB of CSV, $rows rows, $runs runs"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
cat sales.csv >/dev/null

# VAR: runs by_region; sets VAR (seconds to the answer), VAR_kept (to the table written into the store, which a
# first run does after its answer) and VAR_cpu (dcrd's and its worker's CPU, the writing of the store included)
job() {
	local c id
	bench_dcrd_settle
	c=$(bench_dcrd_cpu)
	id=$(as run "$room" by_region --wait)
	bench_dcrd_settle
	printf -v "$1_cpu" %s "$(awk -v a="$c" -v b="$(bench_dcrd_cpu)" 'BEGIN { printf "%.2f", b - a }')"
	printf -v "$1" %s "$(bench_job_time "$id")"
	printf -v "$1_kept" %s "$(bench_job_kept "$id")"
	as fetch "$id" -o "$1.csv"
}

echo
echo "== runs (seconds; CPU of dcrd and its worker; the baseline's peak RSS in KiB)"
printf '  %-3s %8s %8s %8s %8s %8s %8s %8s %8s %8s %9s\n' run first kept cpu second cpu third cpu base cpu "base RSS"
echo "first first_kept first_cpu second second_cpu third third_cpu base base_cpu base_rss" >runs.txt
# shellcheck disable=SC2154 # first, second and their _cpu are set by job
for i in $(seq "$runs"); do
	# A dataset of its own per run (the last row's id, which the query does not read, is -RUN): the store
	# keeps a table for the dataset's plaintext, and the same bytes again would skip the first run's load.
	{ head -n -1 sales.csv; tail -n 1 sales.csv | sed "s/^[^,]*,/-$i,/"; } >run.csv
	as publish "$room" sales "$(as upload run.csv --name "sales-$i.csv")" >/dev/null
	job first
	job second
	# A new worker: the kept one, which holds the table, gone.
	pkill -KILL -P "$dcrd_pid" -f sql-worker || true
	job third
	/usr/bin/time -f '%e %U %S %M' -o base.time ./duckdb-base sales.csv "$threads" "$memory" "$query" >base.csv
	read -r base base_user base_sys base_rss <base.time
	base_cpu=$(awk -v a="$base_user" -v b="$base_sys" 'BEGIN { printf "%.2f", a + b }')
	printf '  %-3s %8s %8s %8s %8s %8s %8s %8s %8s %8s %9s\n' "$i" "$first" "$first_kept" "$first_cpu" "$second" \
		"$second_cpu" "$third" "$third_cpu" "$base" "$base_cpu" "$base_rss"
	echo "$first $first_kept $first_cpu $second $second_cpu $third $third_cpu $base $base_cpu $base_rss" >>runs.txt
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# The effect: each first run loaded the fresh dataset, each second and third one used the table dcrd kept (the
# "cached" fact of its job.finished entry in the audit log, dcr-room(5)): in the kept worker, then the store.
as --json audit "$room" | python3 -c '
import json, sys
cached = [any(f["key"] == "cached" for f in e["facts"])
          for e in json.load(sys.stdin)["entries"] if e["action"] == "job.finished"]
first, second, third = cached[0::3], cached[1::3], cached[2::3]
print("\ntables kept: first runs %d of %d, second runs %d of %d, third runs %d of %d" % (
      sum(first), len(first), sum(second), len(second), sum(third), len(third)))
sys.exit(0 if not any(first) and all(second) and all(third) else 1)' || {
	echo "duckdb-bench: the later runs did not all use the kept table (or a first run did)" >&2
	exit 1
}

# The job computed what DuckDB computed (counts exactly, sums to 12 digits: with several threads DuckDB
# adds doubles in an order its threads decide), and so did the second run.
python3 - first.csv second.csv third.csv base.csv "$rows" <<'EOF'
import csv, sys
a, s, t, b = (list(csv.reader(open(p))) for p in sys.argv[1:5])
same = lambda a, b: len(a) == len(b) and a[0] == b[0] and all(
    x[:2] == y[:2] and abs(float(x[2]) - float(y[2])) <= 1e-12 * abs(float(y[2])) for x, y in zip(a[1:], b[1:]))
ok = same(a, b) and same(s, b) and same(t, b) and sum(int(x[1]) for x in a[1:]) == int(sys.argv[5])
print("\nresults match the baseline's and the row count: %s (%d groups); later runs' bytes %s" % (
      "yes" if ok else "NO", len(a) - 1, "identical" if a == s == t else "differ in the last digits of a sum"))
sys.exit(0 if ok else 1)
EOF

python3 - runs.txt <<'EOF'
import statistics, sys
lines = open(sys.argv[1]).read().split("\n")
names = lines[0].split()
runs = [dict(zip(names, map(float, l.split()))) for l in lines[1:] if l.strip()]
med = lambda k: statistics.median(r[k] for r in runs)
print("\n== summary: medians of %d runs" % len(runs))
print("  %-40s %8s %8s" % ("", "wall s", "cpu s"))
print("  %-40s %8.3f %8.2f   peak RSS %d KiB" % ("baseline: DuckDB read_csv + query", med("base"), med("base_cpu"),
      max(r["base_rss"] for r in runs)))
print("  %-40s %8.3f %8.2f" % ("by_region job, first run (to the answer)", med("first"), med("first_cpu")))
print("  %-40s %8.3f" % ("  ... until its table is in the store", med("first_kept")))
print("  %-40s %8.3f %8.2f" % ("by_region job, second run (kept worker)", med("second"), med("second_cpu")))
print("  %-40s %8.3f %8.2f" % ("by_region job, third run (the store)", med("third"), med("third_cpu")))
print("  first run / baseline:  wall %.2fx  cpu %.2fx   (target: at most 1.3x; the cpu includes writing the store)" % (
      med("first") / med("base"), med("first_cpu") / med("base_cpu")))
print("  first run until kept / baseline: wall %.2fx" % (med("first_kept") / med("base")))
print("  second run / first:    wall %.2fx  cpu %.2fx   (target: at most 0.1x)" % (
      med("second") / med("first"), med("second_cpu") / max(med("first_cpu"), 0.01)))
print("  third run / first:     wall %.2fx  cpu %.2fx   (a new worker, from the store)" % (
      med("third") / med("first"), med("third_cpu") / max(med("first_cpu"), 0.01)))
EOF
