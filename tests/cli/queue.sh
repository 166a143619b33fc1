#!/bin/bash
# The job queue, with one runner (--max-running-jobs 1; jobs-parallel.sh
# has several): first in, first out across rooms, whatever the room IDs;
# caps on the jobs one room and one caller may have queued or running; the
# order survives a restart, with the interrupted job first; a job running
# at two stops of dcrd fails rather than come back first again.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: queue
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run quick, run slow, run forever, fetch forever, stop]
  bob@acme.example: [run quick]
compute:
  quick:
    type: sql
    query: SELECT 1 AS one
  # Seconds of work, to hold the runner while the others queue up.
  slow:
    type: sql
    query: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 15000000)
      SELECT COUNT(*) AS n FROM c
  # Runs until the SQL time limit, or until dcrd is killed.
  forever:
    type: sql
    query: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
      SELECT COUNT(*) AS n FROM c
YAML

as_alice() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
as_bob() { "$DCR" -q -i "$TEST_TMP/bob" "$@"; }

# wait_log PATTERN: until dcrd's log has a line matching PATTERN (at most a minute or so).
wait_log() {
	for _ in $(seq 1200); do
		grep -qE -- "$1" dcrd.log && return 0
		kill -0 "$DCRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "dcrd never logged /$1/: $(tail -3 dcrd.log)"
	return 1
}

# started_order [FROM_LINE]: the jobs in the order the runner started them, from line FROM_LINE of the log.
started_order() {
	tail -n +"${1:-1}" dcrd.log | sed -n 's/^dcrd: job \([0-9a-f]*-[0-9]*\) started$/\1/p' | tr '\n' ' '
}

start_dcrd data --max-room-jobs 4 --max-caller-jobs 5 --max-running-jobs 1 || finish
expect 0 "create room one" as_alice create room/room.yaml --salt one || finish
r1=$out
expect 0 "create room two" as_alice create room/room.yaml --salt two || finish
r2=$out
expect 0 "create the blocking room" as_alice create room/room.yaml --salt blocker || finish
blocker=$out
# The flood comes from the room whose ID sorts first: before the fix, its jobs always ran first.
if [[ $r1 < $r2 ]]; then flood=$r1 other=$r2; else flood=$r2 other=$r1; fi

# ---- while one job runs, jobs of two rooms queue up: they run in the order they came ----
expect 0 "a slow job" as_alice run "$blocker" slow
slow=$out
wait_log "^dcrd: job $slow started$"
expect 0 "the flooding room's first job" as_alice run "$flood" quick
f1=$out
expect 0 "the other room's job" as_bob run "$other" quick
o1=$out
expect 0 "the flooding room's second job" as_alice run "$flood" quick
f2=$out
wait_log "^dcrd: job $f2 (succeeded|failed)$"
has "$(started_order)" "$slow $f1 $o1 $f2 " "jobs run first in, first out across rooms"

# ---- caps: a room, and a caller, have at most so many jobs queued or running ----
expect 0 "a job that runs until dcrd stops" as_alice run "$blocker" forever
forever=$out
wait_log "^dcrd: job $forever started$"
queued=()
for _ in 1 2 3; do
	expect 0 "the flooding room queues a job" as_alice run "$flood" quick
	queued+=("$out")
done
expect 0 "the other room queues a job" as_bob run "$other" quick
queued+=("$out")
expect 0 "the flooding room queues its fourth job" as_alice run "$flood" quick
queued+=("$out")
expect 1 "a fifth job in the room is refused" as_alice run "$flood" quick
has "$err" "room $flood has 4 jobs queued or running, the most dcrd allows a room \(--max-room-jobs\)" \
	"the room cap is named"
expect 1 "a sixth job of one caller is refused, in any room" as_alice run "$other" quick
has "$err" "alice@acme.example has 5 jobs queued or running on this dcrd, the most it allows one caller \(--max-caller-jobs\)" \
	"the caller cap is named"
expect 0 "another caller still runs in that room" as_bob run "$other" quick
queued+=("$out")
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
has "$out" '^dcrd_jobs_queued 6$' "metrics count the queued jobs"
has "$out" '^dcrd_jobs_running 1$' "metrics count the running job"
expect 0 "the refusals are in the room's log" as_alice --json audit "$flood"
has "$out" "\"detail\": \"room $flood has 4 jobs queued or running" "the room's log records the refusal"

# ---- a restart keeps the order, the interrupted job first ----
expect 0 "stop the blocking room" as_alice stop "$blocker"
stop_dcrd KILL
from=$(($(wc -l <dcrd.log) + 1))
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-room-jobs 4 --max-caller-jobs 5 --max-running-jobs 1 || finish
wait_log "^dcrd: job ${queued[5]} (succeeded|failed)$"
has "$(started_order "$from")" "^$forever ${queued[*]} $" \
	"after a restart the interrupted job comes first, then the queue in its order"
for j in "${queued[@]}"; do
	checks=$((checks + 1))
	grep -q "^dcrd: job $j succeeded$" dcrd.log || fail "job $j did not succeed after the restart"
done
expect 7 "the interrupted job of the stopped room failed" as_alice fetch "$forever"
has "$err" "the room was stopped before the job ran" "why it failed"

# ---- a job running when dcrd dies runs again once; running at a second death, it fails ----
# wait_log_from LINE PATTERN: as wait_log, in the log from line LINE on.
wait_log_from() {
	for _ in $(seq 1200); do
		tail -n +"$1" dcrd.log | grep -qE -- "$2" && return 0
		kill -0 "$DCRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "dcrd never logged /$2/ from line $1: $(tail -3 dcrd.log)"
	return 1
}
expect 0 "a job that runs until dcrd dies" as_alice run "$other" forever
again=$out
wait_log "^dcrd: job $again started$"
stop_dcrd KILL
from=$(($(wc -l <dcrd.log) + 1))
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-room-jobs 4 --max-caller-jobs 5 --max-running-jobs 1 || finish
wait_log_from "$from" "^dcrd: job $again started$"
expect 0 "it runs again after the first death" as_alice --json jobs "$other"
stop_dcrd KILL
from=$(($(wc -l <dcrd.log) + 1))
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-room-jobs 4 --max-caller-jobs 5 --max-running-jobs 1 || finish
expect 7 "after the second death it has failed" as_alice fetch "$again"
has "$err" "the job was running when dcrd stopped, and again when it stopped after running it anew; it is not run a third time" \
	"why it failed"
checks=$((checks + 1))
tail -n +"$from" dcrd.log | grep -q "^dcrd: job $again started$" && fail "the job ran a third time"
expect 0 "the room's log" as_alice --json audit "$other"
has "$out" '"detail": "the job was running when dcrd stopped, and again' "its end is in the room's log"
expect 0 "the next job runs" as_alice run "$other" quick --wait

# ---- SIGTERM with a job running: dcrd does not wait for it, and it runs again ----
# dcrd stops at once, without releasing what the job's thread still uses
# (the sandbox, the enclave's data directory) or running exit handlers
# under it; the job, still "running" in the state, runs again at the start.
expect 0 "a job that runs until dcrd stops, again" as_alice run "$other" forever
again=$out
wait_log "^dcrd: job $again started$"
stop_dcrd TERM
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd exit status $rc after SIGTERM with a job running"
has "$(cat dcrd.log)" '^dcrd: stopped; the job that was running runs again at the next start$' "it says so"
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-room-jobs 4 --max-caller-jobs 5 --max-running-jobs 1 || finish
for _ in $(seq 1200); do
	[ "$(grep -c "^dcrd: job $again started$" dcrd.log)" = 2 ] && break
	sleep 0.05
done
checks=$((checks + 1))
[ "$(grep -c "^dcrd: job $again started$" dcrd.log)" = 2 ] || fail "the job did not run again after the restart"
expect 0 "stop its room" as_alice stop "$other"

# ---- a job.run that does not commit leaves nothing queued ----
# (last session's review, finding 5: its queue entry stayed until a runner
# reached it, counting against the caps meanwhile, and the next job.run
# queued the same job ID a second time.) The host makes the room's audit
# entries fail to write (a trigger in state.db): job.run's record and its
# entry are rolled back together, and so must be its place in the queue.
# A job runs in the room, so no runner looks at the room's queue meanwhile.
stop_dcrd KILL # the job of the stopped room runs on until its time is up: not in the way here
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-room-jobs 4 --max-caller-jobs 5 --max-running-jobs 2 || finish
expect 0 "a job that runs until dcrd stops, in the flooding room" as_alice run "$flood" forever
held=$out
wait_log "^dcrd: job $held started$"
sql() { python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(sys.argv[2]); db.commit()' data/state.db "$1"; }
sql "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'the host refuses'); END" ||
	fail "cannot add the trigger"
for i in 1 2 3; do
	expect 9 "a job.run whose audit entry cannot be written ($i)" as_alice run "$flood" quick
	has "$err" "state.db was altered" "the refusal says why ($i)"
done
sql "DROP TRIGGER refuse_audit" || fail "cannot drop the trigger"
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
has "$out" '^dcrd_jobs_queued 0$' "the rolled-back jobs are not queued"
has "$out" '^dcrd_jobs_running 1$' "the running job is"
after=()
for i in 1 2 3; do
	# --max-room-jobs 4: with the three rolled-back entries left, the first of these was refused.
	expect 0 "the room queues jobs again ($i)" as_alice run "$flood" quick
	after+=("$out")
done
checks=$((checks + 1))
[ "$(printf '%s\n' "$held" "${after[@]}" | sort -u | wc -l)" = 4 ] || fail "job IDs repeat: $held ${after[*]}"
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
has "$out" '^dcrd_jobs_queued 3$' "each of them is queued once"

# ---- limits are checked ----
for bad in 0 -1 x 1000001 1K; do
	expect 2 "--max-room-jobs $bad" "$DCRD" serve --data-dir data2 --max-room-jobs "$bad"
	has "$err" "invalid --max-room-jobs '$bad'" "the bad value is named"
done
expect 2 "--max-caller-jobs without a value" "$DCRD" serve --data-dir data2 --max-caller-jobs
finish
