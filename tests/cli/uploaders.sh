#!/bin/bash
# Who may upload: anyone a room accepts (or the platform CA). dcrd finds
# the rooms that name the caller's address in an index it keeps in memory
# (built at start, grown by room.create) instead of unsealing every room
# for each dataset.create. Shown here by its consequences: a room the host
# damaged no longer hides the rooms after it from their members, the
# damage is still found by the calls that read it, and the index follows
# rooms created while dcrd runs and across restarts.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
for who in alice bob carol erin; do
	make_user "$who" "$who@acme.example" acme-ca
done
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }
# sql STATEMENT: run it on state.db (dcrd stopped).
sql() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute(sys.argv[2])
c.commit()' data/state.db "$1" || fail "sql: $1"; }
restart() { stop_dcrd; DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish; }

mkdir -p room
cp acme-ca.pem room/ca.pem
# room WHO: a room whose only participant is WHO.
room() {
	cat >"room/$1.yaml" <<YAML
version: 1
name: $1's
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  $1@acme.example: [upload t]
data:
  t: {type: file}
YAML
}
for who in alice bob carol; do room "$who"; done
echo data >d.bin

start_dcrd data || finish
expect 0 "alice creates her room" as alice create room/alice.yaml || finish
a=$out
expect 0 "bob creates his" as bob create room/bob.yaml || finish
b=$out
expect 0 "alice uploads" as alice upload d.bin
expect 0 "bob uploads" as bob upload d.bin
expect 3 "erin, in no room, may not" as erin upload d.bin
has "$err" "no room here accepts this certificate" "the refusal says why"

# ---- the host damages the room that comes first in ID order ----
if [[ "$a" < "$b" ]]; then
	first=alice firstroom=$a second=bob secondroom=$b
else
	first=bob firstroom=$b second=alice secondroom=$a
fi
stop_dcrd
sql "UPDATE rooms SET record = x'00' WHERE id = '$firstroom'"
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
has "$(cat dcrd.log)" "dcrd: 1 room\(s\) could not be read" "dcrd says a room could not be read"
# Before the index, dataset.create unsealed every room in ID order and
# stopped at the damaged one: the second room's member could not upload.
expect 0 "$second, in the undamaged room, still uploads" as "$second" upload d.bin
expect 9 "$first's room is refused as damaged" as "$first" status "$firstroom"
# room.list still reads the damaged room, for everyone, and says so.
expect 9 "a room list finds the damage" as "$second" rooms
has "$err" "room $firstroom: " "the list names the damaged room"
expect 0 "$second's room itself is served" as "$second" status "$secondroom"

# ---- rooms created while dcrd runs are found at once, and after a restart ----
expect 3 "carol, in no room yet, may not upload" as carol upload d.bin
expect 0 "carol creates her room" as carol create room/carol.yaml || finish
expect 0 "then she may" as carol upload d.bin
restart
expect 0 "and still may after a restart" as carol upload d.bin
expect 3 "erin still may not" as erin upload d.bin

finish
