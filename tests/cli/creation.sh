#!/bin/bash
# Room creation, which any certificate can ask for (issue 12, items 3 and 5):
# dcrd validates a definition without holding up other calls, limits how
# often each caller may create (--create-rate), and may let only chosen
# CAs create rooms at all (--creator-ca, --creator-platform).
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

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

# ---- options ----
for bad in 0/1h 20 20/ 20/h 20/1w 20/31d -1/1h 20/1h30m 1000001/1s x/1h +20/1h " 20/1h" "20/ 1h" 20/+1h 20/0s 1K/1h; do
	expect 2 "--create-rate $bad" "$DCRD" serve --data-dir d --create-rate "$bad"
	has "$err" "invalid --create-rate '${bad//+/\\+}'" "--create-rate $bad is refused"
done
for opt in max-rooms max-rooms-per-creator; do
	for bad in 0 1000001 -1 x 1K; do
		expect 2 "--$opt $bad" "$DCRD" serve --data-dir d --"$opt" "$bad"
		has "$err" "invalid --$opt '$bad' \(a whole number from 1 to 1000000\)" "--$opt $bad is refused"
	done
done
expect 1 "--creator-ca of a missing file" "$DCRD" serve --data-dir d --listen "127.0.0.1:$(free_port)" --creator-ca nope.pem
has "$err" "^dcrd: serve: --creator-ca: cannot open 'nope.pem'" "the missing file is named"
expect 1 "--creator-ca of a leaf" "$DCRD" serve --data-dir d --listen "127.0.0.1:$(free_port)" --creator-ca alice/cert.pem
has "$err" "'alice/cert.pem': certificate 1 is not a CA certificate" "a leaf is not a creator CA"
# An intermediate CA can never be a trust anchor here (chains must end at a root), so every creator would be refused.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout sub-ca.key -out sub-ca.csr -subj "/CN=sub" \
	>/dev/null 2>&1 || fail "sub-ca request"
printf 'basicConstraints=critical,CA:TRUE\n' >sub-ca.cnf
openssl x509 -req -in sub-ca.csr -CA acme-ca.pem -CAkey acme-ca.key -CAcreateserial -days 2 -out sub-ca.pem \
	-extfile sub-ca.cnf >/dev/null 2>&1 || fail "sub-ca certificate"
expect 1 "--creator-ca of an intermediate CA" "$DCRD" serve --data-dir d --listen "127.0.0.1:$(free_port)" --creator-ca sub-ca.pem
has "$err" "'sub-ca.pem': certificate 1 is not self-signed: a creator CA must be a root" "an intermediate is refused"
# A damaged certificate after a good one is an error, not the end of the file.
{ cat acme-ca.pem; printf -- '-----BEGIN CERTIFICATE-----\nMIIBdamaged\n-----END CERTIFICATE-----\n'; cat beta-ca.pem; } >damaged.pem
expect 1 "--creator-ca with a damaged second certificate" "$DCRD" serve --data-dir d --listen "127.0.0.1:$(free_port)" \
	--creator-ca damaged.pem
has "$err" "'damaged.pem': certificate 2 is damaged" "the damaged one is named"
checks=$((checks + 1))
[ ! -e d ] || fail "a refused option left a data directory behind"

# ---- the rate: 2 per hour here; each caller has its own ----
start_dcrd data --create-rate 2/1h || finish
expect 0 "alice's first room" as alice create --salt 1 room/small.yaml
expect 0 "alice's second room" as alice create --salt 2 room/small.yaml
expect 1 "alice's third room is one too many" as alice create --salt 3 room/small.yaml
has "$err" "^dcr: create: alice@acme.example has created too many rooms lately: this dcrd allows 2 per 1h; try again in (179[0-9]|1800) s$" \
	"the refusal says the rate and when to try again"
expect 0 "bob has his own allowance" as bob create --salt 4 room/small.yaml
# An outsider cannot spend carol's allowance: its own CA, under Beta's CA's
# very name, certifies carol's address; its attempts (refused, since the
# room's CA does not certify it) count against its own key, not carol.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout fake-beta.key -out fake-beta.pem \
	-days 2 -subj "/CN=beta-ca" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1 || fail "fake-beta CA"
make_user evil-carol carol@beta.example fake-beta
for i in 1 2; do
	expect 3 "the outsider's attempt $i for carol's address" as evil-carol create --salt "x$i" room/beta.yaml
done
expect 1 "its third is refused: its own allowance is spent" as evil-carol create --salt x3 room/beta.yaml
expect 0 "carol has hers" as carol create room/beta.yaml
expect 1 "alice is still refused" as alice create --salt 5 room/small.yaml
# Attempts count, not just successes: validation is the work being limited.
expect 1 "bob's second attempt (a room that exists) counts" as bob create --salt 4 room/small.yaml
has "$err" "exists" "the room exists"
expect 1 "so his third is refused" as bob create --salt 6 room/small.yaml
has "$err" "bob@acme.example has created too many rooms lately" "bob is limited too"
stop_dcrd

# ---- who may create: --creator-ca; others still use the rooms they are in ----
start_dcrd data --creator-ca acme-ca.pem || finish
expect 0 "an Acme certificate creates" as alice create --salt 7 room/small.yaml
small=$out
expect 3 "a Beta certificate may not create here" as carol create --salt 8 room/beta.yaml
has "$err" "^dcr: create: carol@beta.example may not create rooms here: this dcrd lets only certificates from the CAs its operator chose create rooms$" \
	"the refusal says why"
expect 0 "carol still uses her room" as carol rooms
has "$out" "beta's" "carol's room is listed"
expect 0 "token for dave" "$DCRD" token create --data-dir data --email dave@acme.example
tok=$(tail -1 <<<"$out")
expect 0 "dave logs in" as dave auth login --email dave@acme.example --token "$tok"
cat >room/hosted.yaml <<'YAML'
version: 1
name: hosted
enclave: dcrd:sim
authentication: {platform: true}
participants:
  dave@acme.example: []
YAML
expect 3 "a platform certificate may not create without --creator-platform" as dave create room/hosted.yaml
has "$err" "dave@acme.example may not create rooms here" "the platform user is told"
stop_dcrd
start_dcrd data --creator-ca acme-ca.pem --creator-platform || finish
expect 0 "with --creator-platform it may" as dave create room/hosted.yaml
expect 3 "Beta still may not" as carol create --salt 9 room/beta.yaml
stop_dcrd
start_dcrd data --creator-platform || finish
expect 3 "--creator-platform alone: organisation certificates may not" as alice create --salt 10 room/small.yaml
expect 0 "--creator-platform alone: platform certificates may" as dave create --salt 11 room/hosted.yaml
stop_dcrd

# ---- how many rooms dcrd keeps: in all, and for each creator ----
# Rooms are never deleted, so these limits count stopped rooms too.
start_dcrd data-count --max-rooms 3 --max-rooms-per-creator 2 || finish
expect 0 "alice's first" as alice create --salt c1 room/small.yaml
expect 0 "alice's second" as alice create --salt c2 room/small.yaml
expect 1 "alice's third is past her limit" as alice create --salt c3 room/small.yaml
has "$err" "^dcr: create: alice@acme.example has created 2 rooms on this dcrd, the most it keeps for one creator \(--max-rooms-per-creator\)$" \
	"the refusal names the limit"
# Another CA's certificate for alice's address is another creator (it fails here only for want of a room of its own).
expect 0 "carol's room makes 3" as carol create --salt c8 room/beta.yaml
expect 1 "bob: dcrd holds as many rooms as it keeps" as bob create --salt c4 room/small.yaml
has "$err" "^dcr: create: dcrd holds 3 rooms, the most it keeps \(--max-rooms\); it creates no more$" \
	"the refusal names the total"
stop_dcrd
# The counts are the rooms in the state, at every start.
start_dcrd data-count --max-rooms 4 --max-rooms-per-creator 2 || finish
expect 1 "after a restart, alice is still at her limit" as alice create --salt c5 room/small.yaml
has "$err" "has created 2 rooms on this dcrd" "counted again from the state"
expect 0 "bob's room fits the new total" as bob create --salt c6 room/small.yaml
expect 1 "and then the total is reached again" as carol create --salt c7 room/beta.yaml
has "$err" "dcrd holds 4 rooms" "the total counted"
stop_dcrd
# A room takes state.db's space: not below the floor of free space.
start_dcrd data-floor --min-free 99% || finish
expect 1 "no room is created below the floor" as alice create --salt f1 room/small.yaml
has "$err" "^dcr: create: dcrd has no room for a room of [0-9]+ bytes: it keeps [0-9]+ bytes of its disk free \(--min-free\)" \
	"the refusal names the floor"
expect 0 "alice's rooms on this dcrd" as alice rooms
has "$out" "no rooms" "none was created"
stop_dcrd

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
expect 0 "the large room is valid" "$DCR" create --dry-run room/large.yaml
# hold-create.so keeps dcrd's validation of the create at its start (where
# it parses the definition) for as long as the file hold exists, and
# creates hold.held while it does: the status calls below are answered
# while the create is provably still being validated, whatever the load.
# Had dcrd validated under the call lock, they would wait for the create,
# which waits for them to end: the timeout only keeps that from hanging.
DCRD_PRELOAD=$HOLD_CREATE DCR_TEST_HOLD_FILE=$TEST_TMP/hold start_dcrd data || finish
touch hold
as alice create room/large.yaml >create.out 2>create.err &
create_pid=$!
while [ ! -e hold.held ] && kill -0 "$create_pid" 2>/dev/null; do
	sleep 0.05
done
checks=$((checks + 1))
[ -e hold.held ] || fail "the create ended before dcrd validated it: $(cat create.err)"
for i in 1 2 3; do
	expect 0 "status call $i while the create is held in validation" \
		timeout 120 env XDG_STATE_HOME="$TEST_TMP/bob-state" "$DCR" -q -i "$TEST_TMP/bob" status "$small" || break
done
checks=$((checks + 1))
[ -e hold.held ] && kill -0 "$create_pid" 2>/dev/null || fail "the create was no longer held in validation"
rm hold
wait "$create_pid"
rc=$?
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "the held create failed (exit $rc): $(cat create.err)"
expect 0 "the large room is listed" as alice rooms
has "$out" "large" "the large room was created"
stop_dcrd

finish
