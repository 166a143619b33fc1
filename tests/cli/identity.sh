#!/bin/bash
# Identities (issue 12, item 2): each participant is certified by the CA the
# room assigns to them, and by no other. A certificate for bob@beta.example
# issued by Acme's CA, which the room also lists (for acme.example), is an
# outsider's for every operation: it cannot read, publish over Bob's data,
# run, fetch Bob's result, stop the room or upload. The rightful holder
# still can, and the log records which CA certified each caller.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_ca beta-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@beta.example beta-ca
# The attack: Acme's CA (trusted by the room, for Acme's people) certifies Bob's address.
make_user acme-bob bob@beta.example acme-ca
# And the other way round: Beta's CA certifies Alice's address.
make_user beta-alice alice@acme.example beta-ca
fp() { openssl x509 -in "$1.pem" -outform DER | sha256sum | cut -d' ' -f1; }
acme_fp=$(fp acme-ca)
beta_fp=$(fp beta-ca)

mkdir -p room
cp acme-ca.pem room/acme.pem
cp beta-ca.pem room/beta.pem
cat >room/room.yaml <<'YAML'
version: 1
name: two-payrolls
enclave: dcrd:sim
authentication:
  ca:
    - {file: acme.pem, certifies: [acme.example]}
    - {file: beta.pem, certifies: [beta.example]}
participants:
  alice@acme.example: [upload acme_pay, run total, fetch total]
  bob@beta.example: [upload beta_pay, run total, fetch total, stop]
data:
  acme_pay: &pay
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
  beta_pay: *pay
compute:
  total:
    type: sql
    query: SELECT SUM(salary) AS total FROM (SELECT salary FROM acme_pay UNION ALL SELECT salary FROM beta_pay)
YAML
printf 'name,salary\nann,100\n' >acme.csv
printf 'name,salary\nbea,20\n' >beta.csv
printf 'name,salary\nfake,999999\n' >fake.csv

# Each person on their own machine: identity, keystore and tree heads.
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" XDG_DATA_HOME="$TEST_TMP/$who-data" \
	"$DCR" -q -i "$TEST_TMP/$who" "$@"; }

start_dcrd data || finish
expect 0 "the dry run shows who certifies whom" "$DCR" create --dry-run room/room.yaml
has "$out" "^  CA ${acme_fp:0:12} \(CN=acme-ca\) certifies alice@acme.example$" "Acme's CA certifies Alice"
has "$out" "^  CA ${beta_fp:0:12} \(CN=beta-ca\) certifies bob@beta.example$" "Beta's CA certifies Bob"

# Creating: only with the certificate from the assigned CA.
expect 3 "Acme's certificate for Bob cannot create the room" as acme-bob create --salt x room/room.yaml
has "$err" "bob@beta.example: the certificate does not chain to the CA the room assigns to this address \(SHA-256 $beta_fp\)" \
	"the creator is told which CA"
expect 0 "alice creates" as alice create room/room.yaml
room=$out

# Everyone's data and a result, by the rightful holders.
expect 0 "alice uploads" as alice upload acme.csv
acme=$out
expect 0 "bob uploads" as bob upload beta.csv
beta=$out
expect 0 "alice publishes" as alice publish "$room" acme_pay "$acme"
expect 0 "bob publishes" as bob publish "$room" beta_pay "$beta"
expect 0 "bob runs" as bob run "$room" total --wait
job=$out
expect 0 "bob fetches" as bob fetch "$job"
has "$out" '^120(\.0)?$' "the total"

# The impostor: every operation is an outsider's. Give it Bob's keystore too, so that
# only dcrd stands between it and Bob's data.
mkdir -p "$TEST_TMP/acme-bob-data"
cp -r "$TEST_TMP/bob-data/dcr" "$TEST_TMP/acme-bob-data/"
for op in "rooms $room" "status $room" "audit $room" "datasets $room" "jobs $room" "run $room total" \
	"fetch $job" "publish $room beta_pay $beta" "stop $room"; do
	# shellcheck disable=SC2086
	expect 4 "Acme's certificate for Bob: $op" as acme-bob $op
	has "$err" "no room $room for bob@beta.example|no room of yours has an ID starting with '${room:0:12}'" "$op: told there is no room"
	# shellcheck disable=SC2086
	expect 4 "Beta's certificate for Alice: $op" as beta-alice $op
done
# The same calls straight to dcrd, so no client-side lookup stands in for its answer.
for m in "job.fetch $room $job" "job.get $room $job" "room.get $room" "room.status $room" "audit.get $room" \
	"dataset.list $room" "job.list $room" "room.stop $room"; do
	# shellcheck disable=SC2086
	expect 0 "${m%% *} by Acme's certificate for Bob, to dcrd" "$REPLAY_CALL" "$DCR_ENDPOINT" specs.yaml acme-bob 1 0 $m
	has "$out" "^refused 4: no room $room for bob@beta.example$" "${m%% *}: an outsider's answer"
	[ "${m%% *}" = room.stop ] && continue
	# shellcheck disable=SC2086
	expect 0 "${m%% *} by Bob, to dcrd" "$REPLAY_CALL" "$DCR_ENDPOINT" specs.yaml bob 1 0 $m
	has "$out" '^ok$' "${m%% *}: Bob is served"
done
expect 3 "Acme's certificate for Bob cannot upload (to replace Bob's data)" as acme-bob upload fake.csv
has "$err" "no room here accepts this certificate" "the upload refusal says why"
expect 0 "the impostor's rooms: none" as acme-bob rooms
lacks "$out" "$room" "the room is not listed for the impostor"

# Uploads belong to whoever the CA that vouched for the upload certifies,
# not to the address alone. An outsider's own CA certifies Bob's address
# too, and the outsider makes the certificate "known" with a room of its
# own: it may upload (as itself), but Bob's uploads are not its own to
# delete or publish, even with Bob's keystore.
expect 0 "bob uploads a dataset he has not published" as bob upload beta.csv
spare=$out
make_ca evil-ca
make_user evil-bob bob@beta.example evil-ca
mkdir -p evil-room
cp evil-ca.pem evil-room/evil.pem
cat >evil-room/room.yaml <<'YAML'
version: 1
name: not-bobs
enclave: dcrd:sim
authentication:
  ca: evil.pem
participants:
  bob@beta.example: [upload beta_pay, read-status]
data:
  beta_pay: {type: table, columns: [{name: name, type: string}, {name: salary, type: float64}]}
YAML
mkdir -p "$TEST_TMP/evil-bob-data"
cp -r "$TEST_TMP/bob-data/dcr" "$TEST_TMP/evil-bob-data/"
for who in acme-bob evil-bob; do
	expect 4 "$who cannot delete Bob's upload" as "$who" upload --delete "$spare"
	has "$err" "no dataset $spare uploaded by bob@beta.example" "$who: told there is no such dataset"
done
expect 0 "the outsider creates a room of its own for Bob's address" as evil-bob create evil-room/room.yaml
evil_room=$out
expect 4 "still not Bob's uploader: delete" as evil-bob upload --delete "$spare"
expect 4 "nor may it publish Bob's upload into its room, key and all" as evil-bob publish "$evil_room" beta_pay "$spare"
has "$err" "no dataset $spare uploaded by bob@beta.example" "the publish refusal"
expect 0 "it may upload, as itself" as evil-bob upload fake.csv
expect 0 "and delete what it uploaded" as evil-bob upload --delete "$out"
expect 0 "bob publishes his upload" as bob publish "$room" beta_pay "$spare"
expect 0 "bob puts his first upload back" as bob publish "$room" beta_pay "$beta"
expect 0 "bob deletes his spare upload" as bob upload --delete "$spare"

# The rightful holders still do everything, and nothing changed behind them.
expect 0 "bob reads the room" as bob rooms "$room"
expect 0 "bob lists the datasets" as bob datasets "$room"
has "$out" "^beta_pay +$beta +bob@beta.example " "Bob's data is still Bob's"
expect 0 "bob fetches again" as bob fetch "$job"
has "$out" '^120(\.0)?$' "the same total"
expect 0 "alice runs" as alice run "$room" total --wait
expect 0 "the room lists for bob" as bob rooms
has "$out" "$room" "listed for bob"

# The log: each entry names the CA that certified its caller; the impostors are not in it.
expect 0 "bob reads the log" as bob --json audit "$room"
checks=$((checks + 1))
JSON=$out ACME=$acme_fp BETA=$beta_fp python3 - <<'PY' || fail "issuers in the log: $out"
import json, os
entries = json.loads(os.environ["JSON"])["entries"]
want = {"alice@acme.example": os.environ["ACME"], "bob@beta.example": os.environ["BETA"]}
assert {e["caller"] for e in entries if e["action"] != "job.finished"} == set(want), entries
for e in entries:
    if e["action"] == "job.finished":
        assert e["issuer"] == "", e   # dcrd's own entry: the job.run entry names the issuer
    else:
        assert e["issuer"] == want[e["caller"]], e
assert len([e for e in entries if e["caller"] == "bob@beta.example" and e["action"] == "job.run"]) == 1, entries
PY
expect 0 "the table shows the issuer" as bob audit "$room"
has "$out" "^ *[0-9]+ +[0-9T:Z-]+ +bob@beta.example +${beta_fp:0:12} +job.run +total +allowed" "bob's run with Beta's CA"
has "$out" "^ *[0-9]+ +[0-9T:Z-]+ +alice@acme.example +${acme_fp:0:12} +room.create " "alice's create with Acme's CA"
expect 0 "bob stops the room" as bob stop "$room"

# Per-caller limits count an address with the CA that vouched for it. The
# outsider's certificate for Bob's address, made "known" by its own room,
# uses up every limit of its own: a slow job, an upload under way, the bytes
# and the datasets allowed. Bob, certified by Beta's CA, still runs and
# uploads. (They were counted by address: one impostor's job refused Bob's
# run, one upload his uploads, for good.)
{ echo name,salary; for _ in $(seq 2000); do echo "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,1"; done; } >big.csv
# The outsider's upload takes all the bytes but 50; a dataset's ciphertext is 92 bytes more than its plaintext.
start_dcrd data2 --max-caller-jobs 1 --max-uploads 1 --max-unfinished-uploads 1 \
	--max-upload-bytes $(($(stat -c %s big.csv) + 92 + 50)) --max-puts-per-uploader 1 --min-body-rate 1K/30s || finish
as2() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state2" XDG_DATA_HOME="$TEST_TMP/$who-data2" \
	"$DCR" -q -i "$TEST_TMP/$who" "$@"; }
mkdir -p bob-room
cp beta-ca.pem bob-room/beta.pem
cat >bob-room/room.yaml <<'YAML'
version: 1
name: bobs
enclave: dcrd:sim
authentication:
  ca: beta.pem
participants:
  bob@beta.example: [run one]
compute:
  one: {type: sql, query: SELECT 1 AS one}
YAML
cat >>evil-room/room.yaml <<'YAML'
compute:
  slow:
    type: sql
    query: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000000) SELECT count(*) AS n FROM c
YAML
sed -i 's/\[upload beta_pay, read-status\]/[upload beta_pay, read-status, run slow]/' evil-room/room.yaml
expect 0 "bob creates his room" as2 bob create bob-room/room.yaml
bobs_room=$out
expect 0 "the outsider creates its room" as2 evil-bob create evil-room/room.yaml
evil_room=$out
expect 0 "the outsider runs a slow job" as2 evil-bob run "$evil_room" slow
expect 0 "bob runs in his own room all the same" as2 bob run "$bobs_room" one
env XDG_STATE_HOME="$TEST_TMP/evil-bob-state2" XDG_DATA_HOME="$TEST_TMP/evil-bob-data2" \
	"$DCR" -q -i "$TEST_TMP/evil-bob" upload big.csv --limit-rate 1K >/dev/null 2>&1 &
slow_upload=$!
for _ in $(seq 600); do
	grep -q '^dcrd_uploads_writing 1$' <<<"$(curl -fsS "$DCR_ENDPOINT/metrics")" && break
	sleep 0.1
done
checks=$((checks + 1))
grep -q '^dcrd_uploads_writing 1$' <<<"$(curl -fsS "$DCR_ENDPOINT/metrics")" || fail "the outsider's upload never began"
expect 0 "bob uploads while the outsider's upload is under way" as2 bob upload beta.csv
kill "$slow_upload" 2>/dev/null
wait "$slow_upload" 2>/dev/null

finish
