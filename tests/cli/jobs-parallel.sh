#!/bin/bash
# Jobs under load: jobs of different rooms run at once, up to
# --max-running-jobs, a room's one at a time and in order; job.get waits
# for the job to end (JobRef.wait_ms) without holding a thread or the call
# lock, so dcr run --wait makes one call where it polled, and a waiting
# call is one entry in the room's log; kill -9 with several jobs running
# runs each again. Everything here is observed through job states and the
# log, never through timing.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: parallel
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run quick, run forever, fetch quick, fetch forever, read-status]
compute:
  quick:
    type: sql
    query: SELECT 1 AS one
  # Runs until its time is up (the SQL limit, or --max-job-time), or until dcrd is killed.
  forever:
    type: sql
    query: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
      SELECT COUNT(*) AS n FROM c
YAML

as_alice() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

wait_log() {
	for _ in $(seq 1200); do
		grep -qE -- "$1" dcrd.log && return 0
		kill -0 "$DCRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "dcrd never logged /$1/: $(tail -3 dcrd.log)"
	return 1
}

# status ROOM JOB: the job's status as dcr jobs --json shows it.
status() {
	as_alice --json jobs "$1" | python3 -c '
import json, sys
print(next(j["status"] for j in json.load(sys.stdin) if j["job"] == sys.argv[1]))' "$2"
}

# ---- the option ----
for bad in 0 257 x; do
	expect 2 "--max-running-jobs $bad" "$DCRD" serve --data-dir bad --max-running-jobs "$bad"
	has "$err" "invalid --max-running-jobs '$bad'" "the bad value is named"
done

start_dcrd data --max-running-jobs 2 || finish
has "$(cat dcrd.log)" "up to 2 jobs run at once, one of each room \(--max-running-jobs\)" "the number is said at start"
for salt in a b c; do
	expect 0 "create room $salt" as_alice create room/room.yaml --salt "$salt" || finish
	printf -v "room_$salt" %s "$out"
done

# ---- rooms in parallel: room b's job runs, and ends, while room a's runs ----
expect 0 "a job that runs on in room a" as_alice run "$room_a" forever
a_forever=$out
wait_log "^dcrd: job $a_forever started$"
expect 0 "room b's job runs and ends meanwhile" as_alice run "$room_b" quick --wait
b_quick=$out
checks=$((checks + 1))
[ "$(status "$room_a" "$a_forever")" = running ] || fail "room a's job is no longer running: the jobs did not overlap"

# ---- within a room, one job at a time, in order, though a runner is free ----
expect 0 "a second job in room a" as_alice run "$room_a" quick
a_quick=$out
expect 0 "another in room b" as_alice run "$room_b" quick --wait
checks=$((checks + 1))
[ "$(status "$room_a" "$a_quick")" = queued ] || fail "room a's second job did not wait for its first"

# ---- at most --max-running-jobs at once ----
expect 0 "a job that runs on in room b" as_alice run "$room_b" forever
b_forever=$out
wait_log "^dcrd: job $b_forever started$"
expect 0 "a job in room c" as_alice run "$room_c" quick
c_quick=$out
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
has "$out" '^dcrd_jobs_running 2$' "two jobs run"
has "$out" '^dcrd_jobs_queued 2$' "two wait: room a's second, and room c's for a free runner"
checks=$((checks + 1))
[ "$(status "$room_c" "$c_quick")" = queued ] || fail "a third job ran beyond --max-running-jobs 2"

# waiting N: until /metrics says N calls wait for a job.
waiting() {
	for _ in $(seq 1200); do
		curl -fsS "$DCR_ENDPOINT/metrics" | grep -q "^dcrd_calls_waiting $1$" && return 0
		sleep 0.05
	done
	fail "never $1 calls waiting: $(curl -fsS "$DCR_ENDPOINT/metrics" | grep waiting)"
	return 1
}

# ---- waiting calls hold no thread: more of them than dcrd has threads, and other calls still go ----
pids=()
for i in 1 2 3 4 5 6; do
	as_alice fetch "$c_quick" -o "waited-$i.csv" 2>"waited-$i.err" &
	pids+=($!)
done
waiting 6
expect 0 "a call while six wait" as_alice status "$room_c"
expect 0 "another" as_alice --json jobs "$room_a"
checks=$((checks + 1))
[ "$(status "$room_b" "$b_forever")" = running ] || fail "the running job ended before the checks: they prove nothing"

# Group commit is on: the calls' changes were synced by dcrd (counts, /metrics).
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
writes=$(sed -n 's/^dcrd_state_writes_total //p' <<<"$out")
syncs=$(sed -n 's/^dcrd_state_syncs_total //p' <<<"$out")
checks=$((checks + 1))
[ -n "$writes" ] && [ -n "$syncs" ] && [ "$syncs" -ge 1 ] && [ "$syncs" -le "$writes" ] ||
	fail "state writes '$writes' and syncs '$syncs': want 1 <= syncs <= writes"

# ---- kill -9 with two jobs running: both run again ----
stop_dcrd KILL
for p in "${pids[@]}"; do wait "$p"; done
from=$(($(wc -l <dcrd.log) + 1))
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-running-jobs 2 --max-job-time 3s || finish
for j in "$a_forever" "$b_forever"; do
	for _ in $(seq 1200); do
		tail -n +"$from" dcrd.log | grep -q "^dcrd: job $j started$" && break
		sleep 0.05
	done
	checks=$((checks + 1))
	tail -n +"$from" dcrd.log | grep -q "^dcrd: job $j started$" || fail "job $j did not run again after kill -9"
done
expect 0 "room c's job runs in the end" as_alice fetch "$c_quick" -o c.csv
has "$(cat c.csv)" "^one$" "its result"
expect 7 "room a's first job fails at --max-job-time" as_alice fetch "$a_forever"
expect 0 "then its second runs" as_alice fetch "$a_quick" -o a.csv

# ---- run --wait: one job.get, which waits; the log has one entry for it ----
expect 7 "a job of 3 s, waited for" as_alice run "$room_c" forever --wait
has "$err" "exceeded its time limit of 3s" "it ran until its time was up"
expect 0 "the room's log" as_alice --json audit "$room_c"
echo "$out" >audit.json
run python3 - "$c_quick" <<'PY'
import json, sys
entries = json.load(open("audit.json"))["entries"]
runs = [i for i, e in enumerate(entries) if e["action"] == "job.run"]
last = runs[-1]
gets = [e for e in entries[last:] if e["action"] == "job.get"]
assert len(gets) == 1, ("job.get entries after the last job.run", gets)
assert gets[0]["outcome"] == "allowed", gets
PY
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "run --wait logged other than one job.get: $err"

# ---- SIGTERM while calls wait: they are answered, and dcrd stops ----
expect 0 "a job to wait for" as_alice run "$room_b" forever
b_again=$out
wait_log "^dcrd: job $b_again started$"
as_alice fetch "$b_again" -o never.csv 2>never.err &
waiter=$!
waiting 1
stop_dcrd TERM
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd exit status $rc after SIGTERM with a call waiting"
# Answered before the daemon stopped, not closed unanswered ("Empty reply from server").
lacks "$(cat dcrd.log)" "POST /v1/call 0 .*\(aborted\)" "the waiting call was answered before dcrd stopped"
wait "$waiter"
wrc=$?
checks=$((checks + 1))
[ "$wrc" = 8 ] || fail "the waiting fetch: exit status $wrc, not 8 (dcrd gone): $(cat never.err)"
finish
