#!/bin/bash
# The room's owner (who created it) may stop it without the stop permission,
# unless the room says owner_stops: false. Only the owner: the same address
# certified by the same root; another participant, or the owner's address
# under another CA, may not.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_ca beta-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@beta.example beta-ca
# Alice's address certified by Beta's CA, which the room also lists (for beta.example).
make_user beta-alice alice@acme.example beta-ca

mkdir -p room
cp acme-ca.pem room/acme.pem
cp beta-ca.pem room/beta.pem
room() {
	cat <<YAML
version: 1
name: owned
enclave: dcrd:sim
authentication:
  ca:
    - {file: acme.pem, certifies: [acme.example]}
    - {file: beta.pem, certifies: [beta.example]}
participants:
  alice@acme.example: []
  bob@acme.example: []
  carol@beta.example: [$1]
$2
YAML
}
room "" "" >room/room.yaml
room "" "owner_stops: true" >room/explicit.yaml
room "" "owner_stops: false" >room/strict.yaml
room "" "owner_stops: maybe" >room/bad.yaml
room stop "owner_stops: false" >room/carol-stops.yaml

as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -i "$TEST_TMP/$who" "$@"; }
id_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$1"; }

# The key: a boolean, the default written out changes nothing, false is another room.
expect 0 "dry run" "$DCR" --json create --dry-run room/room.yaml
id=$(id_of "$out")
has "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["owner_stops"])' <<<"$out")" '^True$' "--json: owner_stops true by default"
expect 0 "dry run, owner_stops: true" "$DCR" --json create --dry-run room/explicit.yaml
has "$(id_of "$out")" "^$id$" "owner_stops: true is the default: same room ID"
expect 0 "dry run, owner_stops: false" "$DCR" --json create --dry-run room/strict.yaml
strict=$(id_of "$out")
checks=$((checks + 1))
[ "$strict" != "$id" ] || fail "owner_stops: false gave the same room ID"
has "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["owner_stops"])' <<<"$out")" '^False$' "--json: owner_stops false"
expect 0 "dry run in text" "$DCR" create --dry-run room/room.yaml
has "$out" "the room's owner, who creates it, may also stop it" "the summary says the owner may stop"
expect 0 "dry run in text, strict" "$DCR" create --dry-run room/strict.yaml
has "$out" "may not stop it without 'stop'" "and when not"
expect 6 "not a boolean" "$DCR" create --dry-run room/bad.yaml
has "$err" "room/bad.yaml:[0-9]+:[0-9]+: .*owner_stops" "the bad value is located"

start_dcrd data || finish
expect 0 "alice creates" as alice create room/room.yaml
expect 3 "bob, a participant without stop, may not stop it" as bob stop "$id"
has "$err" "bob@acme.example lacks permission 'stop'" "bob is told why"
expect 4 "alice's address from another CA is not the owner (nor a participant)" as beta-alice stop "$id"
expect 0 "the owner stops it" as alice stop "$id"
expect 0 "status" as alice --json status "$id"
has "$(python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["status"], j["stopped_by"])' <<<"$out")" \
	'^stopped alice@acme.example$' "stopped by alice"
expect 0 "audit" as alice audit "$id"
has "$out" "alice@acme.example +[0-9a-f]{12} +room.stop +${id:0:12} +allowed" "the owner's stop is logged as allowed"

# owner_stops: false: the owner has no implicit stop; whoever has stop does.
expect 0 "alice creates the strict room" as alice create room/strict.yaml
expect 3 "the owner may not stop it" as alice stop "$strict"
has "$err" "alice@acme.example lacks permission 'stop'" "alice is told why"
expect 0 "dry run, carol stops" "$DCR" --json create --dry-run room/carol-stops.yaml
cs=$(id_of "$out")
expect 0 "bob creates a room where carol has stop" as bob create room/carol-stops.yaml
expect 3 "its owner, bob, may not stop it" as bob stop "$cs"
expect 3 "alice may not" as alice stop "$cs"
expect 0 "carol may" as carol stop "$cs"

# Who the owner is does not depend on the permissions: a participant with stop
# created by someone else, and the owner created by carol (another CA).
expect 0 "carol creates the default room again, salted" as carol --json create --salt carols room/room.yaml
cid=$(id_of "$out")
expect 3 "alice is not its owner" as alice stop "$cid"
expect 0 "carol, its owner, stops it" as carol stop "$cid"

finish
