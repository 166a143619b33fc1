#!/bin/bash
# Privacy rules (dcr-room(5), PRIVACY RULES) through the real dcr and dcrd:
# the attacks on a minimum group size are refused at create (a view over a
# protected table, a python mount of it, a self-join, a column the rule does
# not list, privacy on free SQL), each with its position, or harmless when
# they run (a filter isolating one person, a join with duplicated keys,
# grouping by a unique column, one person's many rows): every group that
# falls short is suppressed, counted in the job, its audit entry and dcr's
# output, and never shown.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: privacy
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload people, upload orders, run isolate, fetch isolate, run inflate, fetch inflate,
    run unique, fetch unique, run by_region, fetch by_region, upload wealth, run overflow, fetch overflow]
data:
  people:
    type: table
    columns:
      - {name: id, type: int64}
      - {name: email, type: string}
      - {name: region, type: string}
      - {name: spend, type: float64}
    privacy: {min_group_size: 5, identity: email, group_by: [region, id], aggregate: [spend, email], join: [email]}
  orders:
    type: table
    columns: [{name: email, type: string}, {name: amount, type: float64}]
  wealth:
    type: table
    columns: [{name: email, type: string}, {name: region, type: string}, {name: cents, type: int64}]
    privacy: {min_group_size: 5, identity: email, group_by: [region], aggregate: [cents], join: [email]}
compute:
  isolate:                     # a filter that isolates one person
    type: aggregate
    from: people
    where: [{column: email, value: p0@example.com}]
    group_by: [region]
    select: [{name: n, count: "*"}, {name: spend, sum: spend}]
  inflate:                     # orders has each address 20 times: a join that multiplies rows
    type: aggregate
    from: people
    join: [{table: orders, on: [people.email, orders.email]}]
    group_by: [people.region]
    select: [{name: n, count: "*"}, {name: amount, sum: orders.amount}]
  unique:                      # every id is one group of one person
    type: aggregate
    from: people
    group_by: [id]
    select: [{name: n, count: "*"}]
  by_region:
    type: aggregate
    from: people
    group_by: [region]
    select: [{name: n, count: "*"}, {name: people, count_distinct: email}]
  overflow:                    # whether one person's sum, times orders' 20 rows, passes 2^63: a suppressed
    type: aggregate            # group must not make the job fail
    from: wealth
    join: [{table: orders, on: [wealth.email, orders.email]}]
    group_by: [wealth.region]
    select: [{name: cents, sum: wealth.cents}, {name: mean, avg: wealth.cents, round: 1}]
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

# aggregate_zip FILE CSV N: FILE is, byte for byte, the result dcr-room(5) specifies for an aggregate
# computation whose result.csv is CSV (a trailing newline added) and that suppressed N groups: built here
# from the man page's layout, independently of dcrd.
aggregate_zip() {
	checks=$((checks + 1))
	python3 - "$@" <<'PY' || fail "$1 is not the aggregate result the man page specifies"
import struct, sys, zlib
path, csv, n = sys.argv[1], sys.argv[2].encode() + b"\n", int(sys.argv[3])
files = [(b"result.csv", csv), (b"suppressed.csv", b"groups_suppressed\n%d\n" % n)]
def fields(name, data):
    return struct.pack("<HHHHHIIIHH", 10, 0, 0, 0, 0x21, zlib.crc32(data), len(data), len(data), len(name), 0)
local, central = b"", b""
for name, data in files:
    central += b"PK\x01\x02" + struct.pack("<H", 10) + fields(name, data) + struct.pack("<HHHII", 0, 0, 0, 0, len(local)) + name
    local += b"PK\x03\x04" + fields(name, data) + name + data
want = local + central + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 2, 2, len(central), len(local), 0)
got = open(path, "rb").read()
if got != want:
    sys.exit("%s: %d bytes, want %d: %r" % (path, len(got), len(want), got[:200]))
PY
}

# north: 6 people; south: 3 people; east: 1 person with 40 rows; west: 2 people.
python3 - <<'PY'
rows = []
for i in range(6):
    rows.append((f"p{i}@example.com", "north"))
for i in range(6, 9):
    rows.append((f"p{i}@example.com", "south"))
rows += [("p9@example.com", "east")] * 40
rows += [("p10@example.com", "west"), ("p11@example.com", "west")]
with open("people.csv", "w") as f:
    f.write("id,email,region,spend\n")
    for n, (email, region) in enumerate(rows):
        f.write(f"{n},{email},{region},{n + 0.5}\n")
with open("wealth.csv", "w") as f:
    f.write("email,region,cents\n")
    for i in range(6):
        f.write(f"p{i}@example.com,north,{i - 2}\n")
    f.write(f"p9@example.com,east,{1 << 62}\n")
with open("orders.csv", "w") as f:
    f.write("email,amount\n")
    for i in range(12):
        for k in range(20):
            f.write(f"p{i}@example.com,{k}\n")
PY

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
expect 0 "upload people" as upload people.csv
expect 0 "publish people" as publish "$room" people "$out"
expect 0 "upload orders" as upload orders.csv
expect 0 "publish orders" as publish "$room" orders "$out"
expect 0 "upload wealth" as upload wealth.csv
expect 0 "publish wealth" as publish "$room" wealth "$out"

# ---- attacks that run, and yield only groups that reach the threshold ----
expect 0 "isolate one person with a filter" "$DCR" -i "$TEST_TMP/alice" run "$room" isolate --wait
job=$out
has "$err" "^dcr: run: job $job: 1 group suppressed$" "the person's group is suppressed, and counted"
expect 0 "fetch it" "$DCR" -i "$TEST_TMP/alice" fetch "$job" -o isolate.zip
has "$err" "^dcr: fetch: job $job: [0-9]+ bytes of application/zip, SHA-256 verified, written to isolate.zip$" \
	"the result is a ZIP"
has "$err" "^dcr: fetch: job $job: 1 group suppressed$" "fetch says so"
aggregate_zip isolate.zip "region,n,spend" 1
expect 0 "fetch its CSV" "$DCR" -i "$TEST_TMP/alice" fetch "$job" --file result.csv
checks=$((checks + 1))
[ "$out" = "region,n,spend" ] || fail "isolate: the result holds more than the header: $out"
has "$err" "^dcr: fetch: job $job: 1 group suppressed$" "fetch --file says so too"
expect 0 "fetch its count" as fetch "$job" --file suppressed.csv
checks=$((checks + 1))
[ "$out" = "$(printf 'groups_suppressed\n1')" ] || fail "isolate: suppressed.csv: $out"

# Joined with 20 orders each, north has 120 rows from 6 people: kept; south's 60 rows are 3 people, east's
# 800 rows one person, west's 40 rows two: all suppressed.
expect 0 "inflate a group with duplicated join keys" as run "$room" inflate -o inflate.zip
aggregate_zip inflate.zip "$(printf 'region,n,amount\nnorth,120,1140.0')" 3

expect 0 "group by a unique column" "$DCR" -i "$TEST_TMP/alice" run "$room" unique --wait
has "$err" "^dcr: run: job [0-9a-f]{12}-[0-9]+: 51 groups suppressed$" "every one of the 51 rows is a group of one"
expect 0 "fetch it" as fetch "${out}" -o unique.zip
aggregate_zip unique.zip "id,n" 51

# One person's 40 rows are one person: east is suppressed, whatever its count of rows.
expect 0 "by region" as run "$room" by_region -o by_region.zip
aggregate_zip by_region.zip "$(printf 'region,n,people\nnorth,6,6')" 3
expect 0 "extract it" as fetch "$(as jobs "$room" | awk '$2 == "by_region" {print $1}')" --extract by_region
checks=$((checks + 1))
[ "$(cat by_region/result.csv)" = "$(printf 'region,n,people\nnorth,6,6')" ] &&
	[ "$(cat by_region/suppressed.csv)" = "$(printf 'groups_suppressed\n3')" ] &&
	[ "$(ls by_region)" = "$(printf 'result.csv\nsuppressed.csv')" ] || fail "by_region: --extract: $(ls -l by_region)"
expect 0 "jobs" as jobs "$room"
has "$out" "by_region +succeeded .* 3 groups suppressed" "dcr jobs shows the count"
expect 0 "jobs --json" as --json jobs "$room"
has "$out" '"groups_suppressed": 3' "and its JSON"
expect 0 "audit" "$DCR" -i "$TEST_TMP/alice" --json audit "$room"
has "$out" 'groups_suppressed' "the job's audit entry records the count"
checks=$((checks + 1))
printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
got = sorted((e["object"], f["value"]) for e in d["entries"] if e["action"] == "job.finished"
    for f in e["facts"] if f["key"] == "groups_suppressed")
want = [("by_region", "3"), ("inflate", "3"), ("isolate", "1"), ("unique", "51")]
sys.exit(0 if got == want else "audit: groups_suppressed %s, want %s" % (got, want))
' || fail "each job.finished entry holds its count of suppressed groups"

# A suppressed group's values must not decide whether the job fails: east's one person, joined with 20
# orders, sums to 20 * 2^62, past what SQLite's sum() of integers holds ("integer overflow" failed the
# job, telling whoever ran it that the person's value is at least 2^63 / 20).
expect 0 "an integer sum that overflows in a suppressed group" as run "$room" overflow -o overflow.zip
aggregate_zip overflow.zip "$(printf 'region,cents,mean\nnorth,60,0.5')" 1

# ---- the SHA-256 the audit log records is that of the whole ZIP, and dcr fetch checks it ----
expect 0 "by region again" as run "$room" by_region --wait
job=$out
blob=$(ls -t data/blobs | head -1) # its result, the newest blob
expect 0 "fetch it whole" as fetch "$job" -o whole.zip
aggregate_zip whole.zip "$(printf 'region,n,people\nnorth,6,6')" 3
expect 0 "its audit entry" "$DCR" -i "$TEST_TMP/alice" --json audit "$room"
checks=$((checks + 1))
printf '%s' "$out" | python3 -c '
import hashlib, json, sys
d = json.load(sys.stdin)
got = [f["value"] for e in d["entries"] if e["action"] == "job.finished"
    and {"key": "job", "value": sys.argv[1]} in e["facts"] for f in e["facts"] if f["key"] == "result_sha256"]
want = hashlib.sha256(open("whole.zip", "rb").read()).hexdigest()
sys.exit(0 if got == [want] else "result_sha256 %s, want the ZIP'"'"'s %s" % (got, want))
' "$job" || fail "the audit entry's result_sha256 is the SHA-256 of the ZIP as fetched"
python3 - "data/blobs/$blob" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-1] ^= 1
open(sys.argv[1], "wb").write(b)
PY
expect 9 "a tampered aggregate result, -o" as fetch "$job" -o tampered.zip
has "$err" "^dcr: fetch: result of job $job: " "the check is named"
expect 9 "a tampered aggregate result, --file" as fetch "$job" --file result.csv -o tampered.csv
expect 9 "a tampered aggregate result, --extract" as fetch "$job" --extract tampered
checks=$((checks + 1))
[ ! -e tampered.zip ] && [ ! -e tampered.csv ] && [ ! -e tampered ] && ! ls tampered.*.part-* >/dev/null 2>&1 ||
	fail "a tampered result left something behind: $(ls -d tampered*)"

# ---- what participants review: the rule, the kind, and the SQL dcrd runs ----
expect 0 "the summary" "$DCR" create --dry-run room/room.yaml
has "$out" '^  people +table \(.*\); groups of at least 5 email; group by id, region; aggregate email, spend; join on email$' \
	"the table's rule"
has "$out" '^  inflate +aggregate of people join orders$' "the aggregate computation"
expect 0 "the JSON" "$DCR" --json create --dry-run room/room.yaml
has "$out" 'HAVING COUNT\(DISTINCT \\"people\\".\\"email\\"\) >= 5' "the SQL counts people in each group"
expect 6 "show of an aggregate computation" as show "$room" isolate
has "$err" "computation 'isolate' is an aggregate computation, which has no text of its own" "says why"

# ---- attacks refused at create, each at its position ----
bad() { # NAME EXPECTED-ERROR: room/room.yaml with its compute replaced by stdin
	sed -e '/^compute:/q' -e '/^  alice@acme.example:/,/fetch overflow\]$/c\  alice@acme.example: [upload people]' \
		room/room.yaml >room/bad.yaml
	cat >>room/bad.yaml
	expect 6 "$1" "$DCR" -i "$TEST_TMP/alice" create room/bad.yaml
	has "$err" "$2" "$1: refused with its position"
}
bad "a view over the protected table" "^dcr: create: room/bad.yaml:24:32: query of 'everyone' reads 'people', a table with a privacy rule" <<'YAML'
  everyone: {type: sql, query: SELECT * FROM people}
  count_view: {type: sql, query: SELECT count(*) AS n FROM everyone}
YAML
echo 'print(1)' >room/x.py
bad "a python mount" "^dcr: create: room/bad.yaml:24:59: python computation 'py' mounts 'people', a table with a privacy rule" <<'YAML'
  py: {type: python, script: x.py, mounts: {/input/p.csv: people}}
YAML
bad "a self-join" "^dcr: create: room/bad.yaml:27:20: table 'people' is read twice by 'self'" <<'YAML'
  self:
    type: aggregate
    from: people
    join: [{table: people, on: [email, email]}]
    select: [{name: n, count: "*"}]
YAML
bad "grouping by a column the rule does not list" \
	"^dcr: create: room/bad.yaml:27:16: column 'people.email' may not be used in group_by" <<'YAML'
  who:
    type: aggregate
    from: people
    group_by: [email]
    select: [{name: n, count: "*"}]
YAML
bad "max of a protected column" "^dcr: create: room/bad.yaml:27:26: unknown key 'max' in an aggregate" <<'YAML'
  top:
    type: aggregate
    from: people
    select: [{name: top, max: spend}]
YAML
bad "privacy on free SQL" "^dcr: create: room/bad.yaml:24:68: privacy rules apply to aggregate computations" <<'YAML'
  q: {type: sql, query: SELECT count(*) AS n FROM orders, privacy: {min_group_size: 5}}
YAML

# ---- python and protected tables ----
# A python computation may read an aggregate computation's result (the thresholded CSV), never a protected
# table. At create the rule is checked link by link: a python mount of the table, and an SQL computation
# (and so any view) that reads it, are refused where they are written, and every other node a python
# computation can mount (a file or code node, an aggregate, a python computation held to the same rule)
# holds nothing of the table below the threshold. So no chain reaches the table unthresholded. dcrd checks
# again at run time, each computation a job computes, as it computes it (jobs.c, sqlwork.c), for a
# definition that never went through this dcr create.
if sandbox_works; then
	cat >room/copy.py <<'PY'
import shutil
shutil.copy("/input/by_region.csv", "/output/by_region.csv")
PY
	{
		cat <<'YAML'
version: 1
name: privacy-python
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload people, run copy, fetch copy]
data:
YAML
		sed -n '/^  people:$/,/^    privacy:/p' room/room.yaml # the same table and rule as above
		echo 'compute:'
		sed -n '/^  by_region:$/,/^    select:/p' room/room.yaml
		echo '  copy: {type: python, script: copy.py, mounts: {/input/by_region.csv: by_region}}'
	} >room/py.yaml
	expect 0 "a python computation that mounts an aggregate computation" as create room/py.yaml || finish
	pyroom=$out
	expect 0 "publish people there" as publish "$pyroom" people "$(as upload people.csv)"
	expect 0 "run it" as run "$pyroom" copy -o copy.zip
	checks=$((checks + 1))
	[ "$(unzip -p copy.zip by_region.csv)" = "$(printf 'region,n,people\nnorth,6,6')" ] ||
		fail "python read more than the groups that reach the threshold: $(unzip -p copy.zip by_region.csv)"
	expect 0 "its audit log" "$DCR" -i "$TEST_TMP/alice" --json audit "$pyroom"
	checks=$((checks + 1))
	printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
facts = lambda e, k: [f["value"] for f in e["facts"] if f["key"] == k]
published = [facts(e, "sha256") for e in d["entries"] if e["action"] == "dataset.publish" and e["object"] == "people"]
copy = [e for e in d["entries"] if e["action"] == "job.finished" and e["object"] == "copy"]
want = ["people " + published[0][0]] if len(published) == 1 and len(published[0]) == 1 else "?"
got = [(e["outcome"], facts(e, "input"), facts(e, "groups_suppressed")) for e in copy]
sys.exit(0 if got == [("succeeded", want, [])] else "job.finished of copy: %s, want %s" % (got, want))
' || fail "the python job is logged as having read people, through the aggregate computation"

	# Each chain from python to the protected table, refused where it is written.
	for chain in "table:py: {type: python, script: x.py, mounts: {/input/p.csv: people}}" \
		"sql:q: {type: sql, query: SELECT email FROM people}|py: {type: python, script: x.py, mounts: {/input/q.csv: q}}" \
		"view:q: {type: sql, query: SELECT email FROM people}|v: {type: sql, query: SELECT * FROM q}|py: {type: python, script: x.py, mounts: {/input/v.csv: v}}" \
		"python:inner: {type: python, script: x.py, mounts: {/input/p.csv: people}}|py: {type: python, script: x.py, mounts: {/input/i: inner}}"; do
		name=${chain%%:*}
		sed '/^compute:/q' room/py.yaml | sed 's/\[upload people, run copy, fetch copy\]/[upload people]/' >room/chain.yaml
		printf '%s\n' "${chain#*:}" | tr '|' '\n' | sed 's/^/  /' >>room/chain.yaml
		expect 6 "python reaching the table through $name" "$DCR" -i "$TEST_TMP/alice" create room/chain.yaml
		has "$err" "^dcr: create: room/chain.yaml:[0-9]+:[0-9]+: .*'people', a table with a privacy rule" \
			"python reaching the table through $name: refused with its position"
	done
fi

finish
