#!/bin/bash
# The SQL worker after the hostile review of the DuckDB engine, through the
# real dcr and dcrd: a failed query's message carries no value of the data
# to anyone (dcr run, dcr jobs, the audit log, dcrd's log), results do not
# follow dcrd's TZ, and room.create's DuckDB check runs outside dcrd (an
# 800 MB constant leaves dcrd small). Skipped without DuckDB.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
room_yaml() { # EXTRA-COMPUTATION
	cat <<YAML
version: 1
name: duckdb-harden
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload sales, run day, fetch day]
  bob@acme.example: [run totals, run shout, run hashed, run big, read-audit, read-status]
data:
  sales:
    type: table
    columns: [{name: region, type: string}, {name: amount, type: int64}, {name: email, type: string}]
compute:
  totals: {type: sql, engine: duckdb, query: "SELECT region, sum(amount::INTEGER) AS total FROM sales GROUP BY region"}
  shout: {type: sql, engine: duckdb, query: "SELECT email::INTEGER AS e FROM sales"}
  hashed: {type: sql, engine: duckdb, query: "SELECT hash(email)::INTEGER AS h FROM sales"}
  big: {type: sql, engine: duckdb, query: "SELECT CAST(amount * 1e308 AS BIGINT) AS b FROM sales"}
  day:
    type: sql
    engine: duckdb
    query: SELECT (TIMESTAMPTZ '2024-01-01 03:00:00+00')::DATE AS day, hour(TIMESTAMPTZ '2024-01-01 03:00:00+00') AS h
$1
YAML
}
room_yaml "" >room/room.yaml
as() { local who=$1; shift; "$DCR" -q -i "$TEST_TMP/$who" "$@"; }

# The host's time zone, which must not reach results.
TZ=America/New_York start_dcrd data || finish
run as alice create room/room.yaml
if [ "$rc" = 6 ] && grep -q "has no DuckDB" <<<"$err"; then
	skip "dcr was built without DuckDB"
fi
[ "$rc" = 0 ] || { fail "create: exit $rc: $err"; finish; }
room=$out

printf 'region,amount,email\nsouth,3141592653,alice@secret.example\n' >sales.csv
expect 0 "upload" as alice upload sales.csv
expect 0 "publish" as alice publish "$room" sales "$out"

for c in totals shout hashed big; do
	expect 7 "run $c as bob, who may not fetch it" as bob run "$room" "$c" --wait
	has "$err" "computation '$c': DuckDB: [A-Za-z ]+ Error: \[withheld: it may quote data\]" "$c's failure says its class"
	lacks "$err" "3141592653|314159|alice|secret|e\+308" "$c's failure quotes no data"
done
has "$(as bob run "$room" totals --wait 2>&1)" "DuckDB: Conversion Error: \[withheld" "the cast's class is named"
expect 0 "jobs as bob" as bob jobs "$room"
lacks "$out" "3141592653|alice@secret|secret\.example" "dcr jobs shows no data"
expect 0 "audit as bob" as bob audit "$room"
has "$out" "job.finished" "the audit log has the jobs"
lacks "$out" "3141592653|alice@secret|secret\.example" "the audit log holds no data"
lacks "$(cat "$TEST_TMP/dcrd.log")" "3141592653|alice@secret|secret\.example" "dcrd's log holds no data"

expect 0 "run day" as alice run "$room" day --wait
expect 0 "fetch day" as alice fetch "$out" -o day.csv
has "$(cat day.csv)" "^2024-01-01,3$" "TZ=America/New_York on dcrd moves no row to another day"

# DuckDB folds constants when it compiles: that is the worker's memory, not dcrd's.
room_yaml "  huge: {type: sql, engine: duckdb, query: \"SELECT length(repeat('ab', 400000000)) AS n FROM sales\"}" \
	| sed 's/name: duckdb-harden/name: duckdb-huge/' >room/huge.yaml
run as alice create room/huge.yaml
[ "$rc" = 0 ] || [ "$rc" = 6 ] || fail "create of the 800 MB constant: exit $rc: $err"
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DCRD_PID/status")
checks=$((checks + 1))
[ -n "$hwm" ] && [ "$hwm" -lt $((200 * 1024)) ] || fail "dcrd's peak RSS is $hwm KiB after the check"

# YAML aliases cannot repeat a duckdb query past the room's 1 MiB of SQL.
python3 - >room/alias.yaml <<'PY'
q = "SELECT region FROM sales WHERE amount NOT IN (" + ",".join(str(i % 10) for i in range(30000)) + ")"
print("""version: 1
name: alias
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example:
data:
  sales: {type: table, columns: [{name: region, type: string}, {name: amount, type: int64}]}
compute:
  c1: {type: sql, engine: duckdb, query: &q '%s'}""" % q)
for i in range(2, 40):
    print("  c%d: {type: sql, engine: duckdb, query: *q}" % i)
PY
expect 6 "create a room of aliased duckdb queries" as alice create room/alias.yaml
has "$err" "brings the room's queries to more than 1048576 bytes in all" "the refusal says why"

finish
