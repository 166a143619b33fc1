#!/bin/bash
# The simulated-attestation warning: always from attest and create, else on
# the first command against an endpoint each day (UTC); never with -q; with
# --json, "attestation": "sim" in the output instead.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<YAML
version: 1
name: warned
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop]
YAML
warning='^dcr: warning: dcrd uses simulated attestation: NO hardware protection$'
count() { grep -c 'simulated attestation' <<<"$1"; }
stamps=$XDG_STATE_HOME/dcr/sim-warned

start_dcrd data || finish
for i in 1 2; do
	expect 0 "attest $i" "$DCR" attest
	has "$err" 'WARNING: simulated attestation: NO hardware protection' "attest warns, every time ($i)"
done
expect 0 "attest --json" "$DCR" --json attest
lacks "$err" 'simulated' "--json: no warning on standard error"
has "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["attestation"])' <<<"$out")" '^sim$' \
	"--json attest says attestation: sim"

expect 0 "create" "$DCR" -i alice --json create room/room.yaml
id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
has "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["attestation"])' <<<"$out")" '^sim$' \
	"--json create says attestation: sim"
lacks "$err" 'simulated' "--json create: no warning on standard error"
for i in 1 2; do
	expect 0 "create $i" "$DCR" -i alice create --salt "s$i" room/room.yaml
	has "$err" "$warning" "create warns, every time ($i)"
	checks=$((checks + 1))
	[ "$(count "$err")" = 1 ] || fail "create warned more than once: $err"
done

# The first command of the day against this endpoint was the --json create, whose stamp holds today.
checks=$((checks + 1))
[ "$(ls "$stamps" | wc -l)" = 1 ] || fail "one stamp per endpoint: $(ls "$stamps")"
stamp=$stamps/$(printf '%s' "$DCR_ENDPOINT" | sha256sum | cut -d' ' -f1)
has "$(cat "$stamp")" "^$(date -u +%Y-%m-%d)$" "the stamp holds today's UTC date"
checks=$((checks + 1))
[ "$(stat -c %a "$stamp")" = 600 ] && [ "$(stat -c %a "$stamps")" = 700 ] || fail "stamp modes"
expect 0 "status later that day" "$DCR" -i alice status "$id"
lacks "$err" 'simulated' "no warning for the rest of the day"
expect 0 "rooms later that day" "$DCR" -i alice rooms
lacks "$err" 'simulated' "rooms: no warning either"

# A new day: the first command warns once, the next does not.
echo 2000-01-01 >"$stamp"
expect 0 "status the next day" "$DCR" -i alice status "$id"
has "$err" "$warning" "the first command of the day warns"
expect 0 "status again" "$DCR" -i alice status "$id"
lacks "$err" 'simulated' "and only the first"
has "$(cat "$stamp")" "^$(date -u +%Y-%m-%d)$" "the stamp moved to today"

# -q: never; a stamp that cannot be written: always.
echo 2000-01-01 >"$stamp"
expect 0 "quiet" "$DCR" -q -i alice status "$id"
lacks "$err" 'simulated' "-q: no warning"
has "$(cat "$stamp")" "^2000-01-01$" "-q leaves the stamp alone"
rm -f "$stamp" && mkdir "$stamp"
for i in 1 2; do
	expect 0 "status with a broken stamp $i" "$DCR" -i alice status "$id"
	has "$err" "$warning" "a stamp that cannot be kept means the warning every time ($i)"
done
rmdir "$stamp"
expect 0 "status with the stamp gone" "$DCR" -i alice status "$id"
has "$err" "$warning" "no stamp: the warning is due"
has "$(cat "$stamp")" "^$(date -u +%Y-%m-%d)$" "the stamp is back"

# --json lists: every object says it.
expect 0 "rooms --json" "$DCR" -i alice --json rooms
has "$(python3 -c 'import json, sys; a = json.load(sys.stdin); print(len(a), sorted(set(r["attestation"] for r in a)))' <<<"$out")" \
	"^3 \['sim'\]$" "each room in the list says attestation: sim"
lacks "$err" 'simulated' "no warning with --json"
echo 2000-01-01 >"$stamp"
expect 0 "status --json" "$DCR" -i alice --json status "$id"
has "$(python3 -c 'import json, sys; print(json.load(sys.stdin)["attestation"])' <<<"$out")" '^sim$' "status --json"
lacks "$err" 'simulated' "--json: no warning even when one is due"
has "$(cat "$stamp")" "^2000-01-01$" "--json leaves the stamp alone: the next command for a person still warns"

# Another endpoint is another stamp.
start_dcrd data2 || finish
expect 0 "attest the second dcrd" "$DCR" -i alice rooms
has "$err" "$warning" "another endpoint warns on its first command"
checks=$((checks + 1))
[ "$(ls "$stamps" | wc -l)" = 2 ] || fail "two endpoints, two stamps: $(ls "$stamps")"

finish
