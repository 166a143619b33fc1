#!/bin/bash
# A DuckDB job's SQL worker kept between jobs (dcrd(8), Jobs: kept workers)
# through the real dcr and dcrd: it holds its job's database, and the next
# job of the same room, computation and caller runs on it without loading
# or reading the store (the same process, a "cached" fact, the same
# result); a dataset published to its room ends it, and the next job
# loads the new data in a new worker (never the old answer); another
# caller or computation gets a worker of its own; at most two idle workers
# hold a DuckDB database; a kept worker dies with dcrd's kill -9 and
# ends when its room stops. Workers
# are found as dcrd's children in /proc; nothing here depends on timing but
# for upper bounds of a minute. --duckdb-worker-idle: bad values, the idle
# end, 0. Skipped without DuckDB.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
acme_room alice bob
cat >room/room.yaml <<'YAML'
version: 1
name: duckdb-warm
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload sales, run by_region, run notes, run regions, fetch by_region, fetch notes, fetch regions]
  bob@acme.example: [run by_region, fetch by_region]
data:
  sales:
    type: table
    columns: [{name: region, type: string}, {name: amount, type: int64}, {name: note, type: string}]
compute:
  by_region:
    type: sql
    engine: duckdb
    query: SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region
  notes:
    type: sql
    engine: duckdb
    query: SELECT COUNT(DISTINCT note) AS notes FROM sales
  regions:
    type: sql
    engine: duckdb
    query: SELECT COUNT(DISTINCT region) AS regions FROM sales
YAML

as_alice() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
as_bob() { "$DCR" -q -i "$TEST_TMP/bob" "$@"; }

# ROWS rows with SEED into FILE.
make_csv() {
	python3 - "$1" "$2" "$3" <<'PY'
import random, sys
random.seed(int(sys.argv[3]))
with open(sys.argv[1], "w") as f:
    f.write("region,amount,note\n")
    for i in range(int(sys.argv[2])):
        f.write(f"r{random.randrange(7)},{random.randrange(1000)},n{i}\n")
PY
}
make_csv one.csv 20000 1
make_csv two.csv 20001 2

# by_region AS FILE DESCRIPTION: run by_region as alice or bob and check the result against FILE. (A first run's
# worker writes the store after the answer; the room's next job waits for it.)
by_region() {
	local who=$1 file=$2 what=$3
	expect 0 "run by_region ($what)" "$who" run "$room" by_region -o got.csv || return 1
	checks=$((checks + 1))
	cmp -s got.csv <(region_totals "$file") || fail "by_region ($what) is wrong: $(diff got.csv <(region_totals "$file") | head -5)"
}

# The "cached" fact of the last job.finished entry ("-": none).
last_cached() {
	as_alice --json audit "$room" | python3 -c '
import json, sys
e = [e for e in json.load(sys.stdin)["entries"] if e["action"] == "job.finished"][-1]
print(" ".join(f["value"] for f in e["facts"] if f["key"] == "cached") or "-")'
}

# ---- the option ----
for bad in x 5 -1s 2h; do
	expect 2 "--duckdb-worker-idle $bad" "$DCRD" serve --data-dir bad --duckdb-worker-idle "$bad"
	has "$err" "invalid --duckdb-worker-idle '$bad'" "the bad value is named"
done

# A SQLite job's worker kept no longer than 0 (none): what is kept here is DuckDB's, for --duckdb-worker-idle.
start_dcrd data --sql-worker-idle 0 --duckdb-worker-idle 1h --sql-worker-jobs 5 || finish
run as_alice create room/room.yaml
checks=$((checks + 1))
if [ "$rc" = 6 ] && grep -q "has no DuckDB" <<<"$err"; then
	skip "dcr was built without DuckDB"
fi
[ "$rc" = 0 ] || { fail "create: exit $rc: $err"; finish; }
room=$out
expect 0 "upload" as_alice upload one.csv || finish
expect 0 "publish" as_alice publish "$room" sales "$out" || finish

# ---- kept: the next job runs in the same process, on the tables it holds ----
by_region as_alice one.csv "first run: loads the table"
has "$(last_cached)" '^-$' "the first run loaded the table"
w1=$(sql_workers)
checks=$((checks + 1))
[ "$(wc -w <<<"$w1")" = 1 ] || fail "one worker kept after the job, not '$w1'"
by_region as_alice one.csv "second run, in the kept worker"
has "$(last_cached)" '^sales$' "the second run counts the table as cached"
checks=$((checks + 1))
[ "$(sql_workers)" = "$w1" ] || fail "the second job did not run in the kept worker ($w1 -> $(sql_workers))"
# It reads no file: the store's copy deleted, the kept worker still answers from what it holds.
store=data/duckdb/$room
checks=$((checks + 1))
compgen -G "$store/*.duckdb.enc" >/dev/null || fail "no table in the store after the first run: $(ls "$store")"
mkdir -p aside
mv "$store"/*.duckdb.enc aside/
by_region as_alice one.csv "third run, the store's copy gone"
checks=$((checks + 1))
[ "$(sql_workers)" = "$w1" ] || fail "the third job did not run in the kept worker ($w1 -> $(sql_workers))"
mv aside/*.duckdb.enc "$store"/

# ---- a dataset published again: the kept worker ends at once; the next job loads the new dataset ----
expect 0 "upload another dataset" as_alice upload two.csv || finish
expect 0 "publish it to the same node" as_alice publish "$room" sales "$out" || finish
until_gone $w1 || fail "the worker holding the old dataset $w1 outlived the publish"
by_region as_alice two.csv "after the dataset changed"
has "$(last_cached)" '^-$' "the new dataset was loaded, not the held table used"
w2=$(sql_workers)
checks=$((checks + 1))
[ "$(wc -w <<<"$w2")" = 1 ] && [ "$w2" != "$w1" ] || fail "one new worker after the change, not '$w2' (was $w1)"
by_region as_alice two.csv "again on the new dataset"
has "$(last_cached)" '^sales$' "the kept worker holds the new dataset"
checks=$((checks + 1))
[ "$(sql_workers)" = "$w2" ] || fail "the job did not run in the new kept worker ($w2 -> $(sql_workers))"

# ---- another caller, another computation: a worker of their own; two hold a database at most ----
by_region as_bob two.csv "bob, the same computation"
checks=$((checks + 1))
[ "$(sql_workers | wc -l)" = 2 ] && sql_workers | grep -qx "$w2" || fail "bob's job ran in alice's worker: $(sql_workers)"
w3=$(sql_workers | grep -vx "$w2")
expect 0 "another computation" as_alice run "$room" notes -o -
has "$out" '^notes$' "its header"
has "$out" '^20001$' "its result"
until_gone $w2 || fail "a third kept DuckDB worker did not send the one idle longest ($w2) away"
checks=$((checks + 1))
[ "$(sql_workers | wc -l)" = 2 ] && sql_workers | grep -qx "$w3" || fail "not two kept DuckDB workers: $(sql_workers)"
by_region as_alice two.csv "alice again, her worker sent away"
checks=$((checks + 1))
! sql_workers | grep -qx "$w2" || fail "alice's job ran in a worker that was sent away: $(sql_workers)"

# ---- kill -9 of dcrd: the kept workers die with it; the next dcrd serves from the store ----
w=$(sql_workers)
kill -KILL "$DCRD_PID"
wait "$DCRD_PID" 2>/dev/null
until_gone $w || fail "the kept workers $w outlived dcrd's kill -9"
# --sql-worker-idle does not bound a worker that holds a DuckDB database; --duckdb-worker-idle does.
start_dcrd data --sql-worker-idle 1ms --duckdb-worker-idle 3s || finish
by_region as_alice two.csv "after the restart"
has "$(last_cached)" '^sales$' "the restarted dcrd read the store"
w=$(sql_workers)
checks=$((checks + 1))
[ "$(wc -w <<<"$w")" = 1 ] || fail "no worker kept past --sql-worker-idle 1ms: '$w'"
until_gone $w || fail "the worker $w did not end after --duckdb-worker-idle"
expect 0 "the room's log verifies" "$DCR" -i "$TEST_TMP/alice" audit "$room"
stop_dcrd

# ---- none kept with --duckdb-worker-idle 0, even with SQLite's kept: each job a new worker ----
start_dcrd data --sql-worker-idle 1h --duckdb-worker-idle 0 || finish
by_region as_alice two.csv "with --duckdb-worker-idle 0"
checks=$((checks + 1))
[ -z "$(sql_workers)" ] || fail "a worker is kept with --duckdb-worker-idle 0: $(sql_workers)"
by_region as_alice two.csv "again, from the store"
has "$(last_cached)" '^sales$' "it read the store"
stop_dcrd

# ---- the room stopped: its kept worker ends at once, with its store ----
start_dcrd data --duckdb-worker-idle 1h || finish
by_region as_alice two.csv "before the stop"
w=$(sql_workers)
checks=$((checks + 1))
[ "$(wc -w <<<"$w")" = 1 ] || fail "one worker kept before the stop, not '$w'"
expect 0 "stop the room" as_alice stop "$room"
until_gone $w || fail "the kept worker $w outlived the room's stop"
checks=$((checks + 1))
[ ! -e "$store" ] || fail "the stopped room's table store stayed: $(ls "$store")"
stop_dcrd
finish
