#!/bin/bash
# Who may do what, through the real dcr against a real dcrd: every
# operation (publish, list datasets, run, fetch, jobs, read definition,
# audit, status, stop) for participants with and without the permission,
# outsiders, a certificate from a CA the room does not trust, an expired
# certificate, a participant removed from a later version of the room, and
# the platform PKI. Every denial of a participant exits 3, names the
# permission and is in the room's audit log; outsiders get "no room" (4).
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_ca evil-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example acme-ca
make_user dave dave@acme.example acme-ca
make_user mallory alice@acme.example evil-ca

# An expired certificate for alice from the right CA: openssl ca sets past dates.
mkdir -p oldca alice-old
touch oldca/index.txt
echo 1000 >oldca/serial
cat >oldca/ca.cnf <<EOF
[ca]
default_ca = old
[old]
dir = $TEST_TMP/oldca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[ext]
subjectAltName = email:alice@acme.example
basicConstraints = critical,CA:FALSE
EOF
cp alice/key.pem alice-old/key.pem
openssl req -new -key alice/key.pem -subj /CN=alice@acme.example -out alice-old/req.csr 2>/dev/null
openssl ca -batch -config oldca/ca.cnf -cert acme-ca.pem -keyfile acme-ca.key -in alice-old/req.csr \
	-out alice-old/cert.pem -startdate 20200101000000Z -enddate 20200201000000Z -extensions ext \
	-notext >/dev/null 2>&1 || fail "expired certificate"

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/shout.py <<'EOF'
import os
os.makedirs("/output", exist_ok=True)
with open("/input/notes.txt") as f, open("/output/upper.txt", "w") as g:
    g.write(f.read().upper())
print("shouted")
EOF
room_yaml() {
	cat <<YAML
version: 1
name: payroll
description: Who may do what
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop, upload pay, run total, fetch total]
$1
  carol@acme.example: []
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
    script: shout.py
    mounts: {/input/notes.txt: notes}
    logs: visible
YAML
}
room_yaml '  bob@acme.example: [upload notes, run shout, fetch total, fetch shout]' >room/room.yaml
# Where dcrd's sandbox cannot work it refuses python computations: the room goes without shout.
sandbox=0
sandbox_works && sandbox=1
if [ $sandbox = 0 ]; then
	room_yaml '  bob@acme.example: [upload notes, fetch total]' | sed '/^  shout:$/,$d' >room/room.yaml
fi
# The same room without bob: his certificate is still valid, but the room no longer names him.
room_yaml '' | { [ $sandbox = 1 ] && cat || sed '/^  shout:$/,$d'; } >room/nobob.yaml
printf 'name,salary\nann,100.5\nben,200\n' >pay.csv
printf 'quiet words\n' >notes.txt

as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" XDG_DATA_HOME="$TEST_TMP/$who-data" \
	"$DCR" -q -i "$TEST_TMP/$who" "$@"; }
log="$TEST_TMP/dcrd.log"

start_dcrd data || finish
expect 0 "create" as alice -q create room/room.yaml || finish
room=$out
expect 0 "create without bob" as alice -q create room/nobob.yaml
nobob=$out

# ---- uploads: anyone some room accepts; nobody else ----
expect 0 "alice uploads" as alice upload pay.csv
pay=$out
has "$pay" '^[0-9a-f]{32}$' "a dataset ID"
expect 0 "bob uploads" as bob upload notes.txt
notes=$out
expect 0 "carol may upload (the room accepts her)" as carol upload pay.csv
carol_pay=$out
expect 3 "mallory may not upload (no room trusts her CA)" as mallory upload pay.csv
has "$err" 'no room here accepts this certificate' "the upload refusal says why"
expect 3 "an expired certificate may not upload" as alice-old upload pay.csv

# ---- publish: the upload permission for that node ----
expect 3 "bob may not publish to pay" as bob publish "$room" pay "$notes"
has "$err" "bob@acme.example lacks permission 'upload pay' in room $room" "the denial names the permission"
expect 3 "carol may not publish to pay" as carol publish "$room" pay "$carol_pay"
has "$err" "lacks permission 'upload pay'" "carol's denial names it"
mkdir -p "$TEST_TMP/dave-data/dcr/datasets"
cp "$TEST_TMP/alice-data/dcr/datasets/$pay.json" "$TEST_TMP/dave-data/dcr/datasets/"
expect 4 "dave (no participant) gets no room" as dave publish "$room" pay "$pay"
has "$err" "no room $room for dave@acme.example" "an outsider learns nothing"
expect 4 "mallory (untrusted CA) gets no room" as mallory datasets "$room"
expect 4 "an expired certificate gets no room" as alice-old datasets "$room"
expect 4 "bob gets nothing in the room without him" as bob datasets "$nobob"
expect 4 "bob cannot even read that room" as bob rooms "$nobob"
expect 4 "publishing someone else's dataset" as alice publish "$room" pay "$carol_pay"
has "$err" "no key for dataset" "another keystore's dataset is unknown here"
# Even with carol's key file, dcrd gives her upload to nobody else.
cp "$TEST_TMP/carol-data/dcr/datasets/$carol_pay.json" "$TEST_TMP/alice-data/dcr/datasets/"
expect 4 "publishing someone else's upload with their key" as alice publish "$room" pay "$carol_pay"
has "$err" "no dataset $carol_pay uploaded by alice@acme.example" "dcrd checks the uploader"
rm "$TEST_TMP/alice-data/dcr/datasets/$carol_pay.json"
expect 4 "a node that does not exist" as alice publish "$room" pya "$pay"
has "$err" "has no data node 'pya' \(did you mean 'pay'\?\)" "a typo gets a suggestion"
expect 0 "alice publishes to pay" as alice publish "$room" pay "$pay"
expect 0 "bob publishes to notes" as bob publish "$room" notes "$notes"

# ---- list datasets: a default permission ----
for who in alice bob carol; do
	expect 0 "$who lists datasets" as "$who" datasets "$room"
	has "$out" "^pay +$pay +alice@acme.example +30 +2 " "$who sees pay with its rows"
done

# ---- run: the run permission for that computation ----
expect 3 "bob may not run total" as bob run "$room" total
has "$err" "lacks permission 'run total'" "run denial names it"
expect 3 "carol may not run total" as carol run "$room" total
expect 4 "dave may not run" as dave run "$room" total
expect 4 "an unknown computation" as alice run "$room" totl
has "$err" "has no computation 'totl' \(did you mean 'total'\?\)" "a typo gets a suggestion"
expect 0 "alice runs total and waits" as alice run "$room" total --wait
job=$out
has "$job" "^${room:0:12}-[0-9]+$" "a job ID"
if [ $sandbox = 1 ]; then
	expect 0 "bob runs shout" as bob run "$room" shout --wait
	shout=$out
fi

# ---- fetch: the fetch permission for that computation ----
expect 0 "alice fetches total" as alice fetch "$job"
has "$out" '^total$' "a CSV header"
has "$out" '^300.5$' "the sum"
expect 0 "bob fetches total" as bob fetch "$job" -o total.csv
has "$(cat total.csv)" '^300.5$' "bob's copy"
expect 3 "carol may not fetch total" as carol fetch "$job"
has "$err" "lacks permission 'fetch total'" "fetch denial names it"
if [ $sandbox = 1 ]; then
	expect 3 "alice may not fetch shout" as alice fetch "$shout" --extract out-alice
	expect 0 "bob fetches shout" as bob fetch "$shout" --extract out-bob
	has "$(cat out-bob/upper.txt)" '^QUIET WORDS$' "the python result"
fi
expect 4 "dave may not fetch" as dave fetch "$job"
expect 4 "mallory may not fetch" as mallory fetch "$job"

# ---- jobs: read-status sees all; others only what they may run or fetch ----
expect 0 "carol lists jobs" as carol jobs "$room"
has "$out" "$job +total +succeeded" "carol sees total's job"
[ $sandbox = 1 ] && has "$out" "$shout +shout" "and shout's"
expect 4 "dave lists no jobs" as dave jobs "$room"

# ---- read definition, audit, status: defaults for every participant ----
for who in alice bob carol; do
	expect 0 "$who reads the definition" as "$who" rooms "$room"
	expect 0 "$who reads the audit log" as "$who" audit "$room"
	expect 0 "$who reads the status" as "$who" status "$room"
done
for who in dave mallory alice-old; do
	expect 4 "$who reads no definition" as "$who" rooms "$room"
	expect 4 "$who reads no audit log" as "$who" audit "$room"
	expect 4 "$who reads no status" as "$who" status "$room"
done

# ---- denials are in the log, with the permission; outsiders' calls are not ----
expect 0 "the audit log as JSON" as carol --json audit "$room"
audit_json=$out
for want in "bob@acme.example dataset.publish pay denied upload pay" \
	"carol@acme.example job.run total denied run total" \
	"carol@acme.example job.fetch total denied fetch total" \
	"alice@acme.example dataset.publish pay allowed" \
	"alice@acme.example job.finished total succeeded"; do
	checks=$((checks + 1))
	AUDIT=$audit_json WANT=$want python3 -c '
import json, os
want = os.environ["WANT"].split(" ", 4)
entries = json.loads(os.environ["AUDIT"])["entries"]
for e in entries:
    if [e["caller"], e["action"], e["object"], e["outcome"]] == want[:4] and (len(want) < 5 or want[4] in e["detail"]):
        raise SystemExit(0)
raise SystemExit("no entry " + str(want) + " in " + json.dumps(entries)[:2000])' || fail "audit: $want"
done
lacks "$audit_json" 'dave@acme.example' "outsiders are not in the log"

# ---- defaults off: exactly what is listed ----
sed -e 's/^description: .*/&\ndefault_permissions: false/' room/room.yaml >room/strict.yaml
expect 0 "create a room without defaults" as alice -q create room/strict.yaml
strict=$out
expect 3 "carol may not read its definition" as carol rooms "$strict"
has "$err" "lacks permission 'read-definition'" "read-definition named"
expect 3 "carol may not read its audit log" as carol audit "$strict"
has "$err" "lacks permission 'read-audit'" "read-audit named"
expect 3 "carol may not read its status" as carol status "$strict"
has "$err" "lacks permission 'read-status'" "read-status named"
expect 3 "carol may not list its datasets" as carol datasets "$strict"
has "$err" "lacks permission 'list-datasets'" "list-datasets named"
expect 3 "carol may not list its jobs" as carol jobs "$strict"
expect 0 "alice may still publish there" as alice publish "$strict" pay "$pay"
expect 0 "alice runs there" as alice run "$strict" total --wait
strict_job=$out
expect 0 "alice may follow her job without read-status" as alice jobs "$strict"
has "$out" "$strict_job" "her job is listed"

# ---- stop: only with the permission; a stopped room takes no data and runs nothing ----
expect 3 "bob may not stop" as bob stop "$room"
has "$err" "lacks permission 'stop'" "stop denial names it"
expect 3 "carol may not stop" as carol stop "$room"
expect 4 "dave may not stop" as dave stop "$room"
expect 0 "alice stops" as alice stop "$room"
expect 3 "no publishing in a stopped room" as alice publish "$room" pay "$pay"
has "$err" "is stopped" "the stop is named"
expect 3 "no runs in a stopped room" as alice run "$room" total
expect 0 "results stay fetchable" as bob fetch "$job"
expect 0 "datasets stay listed" as carol datasets "$room"

# ---- the platform PKI: only rooms that enable it accept its certificates ----
expect 0 "token for erin" "$DCRD" token create --data-dir data --email erin@beta.example
tok=$(tail -1 <<<"$out")
mkdir -p erin
expect 0 "erin logs in" as erin auth login --email erin@beta.example --token "$tok"
cat >room/platform.yaml <<'YAML'
version: 1
name: platform
enclave: dcrd:sim
authentication: {platform: true}
participants:
  erin@beta.example: [upload pay, run total, fetch total]
  alice@acme.example: [fetch total]
data:
  pay:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
compute:
  total:
    type: sql
    query: SELECT COUNT(*) AS n FROM pay
YAML
expect 0 "erin creates a platform room" as erin -q create room/platform.yaml
proom=$out
expect 0 "erin uploads" as erin upload pay.csv
epay=$out
expect 0 "erin publishes" as erin publish "$proom" pay "$epay"
expect 0 "erin runs" as erin run "$proom" total --wait
pjob=$out
expect 0 "erin fetches" as erin fetch "$pjob"
has "$out" '^2$' "the count"
expect 4 "alice's organisation certificate is not accepted there" as alice fetch "$pjob"
expect 4 "erin's platform certificate is not accepted in an organisation room" as erin datasets "$strict"

finish
