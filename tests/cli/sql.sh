#!/bin/bash
# SQL through the real dcr and dcrd: the tables a query reads are the ones
# loaded (joins USING and NATURAL included), a table with nothing published
# is an error naming it, never an empty table; refused functions and
# chains of views over the bound are refused at create with their
# position; a job over its memory limit fails and dcrd serves on; a job
# stuck in one call of a built-in function is killed at its time limit.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: sql
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload party_a, upload party_b, run using_n, run natural_n, run on_n, run joined_n,
    fetch using_n, fetch natural_n, fetch on_n, fetch joined_n, run huge, run trimmed]
data:
  party_a:
    type: table
    columns: [{name: email, type: string}, {name: age, type: int64}]
  party_b:
    type: table
    columns: [{name: email, type: string}, {name: spend, type: float64}]
compute:
  using_n: {type: sql, query: SELECT COUNT(*) AS n FROM party_a JOIN party_b USING (email)}
  natural_n: {type: sql, query: SELECT COUNT(*) AS n FROM party_a NATURAL JOIN party_b}
  on_n: {type: sql, query: SELECT COUNT(*) AS n FROM party_a JOIN party_b ON party_a.email = party_b.email}
  joined:
    type: sql
    query: SELECT email, age, spend FROM party_a JOIN party_b USING (email)
  joined_n: {type: sql, query: SELECT COUNT(*) AS n FROM joined}
  huge:
    type: sql
    query: |
      WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000000)
      SELECT COUNT(*) AS n FROM (SELECT DISTINCT printf('%.40d', i) FROM c)
  # One call of trim() that takes minutes: SQLite looks at the clock only between instructions.
  trimmed:
    type: sql
    query: SELECT length(trim(printf('%.*c', 200000, 'b'), printf('%.*c', 200000, 'a') || 'b')) AS n
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

# 3000 addresses on one side, 2500 on the other, 2000 in common.
python3 - <<'PY'
with open("a.csv", "w") as f:
    f.write("email,age\n")
    for i in range(3000):
        f.write(f"user{i}@example.com,{20 + i % 50}\n")
with open("b.csv", "w") as f:
    f.write("email,spend\n")
    for i in range(1000, 3500):
        f.write(f"user{i}@example.com,{i / 4}\n")
PY

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
expect 0 "upload party_a" as upload a.csv
expect 0 "publish party_a" as publish "$room" party_a "$out"

# ---- only party_a published: a query that reads party_b says so ----
for c in using_n natural_n on_n joined_n; do
	expect 4 "$c with nothing published to party_b" as run "$room" "$c" --wait
	has "$err" "nothing is published to node 'party_b'" "$c names the node without data"
done

# ---- both published: every join form counts the 2000 in common ----
expect 0 "upload party_b" as upload b.csv
expect 0 "publish party_b" as publish "$room" party_b "$out"
for c in using_n natural_n on_n joined_n; do
	expect 0 "run $c" as run "$room" "$c" -o "$c.csv"
	has "$(cat "$c.csv" 2>/dev/null)" '^n$' "$c: the header"
	has "$(cat "$c.csv" 2>/dev/null)" '^2000$' "$c: the rows in common"
done

# ---- refused at create, with the position of the query ----
cat >bad.yaml <<'YAML'
version: 1
name: bad
enclave: dcrd:sim
authentication: {platform: true}
participants:
  alice@acme.example:
compute:
  p: {type: sql, query: "SELECT hex(fts3_tokenizer('simple')) AS p"}
YAML
expect 6 "fts3_tokenizer('simple') at create" "$DCR" create --dry-run bad.yaml
has "$err" "^dcr: create: bad.yaml:8:25: query of 'p': function fts3_tokenizer\(\) is not allowed" \
	"the refused function is named at its position"
sed -i "s/fts3_tokenizer('simple')/fts3_tokenizer('simple', x'00')/" bad.yaml
expect 6 "fts3_tokenizer with two arguments at create" "$DCR" create --dry-run bad.yaml
has "$err" "bad.yaml:8:25: query of 'p': function fts3_tokenizer\(\) is not allowed" "the two-argument form too"
sed -i "s/hex(fts3_tokenizer('simple', x'00'))/load_extension('x.so')/" bad.yaml
expect 6 "load_extension at create" "$DCR" create --dry-run bad.yaml
has "$err" "function load_extension\(\) is not allowed" "load_extension is named"
# 33 computations, each reading the one before: one more than the bound.
head -7 bad.yaml >chain.yaml
echo '  c1: {type: sql, query: SELECT 1 AS x}' >>chain.yaml
for i in $(seq 2 33); do
	echo "  c$i: {type: sql, query: SELECT x FROM c$((i - 1))}" >>chain.yaml
done
expect 6 "a chain of 33 computations" "$DCR" create --dry-run chain.yaml
has "$err" "^dcr: create: chain.yaml:40:27: query of 'c33' heads a chain of more than 32 SQL computations" \
	"the chain is refused at its last reader"
sed -i '$d' chain.yaml
expect 0 "a chain of 32 computations" "$DCR" create --dry-run chain.yaml

# ---- a job over its memory limit fails, and dcrd serves the next call ----
stop_dcrd
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-sql-memory 32M || finish
expect 7 "a query over the memory limit" as run "$room" huge --wait
has "$err" "computation 'huge' exceeded its memory limit \(33554432 bytes\)" "the limit is named"
expect 0 "the next job runs" as run "$room" using_n -o after.csv
has "$(cat after.csv 2>/dev/null)" '^2000$' "with the right result"
expect 0 "and calls are served" as jobs "$room"
has "$out" "huge +failed" "the failed job is listed"

# ---- one slow call of a function is killed at the time limit (it ran 82 s under a limit of 1 s) ----
stop_dcrd
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-job-time 1s || finish
expect 7 "a query stuck in one call of trim()" as run "$room" trimmed --wait
has "$err" "the job exceeded its time limit of 1s, which all its computations share \(dcrd serve --max-job-time\)" \
	"it ran out of time"
expect 0 "the next job runs" as run "$room" using_n -o after-slow.csv
has "$(cat after-slow.csv 2>/dev/null)" '^2000$' "with the right result"

# ---- --max-sql-time: the SQL job's own limit, below the job's (the worker is killed at it) ----
stop_dcrd
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-sql-time 1s || finish
has "$(cat dcrd.log)" "every SQL job may run for at most 1s \(--max-sql-time\)" "the limit is said at start"
expect 7 "a query stuck in one call of trim(), under --max-sql-time 1s" as run "$room" trimmed --wait
has "$err" "computation 'trimmed' ran out of time \(the limit is 1000 ms\)" "it ran out of SQL's time, not the job's"
expect 0 "the next job runs" as run "$room" using_n -o after-sql-time.csv
has "$(cat after-sql-time.csv 2>/dev/null)" '^2000$' "with the right result"
stop_dcrd
expect 2 "a bad --max-sql-memory" "$DCRD" serve --data-dir data2 --max-sql-memory 1TB2
has "$err" "invalid --max-sql-memory '1TB2'" "the value is quoted"
for bad in 0s 25h 5x 10; do
	expect 2 "a bad --max-sql-time $bad" "$DCRD" serve --data-dir data2 --max-sql-time "$bad"
	has "$err" "invalid --max-sql-time '$bad'" "the value is quoted"
done

finish
