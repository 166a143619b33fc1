#!/bin/bash
# Local key files: dcr refuses every key file that group or others may
# access (dataset keys, key.pem, an organisation CA's ca.key), on every path
# that reads one.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
"$DCRD" spec >specs.yaml || fail "dcrd spec"
export DCR_SPECS=$TEST_TMP/specs.yaml
make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: key files
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload doc]
data:
  doc: {type: file}
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
keystore=$XDG_DATA_HOME/dcr/datasets
mode() { stat -c %a "$1"; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
echo "some text" >doc.txt
expect 0 "upload" as upload doc.txt
id=$out
checks=$((checks + 1))
[ "$(mode "$keystore/$id.json")" = 600 ] || fail "dcr wrote a key file of mode $(mode "$keystore/$id.json")"

# ---- a dataset key file others may read or write is not used ----
for m in 644 640 604 620 602 660 700; do
	chmod "$m" "$keystore/$id.json"
	if [ "$m" = 700 ]; then
		expect 0 "publish with a key file of mode $m" as publish "$room" doc "$id"
		continue
	fi
	expect 6 "publish with a key file of mode $m" as publish "$room" doc "$id"
	has "$err" "^dcr: publish: '$keystore/$id.json' is accessible to other users \(mode 0$m\); run chmod 600 on it$" \
		"mode $m is refused with the file and its mode named"
	expect 6 "upload --resume with a key file of mode $m" as upload --resume "$id"
	has "$err" "accessible to other users \(mode 0$m\)" "--resume refuses mode $m too"
done
chmod 600 "$keystore/$id.json"
expect 0 "publish with a key file of mode 600" as publish "$room" doc "$id"
chmod 400 "$keystore/$id.json"
expect 0 "publish with a key file of mode 400" as publish "$room" doc "$id"
chmod 600 "$keystore/$id.json"

# ---- the identity's key.pem, on every command that reads it ----
checks=$((checks + 1))
[ "$(mode alice/key.pem)" = 600 ] || fail "openssl wrote key.pem with mode $(mode alice/key.pem)"
chmod 644 alice/key.pem
expect 6 "a call with an open key.pem" as rooms
has "$err" "^dcr: rooms: '$TEST_TMP/alice/key.pem' is accessible to other users \(mode 0644\); run chmod 600 on it$" \
	"key.pem is refused before any call"
expect 6 "whoami with an open key.pem" as auth whoami
expect 6 "import with an open key.pem" as auth import alice/cert.pem
has "$err" "accessible to other users \(mode 0644\)" "import names the mode"
expect 6 "login with an open key.pem" as auth login --email alice@acme.example --token dcrpt_x
has "$err" "accessible to other users \(mode 0644\)" "login names the mode"
chmod 600 alice/key.pem
expect 0 "a call with a private key.pem" as rooms
expect 0 "whoami with a private key.pem" as auth whoami

# ---- an organisation CA's key ----
expect 0 "ca init" as auth ca init --name "Beta" --dir beta-ca
checks=$((checks + 1))
[ "$(mode beta-ca/ca.key)" = 600 ] || fail "ca init wrote ca.key with mode $(mode beta-ca/ca.key)"
expect 0 "keygen for bob" "$DCR" -q -i bob auth keygen --email bob@beta.example
chmod 604 beta-ca/ca.key
expect 6 "ca issue with an open ca.key" as auth ca issue --dir beta-ca -o bob.crt bob/request.csr
has "$err" "'beta-ca/ca.key' is accessible to other users \(mode 0604\)" "ca.key is refused"
checks=$((checks + 1))
[ ! -e bob.crt ] || fail "a certificate was issued with an open CA key"
chmod 600 beta-ca/ca.key
expect 0 "ca issue with a private ca.key" as auth ca issue --dir beta-ca -o bob.crt bob/request.csr

finish
