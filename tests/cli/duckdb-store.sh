#!/bin/bash
# The DuckDB engine's table store (dcrd(8), "Files in the data directory")
# through the real dcr and dcrd: a second run of a job reads its table from
# the room's encrypted file instead of loading it again (a "cached" fact in
# its job.finished entry), a new dataset published to the node is loaded
# again, no file of the data directory holds a byte of plaintext, a kill -9
# during a load leaves nothing that is trusted later (nor does a stored
# file cut short), a query that needs more than the memory limit fails
# rather than spill, the job's directory goes with the job, and the room's
# tables go when it stops. No SQL worker is kept between jobs here
# (--duckdb-worker-idle 0): each job reads the store (duckdb-warm.sh tests a
# kept worker). Skipped without DuckDB.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: duckdb-store
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload sales, run by_region, fetch by_region, run by_note, fetch by_note, read-audit, stop]
data:
  sales:
    type: table
    columns: [{name: region, type: string}, {name: amount, type: int64}, {name: note, type: string}]
compute:
  by_region:
    type: sql
    engine: duckdb
    query: SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region
  by_note:
    type: sql
    engine: duckdb
    query: SELECT COUNT(*) AS notes, MAX(n) AS most FROM (SELECT note, COUNT(*) AS n FROM sales GROUP BY note)
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

# ROWS rows, each note unique and holding the marker, into FILE.
make_csv() {
	python3 - "$1" "$2" <<'PY'
import random, sys
random.seed(int(sys.argv[2]))
with open(sys.argv[1], "w") as f:
    f.write("region,amount,note\n")
    for i in range(int(sys.argv[2])):
        f.write(f"r{random.randrange(7)},{random.randrange(1000)},PLAINMARK{i:08d}x{random.getrandbits(64):016x}\n")
PY
}
make_csv small.csv 3000
make_csv big.csv 400000
make_csv other.csv 3001
make_csv mid.csv 50000

# The SQL worker may use 24 MiB: by_note's groups over big.csv take more.
start_dcrd data --max-sql-memory 24MiB --duckdb-worker-idle 0 || finish
run as create room/room.yaml
checks=$((checks + 1))
if [ "$rc" = 6 ] && grep -q "has no DuckDB" <<<"$err"; then
	skip "dcr was built without DuckDB"
fi
[ "$rc" = 0 ] || { fail "create: exit $rc: $err"; finish; }
room=$out
store=data/duckdb/$room

# Run by_region and check its result against FILE.
run_by_region() {
	expect 0 "run by_region ($2)" as run "$room" by_region --wait || return 1
	expect 0 "fetch by_region ($2)" as fetch "$out" -o got.csv || return 1
	checks=$((checks + 1))
	cmp -s got.csv <(region_totals "$1") || fail "by_region ($2) is wrong: $(diff got.csv <(region_totals "$1") | head -5)"
}

# The "cached" facts of each job.finished entry, one line per job.
cached_facts() {
	as --json audit "$room" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    if e["action"] == "job.finished":
        print(" ".join(f["value"] for f in e["facts"] if f["key"] == "cached") or "-")'
}

# table_holder 1|2: a SQL worker of dcrd's (1) or a child of one (2: a keeper) that holds a table in a memfd.
table_holder() {
	local worker child
	for worker in $(pgrep -P "$DCRD_PID"); do
		for child in $([ "$1" = 1 ] && echo "$worker" || pgrep -P "$worker"); do
			ls -l "/proc/$child/fd" 2>/dev/null | grep -q 'memfd:dcr-table' && echo "$child" && return 0
		done
	done
	return 1
}

# No file under the data directory holds a marker.
no_plaintext() {
	checks=$((checks + 1))
	if grep -rl PLAINMARK data >leaks 2>/dev/null; then
		fail "plaintext on disk ($1): $(head -3 leaks)"
	fi
}

expect 0 "upload" as upload small.csv || finish
small=$out
expect 0 "publish" as publish "$room" sales "$small" || finish
run_by_region small.csv "first run"
run_by_region small.csv "second run"
run_by_region small.csv "third run"
has "$(cached_facts)" $'^-\nsales\nsales$' "the first run loads the table, the next two read it from the store"
no_plaintext "after three runs"
files=("$store"/*.duckdb.enc)
checks=$((checks + 1))
[ "${#files[@]}" = 1 ] && [ -f "${files[0]}" ] || fail "one file in the room's store: ${files[*]}"
checks=$((checks + 1))
[ "$(stat -c %a "$store")" = 700 ] && [ "$(stat -c %a "${files[0]}")" = 600 ] ||
	fail "the store is not private: $(stat -c '%a %n' "$store" "${files[0]}")"
checks=$((checks + 1))
compgen -G "$store/job-*" >/dev/null && fail "a job directory stayed: $(ls "$store")"

# A new dataset on the node: loaded again, the old table's file gone.
old_file=${files[0]}
expect 0 "upload other" as upload other.csv || finish
expect 0 "publish other" as publish "$room" sales "$out" || finish
run_by_region other.csv "after republishing"
run_by_region other.csv "after republishing, again"
has "$(cached_facts | tail -2)" $'^-\nsales$' "republishing loads the table again, once"
files=("$store"/*.duckdb.enc)
checks=$((checks + 1))
[ "${#files[@]}" = 1 ] && [ "${files[0]}" != "$old_file" ] || fail "the old table's file stayed: ${files[*]}"

# Back to the first dataset: its table is loaded again (its file went), and is right.
expect 0 "publish small again" as publish "$room" sales "$small" || finish
run_by_region small.csv "the first dataset again"

# ---- kill -9 while a table loads ----
expect 0 "upload big" as upload big.csv || finish
big=$out
expect 0 "publish big" as publish "$room" sales "$big" || finish
kept=$(ls "$store")
expect 0 "start by_region on big" as run "$room" by_region || finish
job=$out
# While a table loads, the SQL worker holds it in a memfd; it is stopped there, and dcrd killed.
loading=
for i in $(seq 3000); do
	loading=$(table_holder 1) && break
	sleep 0.01
done
checks=$((checks + 1))
if [ -z "$loading" ]; then
	fail "no table was loading into memory"
	finish
fi
kill -STOP "$loading"
jobdir=$(compgen -G "$store/job-*" | head -1)
checks=$((checks + 1))
[ -n "$jobdir" ] && [ -d "/dev/shm/dcrd-duckdb-${jobdir##*/job-}" ] ||
	fail "no job directory and links while a table loads: $jobdir"
no_plaintext "during a load"
stop_dcrd KILL
checks=$((checks + 1))
[ "$(ls "$store" | grep -v '^job-')" = "$kept" ] || fail "kill -9 during a load changed the store: $(ls "$store")"
start_dcrd data --max-sql-memory 24MiB --duckdb-worker-idle 0 || finish
checks=$((checks + 1))
[ -e "$jobdir" ] && fail "the job directory of the killed dcrd stayed: $jobdir"
links=/dev/shm/dcrd-duckdb-${jobdir##*/job-}
checks=$((checks + 1))
[ -e "$links" ] && fail "its links into memory stayed: $links"
has "$(cat "$TEST_TMP/dcrd.log")" "removed 1 job directory of the table store" "dcrd says it removed it"
# The interrupted job runs again and loads the table; the next job reads it from the store.
expect 0 "fetch the job that kill -9 interrupted" as fetch "$job" -o got.csv
checks=$((checks + 1))
cmp -s got.csv <(region_totals big.csv) || fail "the interrupted job's result is wrong: $(diff got.csv <(region_totals big.csv) | head -5)"
run_by_region big.csv "after kill -9 during a load"
has "$(cached_facts | tail -2)" $'^-\nsales$' "the table cut short is loaded again, then read from the store"

# A stored file cut short (a crash while it was written, or the host) is loaded again, not trusted.
files=("$store"/*.duckdb.enc)
truncate -s $(($(stat -c %s "${files[0]}") / 2)) "${files[0]}"
run_by_region big.csv "after the stored file was cut short"
has "$(cached_facts | tail -1)" '^-$' "the file cut short is not used"
no_plaintext "after the loads of big.csv"

# ---- no spilling ----
# by_note's groups need more than 24 MiB: the job fails (DuckDB 1.5.6 cannot encrypt what it would spill).
expect 7 "by_note needs more memory than the limit" as run "$room" by_note -o notes.csv
has "$err" "Out of Memory" "it says why"
checks=$((checks + 1))
compgen -G "$store/job-*" >/dev/null && fail "a job directory stayed: $(ls "$store")"
no_plaintext "after by_note"

# ---- kill -9 while a keeper writes ----
# mid.csv (about 2 MiB) is at most a third of the 24 MiB limit: loaded in memory, a keeper (a child of the SQL
# worker) writes it into the store while the query runs. The keeper is stopped while it writes, and dcrd killed:
# nothing of it is in the store or on disk, the job's answer comes (now or when it runs again), and the table is
# loaded again, then read from the store.
expect 0 "upload mid" as upload mid.csv || finish
expect 0 "publish mid" as publish "$room" sales "$out" || finish
kept=$(ls "$store" | grep -v '^job-')
expect 0 "start by_region on mid" as run "$room" by_region || finish
job=$out
keeper=
for i in $(seq 3000); do
	keeper=$(table_holder 2) && break
	sleep 0.005
done
checks=$((checks + 1))
if [ -z "$keeper" ]; then
	fail "no keeper was writing a table"
	finish
fi
kill -STOP "$keeper"
no_plaintext "while a keeper writes"
stop_dcrd KILL
checks=$((checks + 1))
[ "$(ls "$store" | grep -v '^job-')" = "$kept" ] || fail "kill -9 during a keeper's write changed the store: $(ls "$store")"
kill -KILL "$keeper" 2>/dev/null
start_dcrd data --max-sql-memory 24MiB --duckdb-worker-idle 0 || finish
expect 0 "fetch the job whose keeper was stopped" as fetch "$job" -o got.csv
checks=$((checks + 1))
cmp -s got.csv <(region_totals mid.csv) || fail "that job's result is wrong: $(diff got.csv <(region_totals mid.csv) | head -5)"
run_by_region mid.csv "after kill -9 during a keeper's write"
run_by_region mid.csv "and again"
has "$(cached_facts | tail -1)" '^sales$' "the table is kept again, then read from the store"
no_plaintext "after the keeper's kill"

# ---- stop ----
expect 0 "stop the room" as stop "$room"
checks=$((checks + 1))
[ -e "$store" ] && fail "the room's store stayed after stop: $(ls "$store")"

# A stopped room's store that a stop of dcrd left (the room stopped while a job's keeper wrote, then dcrd
# stopped before the job ended: review D6-4) goes at the next start.
stop_dcrd
mkdir -p "$store" && echo left >"$store/$(printf 'a%.0s' {1..32})-$(printf 'b%.0s' {1..32}).duckdb.enc"
start_dcrd data --max-sql-memory 24MiB --duckdb-worker-idle 0 || finish
checks=$((checks + 1))
[ -e "$store" ] && fail "a stopped room's store stayed after a restart: $(ls "$store")"

finish
