#!/bin/bash
# The host alters dcrd's state database (state.db) while dcrd is stopped: a
# damaged page is an integrity violation (exit 9) whichever table it hits,
# never "dcrd could not serve the call".
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: state
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload t, run count, fetch count]
data:
  t:
    type: table
    columns:
      - {name: id, type: int64}
compute:
  count:
    type: sql
    query: SELECT COUNT(*) AS n FROM t
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
restart() { stop_dcrd; DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
printf 'id\n1\n2\n3\n' >t.csv
expect 0 "upload" as upload t.csv || finish
ds=$out
expect 0 "publish" as publish "$room" t "$ds" || finish
expect 0 "run" as run "$room" count -o count.csv || finish
has "$(cat count.csv)" '^3$' "the job counts the rows"

# ---- a damaged page: each table, the call that reads it ----
# corrupt TABLE: 16 bytes of 0xff over the header of TABLE's root page.
corrupt() {
	python3 - data/state.db "$1" <<'PY' || fail "corrupting $1"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (sys.argv[2],)).fetchone()[0]
size = db.execute("PRAGMA page_size").fetchone()[0]
db.close()
with open(sys.argv[1], "r+b") as f:
    f.seek((root - 1) * size)
    f.write(b"\xff" * 16)
PY
}
stop_dcrd
cp data/state.db pristine.db
for t in rooms:status audit:audit audit_frontier:status nonces:status rooms:rooms; do
	table=${t%%:*} cmd=${t#*:}
	cp pristine.db data/state.db
	corrupt "$table"
	DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
	if [ "$cmd" = rooms ]; then
		expect 9 "$table damaged: dcr rooms" as rooms
	else
		expect 9 "$table damaged: dcr $cmd" as "$cmd" "$room"
	fi
	has "$err" "^dcr: $cmd: .*database disk image is malformed \(state.db was altered or damaged\)$" \
		"$table damaged: dcr $cmd names the damage"
	lacks "$err" "could not serve" "$table damaged: not a failing dcrd"
	stop_dcrd
done
# A table dcrd reads as it starts: it refuses to start (timeout stops a dcrd that serves anyway).
for table in records; do
	cp pristine.db data/state.db
	corrupt "$table"
	expect 1 "$table damaged: dcrd does not start" timeout 60 "$DCRD" serve --data-dir data --listen "127.0.0.1:$DCRD_PORT"
	has "$err" "^dcrd: serve: state database: .*database disk image is malformed \(state.db was altered or damaged\)$" \
		"$table damaged: dcrd names the damage"
done
cp pristine.db data/state.db
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 0 "the undamaged state" as status "$room"

finish
