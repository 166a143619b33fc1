#!/bin/bash
# Several identities on one machine (-i DIR), one state directory: switching
# identity is not a rollback, and a real rollback, a vanished room or a fork
# between two identities' views is still exit 9 for every identity that saw
# the room. Heads kept by an older dcr (no per-identity folder) stay strict
# until an identity is answered about the room.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_ca platform-ca
make_user alice alice@acme.example acme-ca
# The platform identity dcr-auth(1) recommends beside the organisation one: same address, another CA.
make_user alice-platform alice@acme.example platform-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<YAML
version: 1
name: identities
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop]
  bob@acme.example: []
  carol@acme.example: []
YAML

# alice, alice-platform and bob share this machine's state; carol keeps hers elsewhere.
as() { local who=$1; shift; "$DCR" -i "$TEST_TMP/$who" "$@"; }
heads=$XDG_STATE_HOME/dcr/heads
size() { cut -d' ' -f1 "$1" 2>/dev/null; }

start_dcrd data || finish
expect 0 "alice creates" as alice --json create room/room.yaml
id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")

# Switching identity: the platform identity is not in the room and is told so.
expect 4 "the platform identity is no participant" as alice-platform rooms "$id"
lacks "$err" "rolled back|rollback" "switching -i is not a rollback"
has "$err" "^dcr: rooms: no room $id for alice@acme.example" "told there is no such room"
expect 4 "nor for status" as alice-platform status "$id"
expect 0 "back to alice" as alice rooms "$id"
expect 0 "bob, another identity here" as bob status "$id"
expect 4 "and the platform identity again" as alice-platform status "$id"

# The layout: the machine's head and one per identity that saw the room.
checks=$((checks + 1))
n=$(find "$heads/$id.ids" -type f | wc -l)
[ "$n" = 2 ] || fail "per-identity heads: $n files, want 2 (alice and bob): $(ls "$heads/$id.ids")"
checks=$((checks + 1))
[ "$(stat -c %a "$heads/$id.ids")" = 700 ] || fail "the per-identity folder is not 0700"
for f in "$heads/$id.ids"/*; do
	has "$(basename "$f")" '^[0-9a-f]{64}$' "an identity ID names the file"
	checks=$((checks + 1))
	[ "$(stat -c %a "$f")" = 600 ] || fail "$f is not 0600"
done
has "$(cat "$heads/$id")" '^[0-9]+ [0-9a-f]{64} [0-9]+$' "the machine's head"

# A real rollback: the host puts back an older data directory.
cp -a data data-old
for i in 1 2 3; do
	expect 0 "alice status $i" as alice status "$id"
done
newer=$(size "$heads/$id")
stop_dcrd
rm -rf data && cp -a data-old data
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 9 "alice catches the rollback" as alice status "$id"
has "$err" "rollback of room $id: its log shrank from size $newer " "named as a rollback"
expect 9 "so does bob, whose last call came before alice's" as bob status "$id"
has "$err" "rollback of room $id: its log shrank from size $newer " "bob checks against the machine's head"
expect 4 "the platform identity still sees no room" as alice-platform status "$id"

# A fork between two identities' views: carol (elsewhere) grows the older
# log past what alice saw here; bob, on this machine, is shown that log.
for i in 1 2 3 4 5 6; do
	expect 0 "carol status $i" env XDG_STATE_HOME="$TEST_TMP/carol-state" "$DCR" -i "$TEST_TMP/carol" status "$id"
done
checks=$((checks + 1))
[ "$(size "$TEST_TMP/carol-state/dcr/heads/$id")" -gt "$newer" ] || fail "the forked log did not outgrow $newer"
expect 9 "bob is shown a fork of what alice saw" as bob status "$id"
has "$err" "fork of room $id: the log at size [0-9]+ \(root [0-9a-f]{64}\) does not extend the one this client saw at size $newer " \
	"named as a fork"
expect 9 "and alice" as alice status "$id"
has "$err" "fork of room $id" "alice too"

# A room that vanished: every identity that saw it catches it, the others are told there is none.
expect 0 "another room" as alice --json create --salt vanish room/room.yaml
id2=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
expect 0 "bob sees it" as bob status "$id2"
stop_dcrd
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for t in ("rooms", "audit", "audit_frontier"):
    c.execute("DELETE FROM %s WHERE %s = ?" % (t, "id" if t == "rooms" else "room_id"), (sys.argv[2],))
c.commit()' data/state.db "$id2" || fail "deleting the room's rows"
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 9 "alice: the room vanished" as alice status "$id2"
has "$err" "room $id2 existed with a log of size [0-9]+, but dcrd now denies it" "alice names it"
expect 9 "bob: the room vanished" as bob status "$id2"
has "$err" "room $id2 existed with a log of size [0-9]+, but dcrd now denies it" "bob names it"
expect 4 "the platform identity never saw it" as alice-platform status "$id2"

# Migration: a head kept by an older dcr, without the per-identity folder.
expect 0 "a third room" as alice --json create --salt legacy room/room.yaml
id3=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
rm -r "$heads/$id3.ids"
expect 9 "a legacy head is strict for every identity" as alice-platform status "$id3"
has "$err" "room $id3 existed with a log of size [0-9]+, but dcrd now denies it" "as before per-identity heads"
checks=$((checks + 1))
[ ! -e "$heads/$id3.ids" ] || fail "a refused call migrated the head"
expect 0 "alice is answered with the log" as alice status "$id3"
checks=$((checks + 1))
[ "$(find "$heads/$id3.ids" -type f | wc -l)" = 1 ] || fail "alice's answer did not migrate the head"
expect 4 "after which the platform identity is told there is no such room" as alice-platform status "$id3"
expect 0 "and bob is checked against the machine's head" as bob status "$id3"

finish
