#!/bin/bash
# dcr-protocol(7) over plain HTTP: what dcrd answers a client that is not
# dcr, request by request, with curl.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
start_dcrd data || finish

# status TEXT: the last line of curl -w '\n%{http_code}' output.
status() { tail -n 1 <<<"$1"; }
# post TYPE FILE: POST /v1/call with that Content-Type ("" sends none).
post() {
	curl -sS -w '\n%{http_code}' -H "Content-Type:${1:+ $1}" --data-binary "@$2" "$DCR_ENDPOINT/v1/call"
}
# put TYPE FILE: PUT /v1/blobs/ID with that Content-Type ("" sends none).
blob=0123456789abcdef0123456789abcdef
put() {
	curl -sS -w '\n%{http_code}' -X PUT -H "Content-Type:${1:+ $1}" -H 'Authorization: Bearer dcrbt_x' \
		-H 'Upload-Offset: 0' --data-binary "@$2" "$DCR_ENDPOINT/v1/blobs/$blob"
}

# ---- POST /v1/call takes message/ohttp-req only: 415 names it ----
printf 'not a call' >garbage
for type in "" application/octet-stream application/x-www-form-urlencoded message/ohttp-res \
	"message/ohttp-reqx" "text/plain; x=message/ohttp-req"; do
	expect 0 "POST /v1/call with Content-Type '$type'" post "$type" garbage
	checks=$((checks + 1))
	[ "$(status "$out")" = 415 ] || fail "Content-Type '$type' got $(status "$out"), want 415"
	has "$out" '^Content-Type must be message/ohttp-req$' "the 415 for '$type' names the type"
done
# The right type, however spelt, reaches the decryption (which this garbage fails).
for type in message/ohttp-req Message/OHTTP-Req "message/ohttp-req; charset=binary" " message/ohttp-req "; do
	expect 0 "POST /v1/call with Content-Type '$type'" post "$type" garbage
	checks=$((checks + 1))
	[ "$(status "$out")" = 400 ] || fail "Content-Type '$type' got $(status "$out"), want 400"
	has "$out" 'malformed call' "'$type' is taken"
done
# Refused before the body: a large body of the wrong type gets 415, not 413.
head -c 2000000 /dev/zero >big
expect 0 "a large body of the wrong type" post application/octet-stream big
checks=$((checks + 1))
[ "$(status "$out")" = 415 ] || fail "a large body of the wrong type got $(status "$out"), want 415"
expect 0 "a large body of the right type" post message/ohttp-req big
checks=$((checks + 1))
[ "$(status "$out")" = 413 ] || fail "a large body of the right type got $(status "$out"), want 413"

# ---- PUT /v1/blobs/ID takes application/octet-stream only ----
printf 'ciphertext' >piece
for type in "" message/ohttp-req text/plain; do
	expect 0 "PUT a blob with Content-Type '$type'" put "$type" piece
	checks=$((checks + 1))
	[ "$(status "$out")" = 415 ] || fail "PUT with Content-Type '$type' got $(status "$out"), want 415"
	has "$out" '^Content-Type must be application/octet-stream$' "the PUT 415 for '$type' names the type"
done
# The right type reaches the token check: an unknown blob is 404.
expect 0 "PUT a blob with the right type" put application/octet-stream piece
checks=$((checks + 1))
[ "$(status "$out")" = 404 ] || fail "PUT with the right type got $(status "$out"), want 404"

# ---- a second client, written from dcr-protocol(7) alone, agrees with dcr ----
use_sim_specs
measurement=$(sed -n 's/^ *measurement: //p' specs.yaml)
make_ca acme-ca
make_ca other-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example other-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: protocol
enclave: dcrd:sim
authentication: {ca: ca.pem}
owner_stops: false     # alice creates it; only bob may stop it
participants:
  alice@acme.example:
  bob@acme.example: [stop]
YAML
expect 0 "create" "$DCR" -q -i alice create room/room.yaml || finish
room=$out
client() { python3 "$SRCDIR/tests/tools/protocol-client.py" "$DCR_ENDPOINT" "$measurement" "$@"; }
# field NAME: the value after "NAME " in $out.
field() { sed -n "s/^$1 //p" <<<"$out"; }

expect 0 "the second client lists the rooms" client alice list
has "$out" '^code 0$' "room.list succeeds"
has "$out" "^$room$" "the room dcr created is listed"
expect 0 "room.status" client alice status "$room"
has "$out" '^code 0$' "room.status succeeds"
has "$out" '^head [0-9]+ [0-9a-f]{64}$' "a signed tree head comes with it"
read -r size root <<<"$(field head)"
expect 0 "room.status again, with the head seen" client alice status "$room" "$size" "$root"
has "$out" "^head $((size + 1)) " "the log grew by one entry, consistently with the head seen"
read -r size root <<<"$(field head)"
wrong=$(printf '%s' "$root" | tr 0-9a-f 1-9a-f0)
expect 1 "a head that does not extend the one seen" client alice status "$room" "$size" "$wrong"
has "$err" "does not extend" "the second client checks the consistency proof"
read -r size root <<<"$(client alice status "$room" "$size" "$root" | sed -n 's/^head //p')"
expect 0 "room.stop without the permission" client alice stop "$room" "$size" "$root"
has "$out" '^code -3$' "refused: permission denied"
has "$out" "^message alice@acme.example lacks permission 'stop' in room $room$" "the refusal says why"
has "$out" "^head $((size + 1)) " "a refusal is logged too"
read -r size root <<<"$(field head)"
# dcr sees the same log: its audit lists the entries before its own call.
expect 0 "dcr audit" "$DCR" -q -i alice --json audit "$room"
has "$out" "\"size\": $size," "dcr's log has the size the second client saw"
has "$out" "\"root\": \"$root\"" "and the same root"
expect 0 "an outsider" client carol status "$room"
has "$out" '^code -4$' "an outsider is told there is no room"
lacks "$out" '^head' "and gets no head"
for skew in -360 360; do
	expect 0 "a call ${skew}s off" client alice stale "$room" "$skew"
	has "$out" '^code -9$' "a call ${skew}s off is stale"
done
expect 0 "a replayed request" client alice replay "$room"
has "$out" $'^code 0\ncode -9$' "the same request twice: served, then refused"
expect 0 "room.stop with the permission" client bob stop "$room"
has "$out" '^code 0$' "bob may stop the room"
expect 0 "dcr status" "$DCR" -q -i alice --json status "$room"
has "$out" '"status": "stopped"' "dcr sees the room stopped"

# ---- the other endpoints ----
expect 0 "GET /v1/call" curl -sS -w '\n%{http_code}' "$DCR_ENDPOINT/v1/call"
has "$out" '^405$' "GET /v1/call is 405"
expect 0 "POST /v1/evidence" curl -sS -w '\n%{http_code}' -d x "$DCR_ENDPOINT/v1/evidence"
has "$out" '^405$' "POST /v1/evidence is 405"
expect 0 "DELETE a blob" curl -sS -w '\n%{http_code}' -X DELETE "$DCR_ENDPOINT/v1/blobs/$blob"
has "$out" '^405$' "DELETE a blob is 405"
expect 0 "evidence headers" curl -sS -D - -o /dev/null "$DCR_ENDPOINT/v1/evidence"
has "$out" '^Content-Type: application/x-protobuf' "evidence is application/x-protobuf"
has "$out" '^Cache-Control: no-store' "evidence is not cached"

finish
