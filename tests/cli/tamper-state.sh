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

# ---- a result's file replaced on the host: by a FIFO (which used to hold a
# connection thread forever) or a link (which was followed); refused at once, as the
# integrity violation it is (exit 9) ----
expect 0 "a job to fetch" as run "$room" count --wait || finish
job=$out
result=$(ls -t data/blobs/* | head -1) # its result, the newest blob
mv "$result" result.blob
mkfifo "$result"
expect 9 "the result's file a FIFO" timeout 60 "$DCR" -q -i "$TEST_TMP/alice" fetch "$job"
has "$err" "not a regular file \(replaced on the host\)" "dcr names the replaced file"
rm "$result"
ln -s "$TEST_TMP/result.blob" "$result"
expect 9 "the result's file a link" timeout 60 "$DCR" -q -i "$TEST_TMP/alice" fetch "$job"
has "$err" "is missing from the data directory" "a link is not followed"
rm "$result"
mv result.blob "$result"
expect 0 "the file put back" as fetch "$job"
has "$out" '^3$' "the result as it was"

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
for t in rooms:status audit:audit nonces:status rooms:rooms; do
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
# Tables dcrd reads as it starts: it refuses to start (timeout stops a dcrd that serves anyway).
for table in records audit_frontier; do
	cp pristine.db data/state.db
	corrupt "$table"
	expect 1 "$table damaged: dcrd does not start" timeout 60 "$DCRD" serve --data-dir data --listen "127.0.0.1:$DCRD_PORT"
	has "$err" "^dcrd: serve: state database: .*database disk image is malformed \(state.db was altered or damaged\)$" \
		"$table damaged: dcrd names the damage"
done
cp pristine.db data/state.db
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 0 "the undamaged state" as status "$room"

# ---- the audit frontier put back from an older copy, dropped or damaged;
# the log's rows stay ----
# sql STATEMENT...: run them on state.db; dump QUERY: the first column of its first row.
sql() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for q in sys.argv[2:]:
    c.execute(q)
c.commit()' data/state.db "$@" || fail "sql: $*"; }
dump() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute(sys.argv[2]).fetchone()[0])' data/state.db "$1"; }
sed 's/^name: state$/name: other/' room/room.yaml >room/other.yaml
expect 0 "create a second room" as create room/other.yaml || finish
other=$out
stop_dcrd
old_frontier=$(dump "SELECT hex(frontier) FROM audit_frontier WHERE room_id = '$room'")
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 0 "a call logged in the room" as status "$room" || finish
stop_dcrd
cp data/state.db current.db
# altered SQL...: dcrd restarted on the state as it was, with SQL run on it first.
altered() { stop_dcrd; cp current.db data/state.db; sql "$@"; DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish; }
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
altered "UPDATE audit_frontier SET frontier = x'$old_frontier' WHERE room_id = '$room'"
expect 9 "an older frontier put back" as status "$room"
has "$err" "the audit frontier is older than the log" "dcr names the older frontier"
altered "DELETE FROM audit_frontier WHERE room_id = '$room'"
expect 9 "the frontier dropped" as status "$room"
has "$err" "its audit frontier is gone" "dcr names the dropped frontier"
# One room's frontier does not open: that room is refused, dcrd serves the others.
altered "UPDATE audit_frontier SET frontier = CAST(substr(frontier, 1, length(frontier) - 1) ||
	CASE WHEN substr(frontier, -1) = x'00' THEN x'01' ELSE x'00' END AS BLOB) WHERE room_id = '$room'"
expect 0 "another room, with one frontier damaged" as status "$other"
expect 9 "the room whose frontier is damaged" as status "$room"
altered
expect 0 "the state put back as it was" as status "$room"

# ---- the log's stored subtrees (audit_node) altered or dropped: a proof from
# them is refused by dcrd itself; dropped altogether they are rebuilt from
# the leaves at start, but only from leaves that lead to the sealed root ----
stop_dcrd
cp data/state.db current.db
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
altered "UPDATE audit_node SET hash = zeroblob(length(hash)) WHERE room_id = '$room'"
expect 9 "the stored subtrees altered" as status "$room"
has "$err" "^dcr: status: room $room: the audit log's stored leaves or subtrees are missing or damaged \(cannot read node .*; state.db was altered\)$" \
	"dcr names the damaged subtrees"
altered "UPDATE audit SET leaf = zeroblob(32) WHERE room_id = '$room'" "DELETE FROM audit_node WHERE room_id = '$room'"
expect 9 "the leaves altered, the subtrees dropped" as status "$room"
has "$err" "stored leaves or subtrees are missing or damaged" "not rebuilt from altered leaves"
altered "DELETE FROM audit_node WHERE room_id = '$room'"
expect 0 "the subtrees dropped: rebuilt from the leaves" as status "$room"

# ---- a publication put back: the host keeps the sealed row and ciphertext of
# a withdrawn dataset and restores them after alice replaced and deleted it ----
old_pub=$(dump "SELECT hex(record) FROM records WHERE kind = 'publication' AND scope = '$room'")
old_blobrow=$(dump "SELECT quote(size) || ',' || quote(received) || ',' || quote(token_hash) || ',' || quote(complete) FROM blobs WHERE id = '$ds'")
old_dsrec=$(dump "SELECT hex(record) FROM records WHERE kind = 'dataset' AND name = '$ds'")
cp "data/blobs/$ds" withdrawn.blob
printf 'id\n1\n2\n3\n4\n5\n' >t2.csv
expect 0 "upload the new data" as upload t2.csv || finish
ds2=$out
expect 0 "publish it in place of the old" as publish "$room" t "$ds2" || finish
expect 0 "delete the old upload" as upload --delete "$ds"
expect 0 "run on the new data" as run "$room" count -o count.csv || finish
has "$(cat count.csv)" '^5$' "the job counts the new rows"
# Each job.finished entry names the data it read: the SHA-256 of each input as read.
expect 0 "the log" as --json audit "$room"
checks=$((checks + 1))
JSON=$out python3 - "$(sha256sum <t.csv | cut -c1-64)" "$(sha256sum <t2.csv | cut -c1-64)" <<'PY' || fail "job.finished inputs: $out"
import json, os, sys
entries = json.loads(os.environ["JSON"])["entries"]
done = [e for e in entries if e["action"] == "job.finished"]
inputs = [[f["value"] for f in e["facts"] if f["key"] == "input"] for e in done]
assert inputs == [["t " + sys.argv[1]], ["t " + sys.argv[1]], ["t " + sys.argv[2]]], inputs
PY
stop_dcrd
sql "UPDATE records SET record = x'$old_pub' WHERE kind = 'publication' AND scope = '$room'" \
	"INSERT INTO records (kind, scope, name, seq, record) VALUES ('dataset', '', '$ds', 0, x'$old_dsrec')" \
	"INSERT INTO blobs (id, size, received, token_hash, complete) VALUES ('$ds', $old_blobrow)"
cp withdrawn.blob "data/blobs/$ds"
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
rm -f count.csv
expect 9 "a job on the withdrawn data" as run "$room" count -o count.csv
has "$err" "not the one its audit log last recorded" "the job names the restored publication"
checks=$((checks + 1))
[ ! -e count.csv ] || fail "a result of the withdrawn data was written: $(cat count.csv)"
expect 9 "the listing of the room's data" as datasets "$room"
has "$err" "not the one its audit log last recorded" "the listing names it"

finish
