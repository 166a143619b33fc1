#!/bin/bash
# The DuckDB engine through the real dcr and dcrd: a computation with
# engine: duckdb runs end to end and returns what the same query returns
# on the SQLite engine and in the sqlite3 shell; a query that reaches for a
# file is refused at create; the room ID holds the engine. Skipped where
# dcr was built without DuckDB, after checking that create says so.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
room_yaml() { # ENGINE-OF-THE-SECOND EXTRA-COMPUTATION
	cat <<YAML
version: 1
name: duckdb
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload sales, run by_region, run by_region_duck, fetch by_region, fetch by_region_duck,
    run mean_duck, fetch mean_duck]
data:
  sales:
    type: table
    columns: [{name: region, type: string}, {name: amount, type: int64}, {name: price, type: float64}]
compute:
  by_region:
    type: sql
    query: SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region
  by_region_duck:
    type: sql
    engine: $1
    query: SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region
  mean_duck:
    type: sql
    engine: $1
    query: SELECT region, AVG(price) AS mean FROM sales GROUP BY region ORDER BY region
$2
YAML
}
room_yaml duckdb "" >room/room.yaml

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

python3 - <<'PY'
import random
random.seed(18)
with open("sales.csv", "w") as f:
    f.write("region,amount,price\n")
    for i in range(20000):
        f.write(f"r{random.randrange(7)},{random.randrange(-1000, 100000)},{random.randrange(1, 10**6) / 64}\n")
PY

# DuckDB's threads (dcrd(8)): a count from 1 to 256.
for bad in 0 257 x; do
	expect 2 "--duckdb-threads $bad" "$DCRD" serve --data-dir bad --duckdb-threads "$bad"
	has "$err" "invalid --duckdb-threads '$bad'" "the bad value is named"
done

start_dcrd data --duckdb-threads 2 || finish
run as create room/room.yaml
checks=$((checks + 1))
if [ "$rc" = 6 ] && grep -q "has no DuckDB" <<<"$err"; then
	has "$err" "computation 'by_region_duck' uses engine duckdb, and this build has no DuckDB" "create says why"
	skip "dcr was built without DuckDB"
fi
[ "$rc" = 0 ] || { fail "create: exit $rc: $err"; finish; }
room=$out
has "$(cat dcrd.log)" "each DuckDB job uses 2 threads \(--duckdb-threads\)" "the thread count is said at start"

# The engine is part of the room: the same room on SQLite is another room.
room_yaml sqlite "" >room/sqlite.yaml
room_id() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out"; }
expect 0 "room ID on sqlite" as --json create --dry-run room/sqlite.yaml
sqlite_id=$(room_id)
expect 0 "room ID on duckdb" as --json create --dry-run room/room.yaml
[ "$(room_id)" = "$room" ] || fail "dry run and create disagree on the room ID ($out, $room)"
[ -n "$sqlite_id" ] && [ "$sqlite_id" != "$room" ] || fail "the engine does not change the room ID ($sqlite_id)"

expect 0 "upload" as upload sales.csv
expect 0 "publish" as publish "$room" sales "$out"
for c in by_region by_region_duck mean_duck; do
	expect 0 "run $c" as run "$room" "$c" --wait || finish
	expect 0 "fetch $c" as fetch "$out" -o "$c.csv"
done
checks=$((checks + 1))
cmp -s by_region.csv by_region_duck.csv || fail "duckdb and sqlite differ: $(diff by_region.csv by_region_duck.csv | head)"

# The sqlite3 shell on the same CSV.
if command -v sqlite3 >/dev/null; then
	sqlite3 <<'SQL' >shell.csv
.mode csv
.import sales.csv sales
.mode list
.separator , "\n"
.headers on
SELECT region, COUNT(*) AS n, SUM(amount) AS total FROM sales GROUP BY region ORDER BY region;
SQL
	checks=$((checks + 1))
	cmp -s shell.csv by_region_duck.csv || fail "duckdb and the sqlite3 shell differ: $(diff shell.csv by_region_duck.csv | head)"
fi

# AVG of doubles: the same mean to the last digits DuckDB and python agree on.
python3 - mean_duck.csv <<'PY' || fail "duckdb's means are wrong"
import csv, sys
rows = {}
for r in csv.DictReader(open("sales.csv")):
    rows.setdefault(r["region"], []).append(float(r["price"]))
got = list(csv.DictReader(open(sys.argv[1])))
assert [g["region"] for g in got] == sorted(rows), got
for g in got:
    want = sum(rows[g["region"]]) / len(rows[g["region"]])
    assert abs(float(g["mean"]) - want) <= 1e-9 * abs(want), (g, want)
PY
checks=$((checks + 1))

# A query that reaches for a file never becomes a room.
room_yaml duckdb "  peek: {type: sql, engine: duckdb, query: \"SELECT * FROM read_csv('/etc/passwd')\"}" >room/peek.yaml
expect 6 "create a room that reads /etc/passwd" as create room/peek.yaml
has "$err" "peek" "the refusal names the computation"
has "$err" "table function 'read_csv' is not allowed in a DuckDB query" "the refusal says why"
lacks "$err" "root:" "the refusal shows nothing of the file"

# Nor one that calls a function off the allow-list (dcr-room(5)): here, one that differs on every run.
room_yaml duckdb "  dice: {type: sql, engine: duckdb, query: \"SELECT region, random() AS r FROM sales\"}" >room/dice.yaml
expect 6 "create a room whose query calls random()" as create room/dice.yaml
has "$err" "query of 'dice': function 'random' is not allowed in a DuckDB query" "the refusal names the function"

finish
