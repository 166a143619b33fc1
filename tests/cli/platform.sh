#!/bin/bash
# The platform PKI: dcrd token create, dcr auth login against dcrd's
# in-enclave CA, refused tokens (wrong, reused, expired, another address),
# nothing secret at rest or in the log, the CA across restarts, and rooms
# that accept platform certificates only when their definition says so.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
mode() { stat -c %a "$1"; }
# Each person on their own machine: their own identity and tree heads.
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -i "$TEST_TMP/$who" "$@"; }
# new_token EMAIL [ARGS...]: a token on stdout; what dcrd says goes to token.log.
new_token() { local e=$1; shift; "$DCRD" token create --data-dir data --email "$e" "$@" 2>>"$TEST_TMP/token.log"; }
tokens=()

# dcrd token: usage errors and a data directory that is not one.
expect 2 "token without a subcommand" "$DCRD" token
expect 2 "token with an unknown subcommand" "$DCRD" token make
has "$err" "unknown subcommand 'make'" "the subcommand is quoted"
expect 0 "token create --help" "$DCRD" token create --help
has "$out" '^usage: dcrd token create --data-dir DIR --email E \[--ttl DURATION\]$' "token usage"
expect 2 "token create without --email" "$DCRD" token create --data-dir data
expect 2 "token create without --data-dir" "$DCRD" token create --email a@acme.example
expect 2 "token create with a bad e-mail" "$DCRD" token create --data-dir data --email alice@localhost
has "$err" "'alice@localhost' is not a valid e-mail address" "the bad address is quoted"
for ttl in 0s 5 31d -1h 1w 2h30m 99999999999999999999d; do
	expect 2 "token create --ttl $ttl" "$DCRD" token create --data-dir data --email a@acme.example --ttl "$ttl"
	has "$err" "invalid --ttl '$ttl'" "--ttl $ttl is refused"
done
expect 1 "token create without a data directory" "$DCRD" token create --data-dir nowhere --email a@acme.example
has "$err" "'nowhere' is not a data directory" "the missing directory is named"
mkdir -m 755 open
expect 1 "token create in an open directory" "$DCRD" token create --data-dir open --email a@acme.example
has "$err" "accessible to other users" "an open data directory is refused"

# First start: a CA whose key exists only sealed.
start_dcrd data || finish
has "$(cat dcrd.log)" 'created the platform CA' "dcrd says it made the CA"
checks=$((checks + 1))
[ -f data/platform-ca.sealed ] && [ "$(mode data/platform-ca.sealed)" = 600 ] || fail "no sealed CA: $(ls -la data)"
checks=$((checks + 1))
! grep -rq 'PRIVATE KEY' data || fail "a private key in PEM in the data directory"
run openssl x509 -in data/platform-ca.pem -noout -subject -ext basicConstraints
has "$out" 'CN ?= ?dcr platform CA' "the CA's name"
has "$out" 'CA:TRUE' "the CA is a CA"
ca_before=$(sha256sum <data/platform-ca.pem)

# Token create while dcrd runs: the token once on stdout, only its hash at rest.
expect 0 "token create while dcrd runs" "$DCRD" token create --data-dir data --email Alice@Acme.example
tok=$out
tokens+=("$tok")
has "$tok" '^dcrpt_[A-Za-z0-9_-]{43}$' "a recognisable token"
has "$err" 'token for alice@acme.example, valid once until [0-9-]+T[0-9:]+Z' "what the token is for"
lacks "$err" "${tok#dcrpt_}" "the token is not repeated on stderr"
checks=$((checks + 1))
! grep -rqaF "${tok#dcrpt_}" data || fail "the token is in the data directory in plain text"
checks=$((checks + 1))
TOKEN=$tok python3 -c '
import hashlib, os, sqlite3
db = sqlite3.connect("file:data/state.db?mode=ro", uri=True)
rows = db.execute("SELECT hash, email, used_ms FROM platform_tokens").fetchall()
want = hashlib.sha256(os.environ["TOKEN"].encode()).digest()
assert rows == [(want, "alice@acme.example", None)], rows' || fail "the token table does not hold just its hash"
tok2=$(new_token alice@acme.example)
tokens+=("$tok2")
checks=$((checks + 1))
[ "$tok2" != "$tok" ] || fail "two tokens are the same"

# Login: a new key, a certificate from the platform CA, the CA beside it.
expect 0 "login" as alice auth login --email Alice@Acme.example --token "$tok"
has "$out" '^logged in as alice@acme.example: a platform certificate valid until ' "login says who"
has "$out" 'private key .*new, mode 0600' "login made a key"
has "$err" 'simulated attestation' "login goes through attestation"
checks=$((checks + 1))
[ "$(mode alice/key.pem)" = 600 ] && [ "$(mode alice/cert.pem)" = 600 ] && [ "$(mode alice)" = 700 ] ||
	fail "identity modes: $(ls -la alice)"
expect 0 "the certificate verifies against the platform CA" openssl verify -CAfile alice/platform-ca.pem alice/cert.pem
checks=$((checks + 1))
cmp -s alice/platform-ca.pem data/platform-ca.pem || fail "the CA the client got is not dcrd's"
run openssl x509 -in alice/cert.pem -noout -ext subjectAltName,basicConstraints
has "$out" 'email:alice@acme.example' "the certificate's address"
has "$out" 'CA:FALSE' "the certificate is no CA"
expect 0 "whoami" as alice auth whoami
has "$out" '^issuer +CN=dcr platform CA$' "whoami shows the platform issuer"
has "$out" '^pki +platform' "whoami says it is a platform certificate"
expect 0 "whoami --json" as alice --json auth whoami
checks=$((checks + 1))
JSON=$out python3 -c '
import json, os
d = json.loads(os.environ["JSON"])
assert d["pki"] == "platform" and d["issuer"] == "CN=dcr platform CA", d' || fail "whoami --json: $out"

# Refusals: status 3, nothing written.
expect 3 "a reused token" as alice2 auth login --email alice@acme.example --token "$tok"
has "$err" 'login refused: the token was used already' "a reused token says so"
checks=$((checks + 1))
[ ! -e alice2 ] || fail "a refused login left files: $(ls -la alice2)"
wrong=dcrpt_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
expect 3 "a wrong token" as alice2 auth login --email alice@acme.example --token "$wrong"
has "$err" 'login refused: the token is not valid' "a wrong token says so"
tok_bob=$(new_token bob@acme.example --ttl 1s)
tokens+=("$tok_bob")
sleep 2
expect 3 "an expired token" as bob auth login --email bob@acme.example --token "$tok_bob"
has "$err" 'login refused: the token expired at ' "an expired token says so"
tok_carol=$(new_token carol@acme.example --ttl 10m)
tokens+=("$tok_carol")
expect 3 "a token for another address" as mallory auth login --email mallory@acme.example --token "$tok_carol"
has "$err" 'login refused: the token was issued for another e-mail address' "another address says so"
lacks "$err" 'carol' "the token's address is not told"
expect 2 "login without a token" as carol auth login --email carol@acme.example
expect 2 "login with an empty token" as carol auth login --email carol@acme.example --token -  </dev/null
expect 2 "login without --email" as carol auth login --token "$tok_carol"
expect 2 "login with --days" as carol auth login --email carol@acme.example --token "$tok_carol" --days 3

# The refused token still works for its owner; from standard input, or $DCR_TOKEN.
expect 0 "login with the token on standard input" as carol auth login --email carol@acme.example --token - <<<"$tok_carol"
tok_dave=$(new_token dave@acme.example)
tokens+=("$tok_dave")
export DCR_TOKEN=$tok_dave
expect 0 "login with DCR_TOKEN" as dave --json auth login --email dave@acme.example
unset DCR_TOKEN
checks=$((checks + 1))
JSON=$out python3 -c '
import json, os
d = json.loads(os.environ["JSON"])
assert d["email"] == "dave@acme.example" and d["new_key"] is True and d["issuer"] == "CN=dcr platform CA", d' ||
	fail "login --json: $out"

# An organisation identity is not replaced without --force; its key is kept with it.
make_ca acme-ca
make_user orgerin erin@acme.example acme-ca
tok_erin=$(new_token erin@acme.example)
tokens+=("$tok_erin")
expect 1 "login over an organisation certificate" as orgerin auth login --email erin@acme.example --token "$tok_erin"
has "$err" 'holds an organisation certificate for erin@acme.example; not replacing it' "login keeps an org certificate"
key_before=$(sha256sum <orgerin/key.pem)
expect 0 "login --force over an organisation certificate" as orgerin auth login --email erin@acme.example \
	--token "$tok_erin" --force
has "$out" 'private key .*kept' "the key is kept"
checks=$((checks + 1))
[ "$(sha256sum <orgerin/key.pem)" = "$key_before" ] || fail "login --force replaced a key it could keep"
tok_frank=$(new_token frank@acme.example)
tokens+=("$tok_frank")
expect 1 "login as someone else in an identity" as alice auth login --email frank@acme.example --token "$tok_frank"
has "$err" "is the identity of alice@acme.example" "another person's identity is kept"

# The log: every refusal and login, one line each, never a token.
log=$(cat dcrd.log)
has "$log" '^dcrd: login: issued a platform certificate to alice@acme.example, valid until ' "a login is logged"
has "$log" '^dcrd: login refused for alice@acme.example: token already used$' "a reused token is logged"
has "$log" '^dcrd: login refused for alice@acme.example: unknown token$' "a wrong token is logged"
has "$log" '^dcrd: login refused for bob@acme.example: token expired$' "an expired token is logged"
has "$log" '^dcrd: login refused for mallory@acme.example: token issued for another e-mail address$' \
	"another address is logged"
for t in "${tokens[@]}" "$wrong"; do
	lacks "$log$(cat token.log)" "${t#dcrpt_}" "no token in the logs"
done

# Rooms: platform certificates count only where the definition enables them.
make_user orgalice alice@acme.example acme-ca
make_user orgcarol carol@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/platform.yaml <<YAML
version: 1
name: hosted
enclave: dcrd:sim
authentication: {platform: true}
participants:
  alice@acme.example: [stop]
  carol@acme.example:
YAML
cat >room/org.yaml <<YAML
version: 1
name: organisation
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop]
  carol@acme.example:
YAML
cat >room/both.yaml <<YAML
version: 1
name: both
enclave: dcrd:sim
authentication:
  ca: {file: ca.pem, certifies: [alice@acme.example]}
  platform: true
participants:
  alice@acme.example: [stop]
  carol@acme.example:
YAML
expect 3 "an organisation user cannot create a platform room" as orgalice create room/platform.yaml
has "$err" "does not chain to this dcrd's platform CA" "the creator is told why"
expect 0 "a platform user creates a platform room" as alice -q create room/platform.yaml
p_room=$out
has "$p_room" '^[0-9a-f]{64}$' "the platform room's ID"
expect 0 "a platform participant reads it" as carol rooms "$p_room"
has "$out" 'hosted' "carol sees the room"
expect 4 "an organisation certificate for a participant gets nothing" as orgcarol rooms "$p_room"
has "$err" "no room $p_room" "the org user is told there is no room"
expect 0 "an organisation user creates an organisation room" as orgalice -q create room/org.yaml
o_room=$out
expect 3 "a platform user cannot create an organisation room" as alice create --salt x room/org.yaml
has "$err" "does not chain to the CA the room assigns to this address \\(SHA-256 " "the platform creator is told why"
expect 4 "a platform certificate for a participant gets nothing" as carol rooms "$o_room"
has "$err" "no room $o_room" "the platform user is told there is no room"
expect 0 "the organisation participant reads it" as orgcarol rooms "$o_room"
# Both: alice by the organisation CA, carol (the rest) by the platform CA. Neither CA vouches for the other's.
expect 3 "both: a platform certificate cannot create it for the organisation's participant" \
	as alice create room/both.yaml
has "$err" "alice@acme.example: the certificate does not chain to the CA the room assigns" "the creator is told which CA"
expect 0 "a room with both" as orgalice -q create room/both.yaml
b_room=$out
expect 0 "both: the platform participant" as carol rooms "$b_room"
expect 4 "both: an organisation certificate for the platform participant" as orgcarol rooms "$b_room"
has "$err" "no room $b_room" "the organisation impostor is told there is no room"
expect 0 "both: the organisation participant" as orgalice rooms "$b_room"
expect 4 "both: a platform certificate for the organisation participant" as alice stop "$b_room"
has "$err" "no room $b_room" "the platform impostor is told there is no room"
expect 0 "both: the log names each caller's issuer" as orgalice --json audit "$b_room"
checks=$((checks + 1))
JSON=$out ORG=$(openssl x509 -in acme-ca.pem -outform DER | sha256sum | cut -d' ' -f1) \
	PLATFORM=$(openssl x509 -in data/platform-ca.pem -outform DER | sha256sum | cut -d' ' -f1) python3 - <<'PY' ||
import json, os
entries = json.loads(os.environ["JSON"])["entries"]
who = {(e["caller"], e["issuer"]) for e in entries}
assert ("alice@acme.example", os.environ["ORG"]) in who, who
assert ("carol@acme.example", os.environ["PLATFORM"]) in who, who
assert not any(e["caller"] == "alice@acme.example" and e["issuer"] != os.environ["ORG"] for e in entries), entries
assert not any(e["caller"] == "carol@acme.example" and e["issuer"] != os.environ["PLATFORM"] for e in entries), entries
PY
	fail "the issuers in the log: $out"
expect 0 "room list of a platform user" as carol rooms
has "$out" 'hosted' "the platform room is listed"
has "$out" 'both' "the room with both is listed"
lacks "$out" 'organisation' "the organisation room is not"

# The CA survives a restart; certificates issued before still work.
stop_dcrd
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd stopped with status $rc: $(tail -5 dcrd.log)"
expect 0 "token create while dcrd is stopped" "$DCRD" token create --data-dir data --email gina@acme.example
tok_gina=$out
start_dcrd data || finish
checks=$((checks + 1))
[ "$(sha256sum <data/platform-ca.pem)" = "$ca_before" ] || fail "the platform CA changed across a restart"
expect 0 "an old platform certificate after a restart" as carol rooms "$p_room"
expect 0 "login after a restart" as gina auth login --email gina@acme.example --token "$tok_gina"
expect 0 "the new certificate chains to the same CA" openssl verify -CAfile alice/platform-ca.pem gina/cert.pem
checks=$((checks + 1))
[ "$(grep -c 'created the platform CA' dcrd.log)" = 1 ] || fail "the CA was made again"
checks=$((checks + 1))
for f in data/state.db*; do [ "$(mode "$f")" = 600 ] || fail "$f has mode $(mode "$f")"; done

# A damaged sealed CA stops dcrd; it is not silently replaced.
stop_dcrd
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd stopped with status $rc: $(tail -5 dcrd.log)"
checks=$((checks + 1))
! grep -q 'Sanitizer' dcrd.log || fail "sanitizer reports in dcrd's log: $(grep -A5 Sanitizer dcrd.log | head -20)"
python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[40] ^= 1
open(sys.argv[1], "wb").write(b)' data/platform-ca.sealed
expect 1 "a damaged sealed CA" timeout 20 "$DCRD" serve --data-dir data --listen 127.0.0.1:"$(free_port)"
has "$err" "platform-ca.sealed" "the damaged file is named"

finish
