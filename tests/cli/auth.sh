#!/bin/bash
# dcr auth: keygen, an organisation CA that issues certificates openssl
# accepts, import, whoami, and the identity used against a real dcrd.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
mode() { stat -c %a "$1"; }
id=$TEST_TMP/alice

# keygen: a P-256 key (0600) and a request, in a directory made 0700.
expect 0 "keygen" "$DCR" -i "$id" auth keygen --email Alice@Acme.example
has "$out" "$id/key.pem" "keygen names the key"
has "$out" "dcr auth import" "keygen says what comes next"
checks=$((checks + 1))
[ "$(mode "$id")" = 700 ] && [ "$(mode "$id/key.pem")" = 600 ] || fail "modes: $(ls -la "$id")"
checks=$((checks + 1))
grep -q 'BEGIN PRIVATE KEY' "$id/key.pem" || fail "key.pem is not PKCS#8"
run openssl req -in "$id/request.csr" -noout -verify -text
has "$out$err" 'verify OK|Certificate request self-signature verify OK' "the request verifies"
has "$out" 'CN ?= ?alice@acme.example' "the request's CN"
has "$out" 'email:alice@acme.example' "the request's SAN"
key_before=$(sha256sum <"$id/key.pem")

expect 1 "keygen again" "$DCR" -i "$id" auth keygen --email alice@acme.example
has "$err" "^dcr: auth: '$id/key.pem' already exists; .*--force" "an existing key is refused"
checks=$((checks + 1))
[ "$(sha256sum <"$id/key.pem")" = "$key_before" ] || fail "the refused keygen changed key.pem"
expect 2 "keygen with a bad e-mail" "$DCR" -i "$TEST_TMP/x" auth keygen --email alice@localhost
has "$err" "'alice@localhost' is not a valid e-mail address" "the bad address is quoted"
checks=$((checks + 1))
[ ! -e "$TEST_TMP/x" ] || fail "a refused keygen made its directory"
expect 2 "keygen without --email" "$DCR" -i "$id" auth keygen
expect 2 "keygen with --days" "$DCR" -i "$id" auth keygen --email a@acme.example --days 3
expect 0 "keygen --force" "$DCR" -i "$id" auth keygen --email alice@acme.example --force
checks=$((checks + 1))
[ "$(sha256sum <"$id/key.pem")" != "$key_before" ] && [ "$(mode "$id/key.pem")" = 600 ] ||
	fail "--force did not replace the key with a 0600 file"
expect 0 "keygen in the default directory" "$DCR" auth keygen --email carol@acme.example
checks=$((checks + 1))
[ -f "$XDG_CONFIG_HOME/dcr/key.pem" ] || fail "no key in \$XDG_CONFIG_HOME/dcr"

# ca init: a CA key (0600) and certificate (CA:TRUE, keyCertSign, cRLSign).
expect 0 "ca init" "$DCR" auth ca init --name "Acme Corp"
has "$out" 'acme-corp-ca/ca.pem' "ca init prints the certificate to put in rooms"
checks=$((checks + 1))
[ "$(mode acme-corp-ca/ca.key)" = 600 ] && [ "$(mode acme-corp-ca)" = 700 ] || fail "CA modes"
run openssl x509 -in acme-corp-ca/ca.pem -noout -text
has "$out" 'Subject: CN ?= ?Acme Corp' "CA subject"
has "$out" 'CA:TRUE' "CA basic constraints"
has "$out" 'Certificate Sign, CRL Sign' "CA key usage"
expect 1 "ca init again" "$DCR" auth ca init --name "Acme Corp"
has "$err" "already holds a CA" "an existing CA is refused"
expect 2 "ca init without --name" "$DCR" auth ca init
expect 0 "ca init --dir" "$DCR" auth ca init --name Evil --dir evil

# ca issue: a chain openssl accepts, with the required extensions.
expect 0 "ca issue" "$DCR" auth ca issue --dir acme-corp-ca "$id/request.csr"
has "$out" "$id/request.crt" "the default output is the request with .crt"
expect 0 "openssl verify" openssl verify -CAfile acme-corp-ca/ca.pem "$id/request.crt"
expect 2 "openssl verify against another CA" openssl verify -CAfile evil/ca.pem "$id/request.crt"
run openssl x509 -in "$id/request.crt" -noout -text
has "$out" 'CA:FALSE' "leaf basic constraints"
has "$out" 'Digital Signature' "leaf key usage"
has "$out" 'E-mail Protection, TLS Web Client Authentication' "leaf extended key usage"
has "$out" 'email:alice@acme.example' "leaf SAN"
has "$out" 'Authority Key Identifier' "leaf AKI"
checks=$((checks + 1))
[ "$(grep -c 'BEGIN CERTIFICATE' "$id/request.crt")" = 2 ] || fail "the chain is not leaf + CA"
expect 1 "ca issue over an existing file" "$DCR" auth ca issue --dir acme-corp-ca "$id/request.csr"
expect 0 "ca issue --days -o" "$DCR" auth ca issue --dir acme-corp-ca --days 10 -o short.crt "$id/request.csr"
end=$(openssl x509 -in short.crt -noout -enddate | cut -d= -f2)
checks=$((checks + 1))
left=$(( ($(date -d "$end" +%s) - $(date +%s) + 60) / 86400 ))
[ "$left" = 10 ] || fail "--days 10 gave $end"
expect 2 "ca issue --days 3651" "$DCR" auth ca issue --dir acme-corp-ca --days 3651 -o x.crt "$id/request.csr"
expect 2 "ca issue --days x" "$DCR" auth ca issue --dir acme-corp-ca --days x -o x.crt "$id/request.csr"
expect 4 "ca issue without a CA" "$DCR" auth ca issue -o x.crt "$id/request.csr"
expect 4 "ca issue a missing request" "$DCR" auth ca issue --dir acme-corp-ca nope.csr
# A request with only a common name, made by openssl: the CN becomes the SAN.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout bob.key -out bob.csr \
	-subj "/CN=bob@acme.example" >/dev/null 2>&1 || fail "openssl req"
expect 0 "ca issue a CN-only request" "$DCR" auth ca issue --dir acme-corp-ca bob.csr
has "$(openssl x509 -in bob.crt -noout -ext subjectAltName)" 'email:bob@acme.example' "the CN became the SAN"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout nobody.key -out nobody.csr \
	-subj "/CN=nobody" >/dev/null 2>&1 || fail "openssl req"
expect 6 "ca issue a request without an e-mail" "$DCR" auth ca issue --dir acme-corp-ca nobody.csr
has "$err" "names no e-mail address" "the missing e-mail is explained"
sed 's/^MII/MIJ/' "$id/request.csr" >bad.csr
expect 6 "ca issue a corrupted request" "$DCR" auth ca issue --dir acme-corp-ca bad.csr

# import: only a valid certificate for our key, installed 0600.
expect 4 "whoami before import" "$DCR" -i "$id" auth whoami
has "$err" "no identity in '$id'" "whoami says there is no identity"
expect 6 "import another key's certificate" "$DCR" -i "$id" auth import bob.crt
has "$err" "^dcr: auth: 'bob.crt': .*not for this key" "a mismatch is explained"
checks=$((checks + 1))
[ ! -e "$id/cert.pem" ] || fail "a refused import installed cert.pem"
expect 4 "import a missing file" "$DCR" -i "$id" auth import nope.crt
expect 4 "import without a key" "$DCR" -i "$TEST_TMP/nobody" auth import bob.crt
expect 0 "import" "$DCR" -i "$id" auth import "$id/request.crt"
has "$out" "alice@acme.example" "import names the address"
checks=$((checks + 1))
[ "$(mode "$id/cert.pem")" = 600 ] || fail "cert.pem mode $(mode "$id/cert.pem")"

# whoami, text and JSON.
fp=sha256:$(openssl pkey -in "$id/key.pem" -pubout -outform DER | sha256sum | cut -d' ' -f1)
expect 0 "whoami" "$DCR" -i "$id" auth whoami
has "$out" '^email +alice@acme.example$' "whoami e-mail"
has "$out" '^issuer +CN=Acme Corp$' "whoami issuer"
has "$out" '^pki +organisation$' "whoami: an organisation certificate"
has "$out" '^expires +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' "whoami expiry"
has "$out" "^fingerprint +$fp$" "whoami fingerprint"
expect 0 "whoami --json" "$DCR" -i "$id" --json auth whoami
checks=$((checks + 1))
JSON=$out FP=$fp python3 -c '
import json, os
d = json.loads(os.environ["JSON"])
assert d["email"] == "alice@acme.example" and d["issuer"] == "CN=Acme Corp", d
assert d["fingerprint"] == os.environ["FP"] and d["expires"].endswith("Z"), d' || fail "whoami --json: $out"
expect 2 "login without --token" "$DCR" auth login --email a@acme.example
has "$err" 'login needs --token T' "login asks for the token"
expect 2 "an unknown subcommand" "$DCR" auth whoamii
has "$err" "did you mean 'whoami'" "a suggestion"

# The identity works against a real dcrd, in a room that trusts the CA.
"$DCRD" spec >specs.yaml || fail "dcrd spec"
mkdir room && cp acme-corp-ca/ca.pem room/ca.pem
cat >room/room.yaml <<YAML
version: 1
name: pki
description: made with dcr auth
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop, upload notes]
data:
  notes: {type: file}
YAML
start_dcrd data || finish
expect 0 "create with the issued identity" "$DCR" --specs specs.yaml -i "$id" create room/room.yaml
room=$(sed -n 's/^created room \([0-9a-f]*\)$/\1/p' <<<"$out")
has "$room" '^[0-9a-f]{64}$' "a room was created"
expect 0 "rooms" "$DCR" --specs specs.yaml -i "$id" rooms
has "$out" "${room:0:8}" "rooms lists it"
has "$out" "pki" "rooms lists it by name"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key -out evil.csr \
	-subj "/CN=alice@acme.example" >/dev/null 2>&1
mkdir -p mallory && cp evil.key mallory/key.pem
"$DCR" auth ca issue --dir evil -o mallory/cert.pem evil.csr >/dev/null || fail "issue by the other CA"
expect 3 "another CA's alice is refused" "$DCR" --specs specs.yaml -i "$TEST_TMP/mallory" create --salt m room/room.yaml

finish
