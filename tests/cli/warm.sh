#!/bin/bash
# A room's SQL worker kept warm between its jobs (--sql-worker-idle,
# --sql-worker-jobs): the next job of the room runs in the same process,
# with the same results as in a new one; it ends after its last job, on
# any failure (its time limit included), when idle, with dcrd's kill -9
# (then no process is left and the state is intact), and none is kept with
# --sql-worker-idle 0. Workers are found as dcrd's children in /proc;
# nothing here depends on timing but for upper bounds of a minute.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cp "$SRCDIR/examples/salary-sum/acme_pay.csv" .
cat >room/room.yaml <<'YAML'
version: 1
name: warm
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload acme_pay, run total, run one, run forever, run unread, fetch total]
  bob@acme.example: [run total]
data:
  acme_pay:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
  unpublished:
    type: table
    columns: [{name: v, type: int64}]
compute:
  total:
    type: sql
    query: SELECT COUNT(*) AS n, SUM(salary) AS total, MAX(name) AS last FROM acme_pay
  one:
    type: sql
    query: SELECT 1 AS one
  unread:
    type: sql
    query: SELECT COUNT(*) AS n FROM unpublished
  # Runs until its time is up (--max-job-time), or until dcrd is killed.
  forever:
    type: sql
    query: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
      SELECT COUNT(*) AS n FROM c
YAML

as_alice() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
as_bob() { "$DCR" -q -i "$TEST_TMP/bob" "$@"; }

# same_total DESCRIPTION: $out is the first job's result, byte for byte.
same_total() {
	checks=$((checks + 1))
	[ "$out" = "$total" ] || fail "$1: '$out', not '$total'"
}

# ---- the options ----
for bad in x 5 -1s 2h; do
	expect 2 "--sql-worker-idle $bad" "$DCRD" serve --data-dir bad --sql-worker-idle "$bad"
	has "$err" "invalid --sql-worker-idle '$bad'" "the bad value is named"
done
for bad in 0 x; do
	expect 2 "--sql-worker-jobs $bad" "$DCRD" serve --data-dir bad --sql-worker-jobs "$bad"
	has "$err" "invalid --sql-worker-jobs '$bad'" "the bad value is named"
done

# ---- kept: the same process runs the next jobs of the room, computation and caller, up to --sql-worker-jobs ----
start_dcrd data --sql-worker-idle 1h --sql-worker-jobs 3 --max-job-time 3s || finish
expect 0 "create" as_alice create room/room.yaml || finish
room=$out
expect 0 "upload" as_alice upload acme_pay.csv || finish
expect 0 "publish" as_alice publish "$room" acme_pay "$out" || finish
expect 0 "first job" as_alice run "$room" total -o -
total=$out
has "$total" "^5,[0-9.]+,Grace Hopper$" "the result"
w1=$(sql_workers)
checks=$((checks + 1))
[ "$(wc -w <<<"$w1")" = 1 ] || fail "one worker kept after the job, not '$w1'"
expect 0 "second job" as_alice run "$room" total --wait
checks=$((checks + 1))
[ "$(sql_workers)" = "$w1" ] || fail "the second job did not run in the kept worker ($w1 -> $(sql_workers))"
# Another computation, or another caller, never gets that worker (review W-1): a new one each.
expect 0 "another computation" as_alice run "$room" one --wait
checks=$((checks + 1))
[ "$(sql_workers | wc -l)" = 2 ] && sql_workers | grep -qx "$w1" || fail "another computation's job ran in total's worker: $(sql_workers)"
expect 0 "another caller" as_bob run "$room" total --wait
checks=$((checks + 1))
[ "$(sql_workers | wc -l)" = 3 ] && sql_workers | grep -qx "$w1" || fail "bob's job ran in alice's worker: $(sql_workers)"
expect 0 "third job" as_alice run "$room" total -o -
same_total "the same result in a kept worker as in a new one"
checks=$((checks + 1))
! sql_workers | grep -qx "$w1" || fail "a worker that ran --sql-worker-jobs jobs is kept: $(sql_workers)"
until_gone $w1 || fail "the worker $w1 still runs after its last job"
stop_dcrd
start_dcrd data --sql-worker-idle 1h --sql-worker-jobs 3 --max-job-time 3s || finish

# ---- any failure ends it; the next job gets a new one ----
for failing in unread:4 forever:7; do
	status=${failing#*:}
	failing=${failing%:*}
	expect 0 "a job to warm a worker" as_alice run "$room" one --wait
	w=$(sql_workers)
	checks=$((checks + 1))
	[ -n "$w" ] || fail "no worker kept before $failing"
	# It runs in a worker of its own (another computation), which its failure ends; one's is left alone.
	expect "$status" "$failing fails" as_alice run "$room" "$failing" --wait
	checks=$((checks + 1))
	[ "$(sql_workers)" = "$w" ] || fail "a worker is kept after $failing failed: $(sql_workers), not $w"
done
expect 0 "a job after the failures" as_alice run "$room" total -o -
same_total "its result"
checks=$((checks + 1))
[ "$(sql_workers | wc -l)" = 2 ] || fail "the job after a failure did not get a new worker: $(sql_workers)"

# ---- kill -9 of dcrd: with a worker kept idle, and with one running a job ----
w=$(sql_workers)
kill -KILL "$DCRD_PID"
wait "$DCRD_PID" 2>/dev/null
until_gone $w || fail "the idle worker $w outlived dcrd's kill -9"
start_dcrd data --sql-worker-idle 1h --max-job-time 1h || finish
expect 0 "after the restart" as_alice run "$room" one --wait
w=$(sql_workers)
expect 0 "a job that runs on, beside the kept worker" as_alice run "$room" forever
job=$out
for _ in $(seq 1200); do
	grep -q "^dcrd: job $job started$" dcrd.log && break
	sleep 0.05
done
checks=$((checks + 1))
[ "$(sql_workers | wc -l)" = 2 ] && sql_workers | grep -qx "$w" || fail "no worker runs the job beside the kept one ($w -> $(sql_workers))"
w=$(sql_workers)
kill -KILL "$DCRD_PID"
wait "$DCRD_PID" 2>/dev/null
until_gone $w || fail "the workers $w (one kept, one running a job) outlived dcrd's kill -9"
python3 - <<'PY' || fail "state.db integrity check"
import sqlite3
db = sqlite3.connect("data/state.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
PY
checks=$((checks + 1))
start_dcrd data --sql-worker-idle 1h --max-job-time 2s || finish
# The interrupted job runs again first, until its time is up.
expect 0 "a job after the restart" as_alice run "$room" total -o -
same_total "its result"
expect 0 "the room's log verifies" "$DCR" -i "$TEST_TMP/alice" audit "$room"
has "$out" "job.finished" "the log has the jobs"

# ---- dcrd's stop ends the kept worker ----
w=$(sql_workers)
checks=$((checks + 1))
[ -n "$w" ] || fail "no worker kept before the stop"
stop_dcrd
until_gone $w || fail "the kept worker $w outlived dcrd's stop"

# ---- idle: the worker ends after --sql-worker-idle without a job ----
start_dcrd data --sql-worker-idle 300ms || finish
expect 0 "a job" as_alice run "$room" one --wait
w=$(sql_workers)
until_gone $w || fail "the worker $w did not end when idle"
checks=$((checks + 1))
[ -z "$(sql_workers)" ] || fail "a worker runs after the idle time: $(sql_workers)"

# ---- none kept with --sql-worker-idle 0: each job a new worker, the same results ----
stop_dcrd
start_dcrd data --sql-worker-idle 0 || finish
expect 0 "a job with no worker kept" as_alice run "$room" total -o -
same_total "the same result in a new worker"
checks=$((checks + 1))
[ -z "$(sql_workers)" ] || fail "a worker is kept with --sql-worker-idle 0: $(sql_workers)"
stop_dcrd
finish
