#!/bin/bash
# Room creation, which any certificate can ask for (issue 12, item 3):
# dcrd validates a definition without holding up other calls.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
"$DCRD" spec >specs.yaml || fail "dcrd spec"
export DCR_SPECS=$TEST_TMP/specs.yaml

make_ca acme-ca
make_ca beta-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@beta.example beta-ca
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }

mkdir -p room
cp acme-ca.pem room/acme.pem
cp beta-ca.pem room/beta.pem
cat >room/small.yaml <<'YAML'
version: 1
name: small
enclave: dcrd:sim
authentication: {ca: acme.pem}
participants:
  alice@acme.example: []
  bob@acme.example: []
YAML
cat >room/beta.yaml <<'YAML'
version: 1
name: beta's
enclave: dcrd:sim
authentication: {ca: beta.pem}
participants:
  carol@beta.example: []
YAML

# ---- validation does not hold up other calls ----
# A large valid room near the limits: 1000 tables and 170 participants with 1000 permissions each.
python3 - <<'PY' >room/large.yaml
print("version: 1\nname: large\nenclave: dcrd:sim\nauthentication: {ca: acme.pem}\ndata:")
print("  n0: &t {type: table, columns: [{name: c, type: string}]}")
for i in range(1, 1000):
    print("  n%d: *t" % i)
print("participants:")
print("  alice@acme.example: &p [%s]" % ", ".join("upload n%d" % i for i in range(1000)))
for i in range(1, 170):
    print("  a%d@acme.example: *p" % i)
PY
cp room/large.yaml large.yaml
cp acme-ca.pem acme.pem
start_dcrd data || finish
expect 0 "alice creates a small room" as alice create room/small.yaml
small=$out
expect 0 "the large room is valid" "$DCR" create --dry-run large.yaml
expect 0 "a create and status calls at once" "$CREATE_RACE" "$DCR_ENDPOINT" specs.yaml alice large.yaml bob "$small" acme.pem
has "$out" '^create: ok$' "the large room is created"
# Had dcrd validated under the call lock, no status could be answered before the create.
served=$(sed -n 's/^statuses answered during the create: //p' <<<"$out")
checks=$((checks + 1))
[ "${served:-0}" -ge 3 ] || fail "only ${served:-0} status calls were answered while dcrd validated the room: $out"
echo "$out" | tail -1

finish
