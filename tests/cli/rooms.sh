#!/bin/bash
# dcr create, rooms, status, stop against a real dcrd: who may create, list,
# read and stop a room; IDs checked end to end; rooms sealed at rest and
# surviving a crash.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
measurement=$(sed -n 's/^ *measurement: //p' specs.yaml)

make_ca acme-ca
make_ca evil-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example acme-ca
make_user mallory alice@acme.example evil-ca

marker=marker-$RANDOM$RANDOM-sealed
mkdir -p room/scripts
cp acme-ca.pem room/ca.pem
echo 'print(open("/input/notes.txt").read().upper())' >room/scripts/shout.py
cat >room/room.yaml <<YAML
version: 1
name: payroll
description: Joint payroll $marker
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop, upload pay, run total, fetch total]
  bob@acme.example: [upload notes, fetch total]
data:
  pay:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
  notes: {type: file}
compute:
  total:
    type: sql
    query: SELECT SUM(salary) AS total FROM pay
  shout:
    type: python
    script: scripts/shout.py
    mounts: {/input/notes.txt: notes}
YAML
# Where dcrd's sandbox cannot work it refuses python computations: the room goes without shout.
computations="shout total"
if ! sandbox_works; then
	sed -i '/^  shout:$/,$d' room/room.yaml
	computations=total
fi

# Each person is on their own machine: their own identity and their own
# memory of tree heads (an outsider on a machine that saw the room would
# rightly be told its history cannot just vanish).
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -i "$TEST_TMP/$who" "$@"; }

start_dcrd data || finish

# Create: the ID dcrd computes is the one dcr computed.
expect 0 "dry run" "$DCR" --json create --dry-run room/room.yaml
id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
has "$id" '^[0-9a-f]{64}$' "dry-run ID"
expect 0 "create as alice" as alice create room/room.yaml
has "$out" "^created room $id$" "created with the dry-run's ID"
has "$out" "^room id +$id$" "the summary follows"
has "$out" 'alice@acme.example +upload pay, run total, fetch total, stop' "who may do what"
has "$err" '^dcr: warning: dcrd uses simulated attestation: NO hardware protection$' "sim warning"
checks=$((checks + 1))
[ "$(grep -c 'simulated attestation' <<<"$err")" = 1 ] || fail "sim warning more than once: $err"
expect 1 "create again" as alice create room/room.yaml
has "$err" "^dcr: create: .*exists" "an existing room is refused"
expect 0 "create with --salt" as alice --json create --salt two room/room.yaml
checks=$((checks + 1))
id2=$(JSON=$out python3 -c '
import json, os
d = json.loads(os.environ["JSON"])
assert d["created"] is True and d["salt"] == "two", d
print(d["id"])') || fail "create --json: $out"
has "$id2" '^[0-9a-f]{64}$' "second room ID"
[ "$id2" != "$id" ] || fail "a salt gave the same room"
expect 0 "create -q prints only the ID" as alice -q create --salt three room/room.yaml
has "$out" '^[0-9a-f]{64}$' "-q: the ID alone"
lacks "$err" 'warning' "-q: no warning"
id3=$out

# Listing: participants see every room, others nothing.
for who in alice bob; do
	expect 0 "rooms as $who" as "$who" rooms
	has "$out" '^ID +NAME +STATUS +OWNER +ENCLAVE +DESCRIPTION$' "$who: header"
	has "$out" "^$id +payroll +active +alice@acme.example +dcrd:sim ${measurement:0:12} +Joint payroll" "$who: room 1"
	has "$out" "^$id2 " "$who: room 2"
done
expect 0 "rooms as carol" as carol rooms
has "$out" '^\(no rooms\)$' "a non-participant sees no rooms"
expect 0 "rooms as mallory" as mallory rooms
has "$out" '^\(no rooms\)$' "a certificate from another CA sees no rooms"
expect 4 "rooms ID as mallory" as mallory rooms "$id"
has "$err" "^dcr: rooms: no room $id" "not found for mallory"
expect 4 "status as carol" as carol status "$id"
expect 0 "rooms --json" as bob --json rooms
checks=$((checks + 1))
JSON=$out python3 - "$id" "$measurement" <<'PY' || fail "rooms --json: $out"
import json, os, re, sys
rooms = {r["id"]: r for r in json.loads(os.environ["JSON"])}
r = rooms[sys.argv[1]]
assert len(rooms) == 3, rooms
assert r["name"] == "payroll" and r["status"] == "active" and r["owner"] == "alice@acme.example", r
assert r["enclave"] == "dcrd:sim" and r["measurement"] == sys.argv[2], r
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created"]), r
assert r["stopped"] is None and r["stopped_by"] is None, r
assert r["description"].startswith("Joint payroll marker-"), r
PY
expect 0 "narrow terminal" env COLUMNS=120 "$DCR" -i bob rooms
has "$out" ' Joint payroll mar\.\.\.$' "the description is cut to fit"

# One room: the definition, checked against its ID.
expect 0 "rooms ID" as bob rooms "$id"
has "$out" '^status +active$' "status line"
has "$out" '^owner +alice@acme.example$' "owner line"
has "$out" "^room id +$id$" "the summary"
has "$out" '^  total +sql$' "computations listed"
[ "$computations" = total ] || has "$out" '^  shout +python, script shout.py' "script named"
expect 0 "rooms by prefix" as bob rooms "${id:0:10}"
has "$out" "^room id +$id$" "a prefix finds the room"
expect 0 "rooms ID --json" as bob --json rooms "$id"
checks=$((checks + 1))
JSON=$out python3 - "$id" "$computations" <<'PY' || fail "rooms ID --json: $out"
import json, os, re, sys
d = json.loads(os.environ["JSON"])
assert d["id"] == sys.argv[1] and d["status"] == "active" and d["owner"] == "alice@acme.example", d
assert [c["name"] for c in d["compute"]] == sys.argv[2].split(), d
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["created"]) and d["stopped"] is None, d
PY
expect 2 "short prefix" as bob rooms "${id:0:7}"
has "$err" "not a room ID" "too short explained"
expect 2 "not hex" as bob status nothex-nothex
expect 4 "unknown prefix" as bob rooms 00000000
has "$err" "no room of yours has an ID starting with '00000000'" "unknown prefix"
expect 4 "unknown full ID" as bob rooms "$(printf '%064d' 0)"

# Status and stop.
expect 0 "status" as bob status "$id"
has "$out" "^room $id payroll: active \(since [0-9T:Z-]+, by alice@acme.example\)$" "active status"
expect 0 "status --json" as bob --json status "${id:0:12}"
has "$out" '"status": "active"' "status JSON"
expect 3 "bob may not stop" as bob stop "$id"
has "$err" "^dcr: stop: bob@acme.example lacks permission 'stop'" "the missing permission is named"
expect 0 "alice stops" as alice stop "$id"
has "$out" "^stopped room $id$" "stopped"
expect 0 "stop again" as alice stop "$id"
has "$out" "^room $id was already stopped$" "already stopped"
expect 0 "stop again --json" as alice --json stop "$id"
has "$out" '"already_stopped": true' "already stopped in JSON"
expect 3 "bob may not stop a stopped room either" as bob stop "$id"
expect 0 "status after stop" as bob status "$id"
has "$out" "^room $id payroll: stopped \(since [0-9T:Z-]+, by alice@acme.example\)$" "stopped status"
expect 0 "status --json after stop" as bob --json status "$id"
has "$out" '"stopped_by": "alice@acme.example"' "who stopped it"
expect 0 "rooms after stop" as alice rooms
has "$out" "^$id +payroll +stopped " "listed as stopped"
has "$out" "^$id2 +payroll +active " "the other room is still active"
expect 0 "stopped room's definition" as bob rooms "$id"
has "$out" '^status +stopped \(since .*, by alice@acme.example\)$' "stopped in the definition view"

# Who may create.
expect 3 "carol may not create" as carol create --salt carol room/room.yaml
has "$err" "carol@acme.example is not a participant" "non-participant refused"
expect 3 "mallory may not create" as mallory create --salt mallory room/room.yaml
has "$err" "does not chain to the CA the room assigns to this address \\(SHA-256 [0-9a-f]{64}\\)" "foreign certificate refused"

# A room that pins other enclave code.
other=$(printf '%064d' 7)
{ cat specs.yaml; printf '  dcrd:other:\n    format: sim\n    measurement: %s\n' "$other"; } >two-specs.yaml
sed 's/^enclave: dcrd:sim$/enclave: dcrd:other/' room/room.yaml >room/other.yaml
expect 0 "dry run for other code" "$DCR" --specs two-specs.yaml create --dry-run room/other.yaml
# dcr attests the enclave against the room's own spec, not any trusted one.
expect 5 "dcr refuses to create a room for other code here" as alice --specs two-specs.yaml create room/other.yaml
has "$err" "measurement $measurement is not pinned by spec 'dcrd:other'" "other code explained"
sed "s/$measurement/$other/" specs.yaml >wrong-specs.yaml
expect 5 "specs that do not pin this dcrd" as alice --specs wrong-specs.yaml create room/room.yaml
has "$err" "is not pinned by spec 'dcrd:sim'" "attestation rejection explained"

# Missing pieces.
expect 5 "no specs" env -u DCR_SPECS "$DCR" -i alice rooms
has "$err" "^dcr: rooms: no trusted specs given \(use --specs FILE or set DCR_SPECS\)$" "no specs explained"
expect 4 "no identity" "$DCR" rooms
has "$err" "^dcr: rooms: no identity in '$TEST_TMP/config/dcr' \(key.pem and cert.pem\); use -i DIR$" "identity dir named"
expect 4 "no identity with -i" "$DCR" -i nowhere status "$id"
has "$err" "no identity in 'nowhere'" "-i dir named"
mkdir -p config && cp -r alice config/dcr
expect 0 "identity from XDG_CONFIG_HOME" "$DCR" rooms
has "$out" "^$id " "default identity dir used"
mkdir -p home/.config && mv config/dcr home/.config/dcr
expect 0 "identity from HOME" env -u XDG_CONFIG_HOME "$DCR" rooms
has "$out" "^$id " "~/.config/dcr used"
expect 2 "status without a room" as alice status
expect 2 "rooms with two rooms" as alice rooms "$id" "$id2"
expect 6 "invalid definition is refused before any call" as alice create specs.yaml
expect 4 "missing definition" as alice create nope.yaml

# Sealed at rest: the marker never reaches the disk in the clear.
checks=$((checks + 1))
! grep -rqa -- "$marker" data || fail "the room definition is readable in the data directory: $(grep -rla -- "$marker" data)"
checks=$((checks + 1))
! grep -rqa -- "payroll" data || fail "the room name is readable in the data directory"
ls data >data-files
has "$(cat data-files)" '.' "the data directory holds files"

# A crash loses no room.
kill -KILL "$DCRD_PID"
wait "$DCRD_PID" 2>/dev/null
expect 8 "dcrd down" as alice rooms
has "$err" "cannot reach dcrd" "unreachable explained"
expect 8 "create with dcrd down" as alice create --salt down room/room.yaml
checks=$((checks + 1))
! grep -rqa -- "$marker" data || fail "the definition is readable after a crash (WAL?): $(grep -rla -- "$marker" data)"
start_dcrd data || finish
expect 0 "rooms after a crash" as alice rooms
for r in "$id" "$id2" "$id3"; do
	has "$out" "^$r " "room ${r:0:8} survives kill -9"
done
has "$out" "^$id +payroll +stopped " "stopped survives kill -9"
expect 0 "definition after a crash" as bob rooms "$id"

finish
