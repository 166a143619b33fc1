#!/bin/bash
# SQL through the real dcr and dcrd: the tables a query reads are the ones
# loaded (joins USING and NATURAL included), a table with nothing published
# is an error naming it, never an empty table.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
"$DCRD" spec >specs.yaml || fail "dcrd spec"
export DCR_SPECS=$TEST_TMP/specs.yaml
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
    fetch using_n, fetch natural_n, fetch on_n, fetch joined_n]
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

finish
