#!/bin/bash
# dcr create: validation errors with positions and exit status 6, the room ID,
# the summary and JSON, CA files, and what happens without --dry-run.
. "$(dirname "$0")/lib.sh"

"$DCRD" spec >"$TEST_TMP/specs.yaml" || fail "dcrd spec"
export DCR_SPECS=$TEST_TMP/specs.yaml
cd "$TEST_TMP" || exit 1

cat >room.yaml <<'YAML'
version: 1
name: pay
enclave: dcrd:sim
authentication:
  platform: true
participants:
  alice@acme.example: [upload acme, run total, fetch total]
data:
  acme:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
  notes: {type: file}
compute:
  total:
    type: sql
    query: SELECT SUM(salary) AS total FROM acme
  shout:
    type: python
    script: shout.py
    mounts: {/input/notes.txt: notes}
YAML
echo 'print("hi")' >shout.py

expect 0 "valid room" "$DCR" create --dry-run room.yaml
has "$out" '^room id +[0-9a-f]{64}$' "the room ID is printed"
has "$out" 'alice@acme.example +upload acme, run total, fetch total' "who may do what"
has "$out" 'simulated: no hardware protection' "sim is called out"
id=$(sed -n 's/^room id *//p' <<<"$out")
expect 0 "the same room again" "$DCR" create --dry-run room.yaml
has "$out" "^room id +$id$" "the ID is stable"
expect 0 "--salt" "$DCR" create --dry-run --salt second room.yaml
lacks "$out" "$id" "a salt changes the ID"
has "$out" '^salt +second$' "the salt is shown"
expect 0 "--json" "$DCR" --json create --dry-run room.yaml
checks=$((checks + 1))
JSON=$out python3 - "$id" <<'PY' || fail "--json output"
import json, os, sys
d = json.loads(os.environ["JSON"])
assert d["id"] == sys.argv[1], d["id"]
assert [n["name"] for n in d["data"]] == ["acme", "notes"]
assert d["participants"][0]["permissions"][:3] == ["upload acme", "run total", "fetch total"]
assert "read-audit" in d["participants"][0]["permissions"]
PY
expect 0 "specs with --specs" env -u DCR_SPECS "$DCR" --specs "$TEST_TMP/specs.yaml" create --dry-run room.yaml

# Without --dry-run the room is created in dcrd (tests/cli/rooms.sh); that
# needs an identity first.
expect 4 "create without an identity" "$DCR" create room.yaml
has "$err" "^dcr: create: no identity in '$XDG_CONFIG_HOME/dcr'" "the identity directory is named"

# Usage and missing inputs.
expect 2 "no file" "$DCR" create --dry-run
expect 2 "two files" "$DCR" create --dry-run room.yaml room.yaml
expect 4 "missing file" "$DCR" create --dry-run nope.yaml
has "$err" "^dcr: create: cannot open 'nope.yaml': No such file" "missing file named"
expect 6 "no trusted specs" env -u DCR_SPECS "$DCR" create --dry-run room.yaml
has "$err" "room.yaml:3:10: enclave 'dcrd:sim': no trusted specs given" "no specs explained"
expect 4 "missing specs file" "$DCR" --specs nope.yaml create --dry-run room.yaml
has "$err" "trusted specs: cannot open 'nope.yaml'" "missing specs named"

# edited FROM TO: write bad.yaml, a copy of room.yaml with FROM replaced by TO.
edited() {
	python3 - "$1" "$2" >bad.yaml <<'PY'
import sys
s = open("room.yaml").read()
assert sys.argv[1] in s, sys.argv[1]
sys.stdout.write(s.replace(sys.argv[1], sys.argv[2], 1))
PY
}

# bad FROM TO WANT: edit room.yaml and expect exit 6 with WANT on stderr.
bad() {
	edited "$1" "$2"
	expect 6 "invalid: $3" "$DCR" create --dry-run bad.yaml
	has "$err" "^dcr: create: bad.yaml:$3" "message for: $3"
}
bad 'name: pay' 'name: [pay' '[0-9]+:[0-9]+: did not find expected'
bad 'name: pay' 'nmae: pay' "2:1: unknown key 'nmae' in a room definition \(did you mean 'name'\?\)"
bad 'platform: true' 'platform: 1' '5:13: platform must be true or false'
bad 'version: 1' 'version: "1"' '1:10: version must be a whole number'
bad '  notes: {type: file}' '  acme: {type: file}' "14:3: duplicate key 'acme' in data \(first at line 9\)"
bad '  shout:' '  notes:' "19:3: 'notes' names both a data node and a computation"
bad 'upload acme' 'upload acne' "7:24: data node 'acne' does not exist \(did you mean 'acme'\?\)"
bad 'fetch total' 'fetch totl' "7:48: computation 'totl' does not exist"
bad '/input/notes.txt: notes' '/input/notes.txt: nots' "22:32: mounted node 'nots' does not exist \(did you mean 'notes'\?\)"
bad '/input/notes.txt' '/tmp/notes.txt' "22:14: mount '/tmp/notes.txt' must be a path under /input/"
bad 'FROM acme' 'FROM acmee' "18:12: query of 'total' reads 'acmee', which is not a node \(did you mean 'acme'\?\)"
bad 'FROM acme' 'FROM acme; DROP TABLE acme' "18:12: query of 'total': it must be exactly one SELECT statement"
bad 'script: shout.py' 'script: gone.py' "21:13: cannot read script: cannot open '.*gone.py': No such file"
bad 'alice@acme.example' 'alice@acme' "7:3: 'alice@acme' is not a valid e-mail address"
bad 'enclave: dcrd:sim' 'enclave: dcrd:v9' "3:10: enclave 'dcrd:v9' is not in the trusted specs"
bad '    mounts:' '    depends: [total, shout]
    mounts:' "22:22: computation 'shout' depends on itself"
bad 'SELECT SUM(salary) AS total FROM acme' 'SELECT * FROM again
  again:
    type: sql
    query: SELECT * FROM total' "(18|21):12: dependency cycle"
bad 'type: table' 'type: tabel' "10:11: unknown data node type 'tabel' \(did you mean 'table'\?\)"
bad '{name: salary, type: float64}' '{name: salary, type: double}' "13:30: unknown column type 'double'"

# YAML bombs are refused before libyaml builds the document (issue 12, item 3).
python3 -c 'print("[" * 70000 + "]" * 70000)' >deep.yaml
expect 6 "70000 levels of nesting" "$DCR" create --dry-run deep.yaml
has "$err" "^dcr: create: deep.yaml:1:33: nested more than 32 levels deep$" "the nesting limit, with its position"
python3 - <<'PY' >laughs.yaml
print("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]")
for i in range(1, 9):
    print("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)))
PY
expect 6 "a billion laughs" "$DCR" create --dry-run laughs.yaml
has "$err" "^dcr: create: laughs.yaml:6:10: more than 200000 YAML nodes \(an alias counts as the nodes it stands for\)$" \
	"the node limit counts what aliases stand for"

# Organisation CAs: a real CA made with openssl is embedded; a leaf is refused.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
	-days 2 -subj /CN=acme-ca -addext basicConstraints=critical,CA:TRUE 2>/dev/null || fail "openssl CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.pem \
	-days 2 -subj /CN=leaf -addext basicConstraints=critical,CA:FALSE 2>/dev/null || fail "openssl leaf"
edited 'platform: true' 'ca: [ca.pem]'
expect 0 "room with a CA file" "$DCR" --json create --dry-run bad.yaml
fp=$(openssl x509 -in ca.pem -outform DER | sha256sum | cut -d' ' -f1)
has "$out" "\"$fp\"" "the CA's fingerprint is in the definition"
bad 'platform: true' 'ca: [leaf.pem]' "5:8: 'leaf.pem': certificate 1 is not a CA certificate"
bad 'platform: true' 'ca: missing.pem' "5:7: cannot read CA file"
bad 'platform: true' 'ca: shout.py' "5:7: 'shout.py' holds no PEM certificate"
bad 'platform: true' 'platform: false' "5:3: no way to authenticate participants"
cat ca.pem ca.key >with-key.pem
bad 'platform: true' 'ca: with-key.pem' "5:7: 'with-key.pem': block 2 is 'PRIVATE KEY', not a certificate \(never put a private key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key -out ca2.pem \
	-days 2 -subj /CN=beta-ca -addext basicConstraints=critical,CA:TRUE 2>/dev/null || fail "openssl CA 2"
cat ca.pem ca2.pem >both.pem
edited 'platform: true' 'ca: both.pem'
expect 0 "two CAs in one file" "$DCR" create --dry-run bad.yaml
has "$out" '2 organisation CAs' "both certificates are read"
id_both=$(sed -n 's/^room id *//p' <<<"$out")
has "$out" "^  CA [0-9a-f]{12} \(CN=(acme|beta)-ca\), CA [0-9a-f]{12} \(CN=(acme|beta)-ca\) certifies alice@acme.example$" \
	"a file's certificates certify together"
edited 'platform: true' 'ca: {file: both.pem}'
expect 0 "the same file as a mapping" "$DCR" create --dry-run bad.yaml
has "$out" "^room id +$id_both$" "the spelling of a CA entry does not change the ID"
# Two CAs that would both certify everyone: the cross-CA impersonation of issue 12.
edited 'platform: true' 'ca: [ca2.pem, ca.pem]'
expect 6 "two CA files without certifies" "$DCR" create --dry-run bad.yaml
has "$err" "^dcr: create: bad.yaml:5:17: CA file 'ca2.pem' and CA file 'ca.pem' would both certify every participant" \
	"two catch-all CAs are refused"
edited 'platform: true' 'ca: ca.pem
  platform: true'
expect 6 "a CA file and the platform CA without certifies" "$DCR" create --dry-run bad.yaml
has "$err" "^dcr: create: bad.yaml:6:13: CA file 'ca.pem' and the platform CA would both certify" "and with the platform CA"
edited 'alice@acme.example: [upload acme, run total, fetch total]' 'alice@acme.example: [upload acme, run total, fetch total]
  bob@beta.example: []
  carol@beta.example: []'
mv bad.yaml three.yaml
cp room.yaml room.orig.yaml
cp three.yaml room.yaml
edited 'platform: true' 'ca: [{file: ca2.pem, certifies: [beta.example]}, ca.pem]
  platform: {certifies: [carol@beta.example]}'
expect 0 "each participant by its own CA" "$DCR" create --dry-run bad.yaml
ca_fp=$(openssl x509 -in ca.pem -outform DER | sha256sum | cut -c1-12)
ca2_fp=$(openssl x509 -in ca2.pem -outform DER | sha256sum | cut -c1-12)
has "$out" "^  CA $ca_fp \(CN=acme-ca\) certifies alice@acme.example$" "alice by acme's CA, the rest"
has "$out" "^  CA $ca2_fp \(CN=beta-ca\) certifies bob@beta.example$" "bob by beta's CA, his domain"
has "$out" "^  platform CA certifies carol@beta.example$" "carol by the platform CA, her address"
expect 0 "each participant by its own CA, --json" "$DCR" --json create --dry-run bad.yaml
checks=$((checks + 1))
JSON=$out CA=$(openssl x509 -in ca.pem -outform DER | sha256sum | cut -d' ' -f1) \
	CA2=$(openssl x509 -in ca2.pem -outform DER | sha256sum | cut -d' ' -f1) python3 - <<'PY' || fail "--json: $out"
import json, os
d = {p["email"]: p for p in json.loads(os.environ["JSON"])["participants"]}
assert d["alice@acme.example"]["ca_sha256"] == [os.environ["CA"]] and not d["alice@acme.example"]["platform"], d
assert d["bob@beta.example"]["ca_sha256"] == [os.environ["CA2"]] and not d["bob@beta.example"]["platform"], d
assert d["carol@beta.example"]["ca_sha256"] == [] and d["carol@beta.example"]["platform"], d
PY
bad 'platform: true' 'ca: [{file: ca2.pem, certifies: [bob@beta.example]}, {file: ca.pem, certifies: [acme.example]}]' \
	"9:3: no CA certifies 'carol@beta.example'"
bad 'platform: true' 'ca: [{file: ca2.pem, certifies: [beta.exmaple]}, ca.pem]' \
	"5:36: 'beta.exmaple' in 'certifies' certifies no participant"
bad 'platform: true' 'ca: [{file: ca2.pem, certifies: [beta.example]}, {file: ca.pem, certifies: [Beta.Example]}]' \
	"5:79: 'beta.example' is certified twice \(first at line 5\)"
cp room.orig.yaml room.yaml
head -c 300 ca2.pem >damaged.pem
cat ca.pem damaged.pem >tail-damaged.pem
bad 'platform: true' 'ca: tail-damaged.pem' "5:7: 'tail-damaged.pem': damaged PEM data after certificate 1"

finish
