#!/bin/bash
# dcr audit against a real dcrd: every room-scoped call logged, allowed or
# not; the log verified against the signed head; an export verified offline
# and no byte of it changeable; a rolled-back or forked log caught by the
# client that saw the newer one.
. "$(dirname "$0")/lib.sh"
WIRE=$(cd "$(dirname "$0")" && pwd) # wire.py, the protobuf wire format for the python below

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<YAML
version: 1
name: audited
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop, upload payroll_of_acme_2024]
  bob@acme.example: []
data:
  payroll_of_acme_2024: {type: file}
YAML

# Each user keeps the tree heads they saw in their own state directory.
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -i "$TEST_TMP/$who" "$@"; }
# The size of the log as WHO last saw it.
seen() { cut -d' ' -f1 "$TEST_TMP/$1-state/dcr/heads/$id" 2>/dev/null; }

start_dcrd data || finish
expect 0 "dry run" "$DCR" --json create --dry-run room/room.yaml
id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
short=${id:0:12}
# Every entry names the root that certified its caller: SHA-256 of the CA's DER.
issuer=$(openssl x509 -in acme-ca.pem -outform DER | sha256sum | cut -d' ' -f1)
iss=${issuer:0:12}

# Calls that go into the log.
expect 0 "alice creates" as alice create room/room.yaml
has "$(seen alice)" '^1$' "alice keeps the head of the log after her create"
expect 0 "alice status" as alice status "$id"
expect 3 "bob may not stop" as bob stop "$id"
expect 4 "carol is an outsider" as carol status "$id"
checks=$((checks + 1))
! ls "$TEST_TMP"/carol-state/dcr/heads/"$id" >/dev/null 2>&1 || fail "an outsider was given the room's tree head"

# The log, verified.
expect 0 "audit as alice" as alice audit "$id"
has "$out" '^# +TIME +CALLER +ISSUER +ACTION +OBJECT +OUTCOME +DETAIL$' "header"
has "$out" "^ *0 +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +alice@acme.example +$iss +room.create +$short +allowed$" "create logged"
has "$out" "^ *1 +[0-9T:Z-]+ +alice@acme.example +$iss +room.status +$short +allowed$" "alice's status logged"
has "$out" "^ *[0-9]+ +[0-9T:Z-]+ +bob@acme.example +$iss +room.stop +$short +denied +bob@acme.example lacks permission 'stop'" \
	"bob's refused stop logged with the reason"
has "$out" "^verified ([0-9]+) entries, tree size \1, root [0-9a-f]{64}$" "verified line"
first=$(sed -n 's/^verified \([0-9]*\) entries.*/\1/p' <<<"$out")
has "$(seen alice)" "^$((first + 1))$" "the head stored after audit.get counts its own entry"
expect 0 "audit again" as alice audit "${id:0:10}"
has "$out" "^ *$first +[0-9T:Z-]+ +alice@acme.example +$iss +audit.get +$short +allowed$" "the first audit.get is in the log"
has "$out" "^verified $((first + 1)) entries, tree size $((first + 1)), " "one entry more"
expect 0 "audit as bob, who may read the log" as bob audit "$id"
expect 4 "audit as carol" as carol audit "$id"
expect 2 "audit without a room" as alice audit
expect 2 "audit with two rooms" as alice audit "$id" "$id"
expect 2 "audit of a non-ID" as alice audit nothex

expect 0 "audit --json" as alice --json audit "$id"
checks=$((checks + 1))
JSON=$out python3 - "$id" "$issuer" <<'PY' || fail "audit --json: $out"
import json, os, re, sys
d = json.loads(os.environ["JSON"])
assert d["room"] == sys.argv[1], d
assert all(e["issuer"] == sys.argv[2] for e in d["entries"]), d
assert re.fullmatch(r"[0-9a-f]{64}", d["root"]), d
assert d["size"] == len(d["entries"]) >= 6, d
for i, e in enumerate(d["entries"]):
    assert e["index"] == i and e["object"] == sys.argv[1], e
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]), e
    assert isinstance(e["facts"], list), e
seen = {(e["caller"], e["action"], e["outcome"]) for e in d["entries"]}
for want in [("alice@acme.example", "room.create", "allowed"), ("alice@acme.example", "room.status", "allowed"),
             ("bob@acme.example", "room.stop", "denied"), ("alice@acme.example", "audit.get", "allowed")]:
    assert want in seen, (want, seen)
assert [e for e in d["entries"] if e["outcome"] == "denied"][0]["detail"].startswith("bob@acme.example lacks"), d
PY

# Data in the room: the node's name is in the sealed definition, and must not show anywhere else.
echo "the payroll" >payroll.txt
expect 0 "alice uploads" as alice -q upload payroll.txt
expect 0 "alice publishes" as alice -q publish "$id" payroll_of_acme_2024 "$out"

# Export, then verify with dcrd gone, without any identity.
expect 0 "export" as alice audit "$id" --export log.dcra
has "$out" "^exported the log, a proof for each entry and the enclave's evidence to 'log.dcra'$" "export reported"
exported=$(sed -n 's/^verified \([0-9]*\) entries.*/\1/p' <<<"$out")
has "$(stat -c %a log.dcra)" '^600$' "the export is private"
expect 0 "export --json" as alice --json audit "$id" --export log2.dcra
has "$out" '"export": "log2.dcra"' "the JSON names the export"
stop_dcrd

# The host knows when each call came, from whom and what it was: it guesses
# an entry exactly (here: the real entry without its salt, as dcrd wrote
# entries before salts) and looks for its leaf hash, or any part of the
# entry, anywhere in the data directory. It finds nothing; the salted
# entry's real leaf hash is there, so the search would have found the guess
# had dcrd stored unsalted leaves.
checks=$((checks + 1))
python3 - "$WIRE" log.dcra data "$XDG_DATA_HOME/dcr" <<'PY' || fail "the host confirms a guessed entry"
import hashlib, os, sys
sys.path.insert(0, sys.argv[1])
from wire import parse

export, datadir = sys.argv[2], sys.argv[3]
entries = [v for f, _, v, _ in parse(open(export, "rb").read()) if f == 5]
blob = b""
for root, dirs, files in os.walk(datadir):
    # dcr's keystore ($XDG_DATA_HOME/dcr) is the client's, not the host's: it lies in data/ only here.
    dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) != os.path.realpath(sys.argv[4])]
    for name in files:
        blob += open(os.path.join(root, name), "rb").read()
leaf = lambda e: hashlib.sha256(b"\0" + e).digest()
bad = []
for i, e in enumerate(entries):
    parts = parse(e)
    salts = [v for f, _, v, _ in parts if f == 9]
    if len(salts) != 1 or len(salts[0]) != 16:
        bad.append("entry %d has no 16-byte salt" % i)
    guess = b"".join(raw for f, _, _, raw in parts if f != 9)
    for what, h in (("guessed", leaf(guess)), ("real", leaf(e))):
        if what == "real" and not salts:
            continue
        found = any(x in blob for x in (h, h.hex().encode(), h.hex().upper().encode()))
        if found != (what == "real"):
            bad.append("entry %d: the %s leaf hash is %sin the data directory" % (i, what, "" if found else "not "))
    if guess in blob:
        bad.append("entry %d is in the clear" % i)
for secret in (b"alice@acme.example", b"bob@acme.example", b"room.stop", b"lacks permission", b"payroll_of_acme_2024"):
    if secret in blob:
        bad.append("%r is in the clear in the data directory" % secret)
if len(entries) < 6:
    bad.append("only %d entries" % len(entries))
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
PY
expect 0 "verify offline" env -u DCR_ENDPOINT "$DCR" -i nowhere audit verify log.dcra
has "$out" "^verified offline: $exported entries, tree size $exported, root [0-9a-f]{64}, signed by the enclave the trusted spec 'dcrd:sim' pins" \
	"offline verdict"
has "$out" "^ *[0-9]+ +[0-9T:Z-]+ +bob@acme.example +$iss +room.stop +$short +denied " "the table offline"
has "$err" "simulated attestation" "a sim export is flagged"
expect 0 "verify offline --json" "$DCR" --json audit verify log2.dcra
checks=$((checks + 1))
JSON=$out python3 - "$id" <<'PY' || fail "verify --json: $out"
import json, os, sys
d = json.loads(os.environ["JSON"])
assert d["room"] == sys.argv[1] and d["size"] == len(d["entries"]) and d["spec"] == "dcrd:sim", d
assert d["simulated"] is True and len(d["measurement"]) == 64, d
PY
expect 5 "verify without specs" env -u DCR_SPECS "$DCR" audit verify log.dcra
has "$err" "no trusted specs" "specs needed offline"
sed "s/measurement: .*/measurement: $(printf '%064d' 7)/" specs.yaml >other-specs.yaml
expect 5 "verify against specs that do not pin dcrd" "$DCR" --specs other-specs.yaml audit verify log.dcra
has "$err" "^dcr: audit: 'log.dcra': the export's evidence: " "evidence rejection explained"
expect 4 "verify a missing file" "$DCR" audit verify nope.dcra
expect 9 "verify a file that is not an export" "$DCR" audit verify specs.yaml
has "$err" "^dcr: audit: 'specs.yaml': not an intact audit export: it does not decode$" "garbage explained"
expect 2 "verify without a file" "$DCR" audit verify
expect 2 "verify with --export" "$DCR" audit verify log.dcra --export x

# No byte of the export can change unnoticed: every byte flipped or deleted,
# a byte inserted at every offset or appended; nor any field, in every
# message at every depth: a field inserted anywhere (the sim evidence's
# unused collateral among them), deleted or repeated (tests/tools/
# export-sweep, in process).
checks=$((checks + 1))
"$EXPORT_SWEEP" specs.yaml log.dcra >sweep.out 2>&1 || fail "export sweep: $(tail -20 sweep.out)"
cat sweep.out
has "$(cat sweep.out)" "^[0-9]+ byte changes to a [0-9]+-byte export tried$" "the byte sweep ran"
has "$(cat sweep.out)" "^[0-9]{3,} edits of its protobuf fields tried$" "the field sweep ran"
has "$(cat sweep.out)" "^[0-9]+ changes tried in all, 0 not refused as they should be$" "all were refused"

# An unknown field inserted at the start, the middle or the end of the message
# at every nesting level, with every length around it fixed: exit 9, and why.
checks=$((checks + 1))
python3 - "$WIRE" log.dcra "$DCR" <<'PY' || fail "unknown fields in exports"
import subprocess, sys
sys.path.insert(0, sys.argv[1])
from wire import build, parse

UNKNOWN = [15, 0, b"\x05"]

def edit(b, path, where):
    """b with an unknown field added at where (start, middle, end) in the message at path (field numbers, then index)."""
    fields = parse(b)
    if not path:
        at = {"start": 0, "middle": len(fields) // 2, "end": len(fields)}[where]
        return build(fields[:at] + [UNKNOWN] + fields[at:])
    (num, index), rest = path[0], path[1:]
    hits = [x for x in fields if x[0] == num]
    hits[index][2] = edit(hits[index][2], rest, where)
    return build(fields)

path, dcr = sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
n = len([x for x in parse(data) if x[0] == 5])
levels = [
    ("the export", [], "an unknown field 15 in the AuditExport"),
    ("the signed head", [(4, 0)], "an unknown field 15 in a nested SignedTreeHead"),
    ("the tree head it signs", [(4, 0), (1, 0)], "the tree head's signature is not the attested enclave's"),
    ("the first proof", [(6, 0)], "an unknown field 15 in a nested InclusionProof"),
    ("the last proof", [(6, n - 1)], "an unknown field 15 in a nested InclusionProof"),
    ("the first entry", [(5, 0)], "entry 0: not in the signed log"),
    ("the last entry", [(5, n - 1)], "entry %d: not in the signed log" % (n - 1)),
    ("the evidence", [(3, 0)], "the evidence is not in its canonical encoding: an unknown field 15 in the Evidence"),
    ("the sim quote", [(3, 0), (2, 0)], "the evidence's sim quote is not in its canonical encoding: an unknown field 15"),
    ("the sim report", [(3, 0), (2, 0), (1, 0)], "the evidence's sim report is not in its canonical encoding: an unknown field 15"),
]
bad = []
for what, p, reason in levels:
    for where in ("start", "middle", "end"):
        open("u.dcra", "wb").write(edit(data, p, where))
        r = subprocess.run([dcr, "-q", "audit", "verify", "u.dcra"], capture_output=True)
        err = r.stderr.decode(errors="replace")
        if r.returncode != 9 or reason not in err:
            bad.append("%s, at the %s: exit %d, %s" % (what, where, r.returncode, err.strip()))
# A field of the export given twice: the second copy of the signed head.
fields = parse(data)
head = [x for x in fields if x[0] == 4][0]
open("u.dcra", "wb").write(build(fields + [head]))
r = subprocess.run([dcr, "-q", "audit", "verify", "u.dcra"], capture_output=True)
if r.returncode != 9 or b"not in its canonical encoding" not in r.stderr:
    bad.append("the head twice: exit %d, %s" % (r.returncode, r.stderr))
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY

# The checks name what they found.
checks=$((checks + 1))
python3 - "$WIRE" log.dcra "$DCR" <<'PY' || fail "tampered exports"
import subprocess, sys
sys.path.insert(0, sys.argv[1])
from wire import offsets

path, dcr = sys.argv[2], sys.argv[3]
data = open(path, "rb").read()
layout = offsets(data)
entries = [(k, n) for f, _, k, n in layout if f == 5]
proofs = [(k, n) for f, _, k, n in layout if f == 6]
head = [(k, n) for f, _, k, n in layout if f == 4][0]
evidence = [(k, n) for f, _, k, n in layout if f == 3][0]
assert len(entries) == len(proofs) >= 6, layout
bad = []

def verify(b):
    open("t.dcra", "wb").write(b)
    p = subprocess.run([dcr, "-q", "audit", "verify", "t.dcra"], capture_output=True)
    return p.returncode, p.stderr.decode(errors="replace")

def flipped(i, mask=0x01):
    b = bytearray(data)
    b[i] ^= mask
    return bytes(b)

# Inside an entry: the message names it.
for e in (0, 2, len(entries) - 1):
    k, n = entries[e]
    rc, err = verify(flipped(k + n // 2))
    if rc != 9 or "entry %d: not in the signed log" % e not in err:
        bad.append("entry %d altered: exit %d, %s" % (e, rc, err))
    rc, err = verify(flipped(proofs[e][0] + 5))
    if rc != 9 or "entry %d: " % e not in err:
        bad.append("proof %d altered: exit %d, %s" % (e, rc, err))
# The signature, the evidence, a truncation, a removed entry.
k, n = head
rc, err = verify(flipped(k + n - 3))
if rc != 9 or "the tree head's signature is not the attested enclave's" not in err:
    bad.append("signature altered: exit %d, %s" % (rc, err))
k, n = evidence
rc, err = verify(flipped(k + 100))
if rc != 5 or not err.startswith("dcr: audit: 't.dcra': the export's evidence: "):
    bad.append("evidence altered: exit %d, %s" % (rc, err))
rc, err = verify(data[:-1])
if rc != 9 or "not an intact audit export: it does not decode" not in err:
    bad.append("truncated: exit %d, %s" % (rc, err))
f, t, k, n = [x for x in layout if x[0] == 5][1]
rc, err = verify(data[:t] + data[k + n:])
if rc != 9:
    bad.append("an entry removed: exit %d, %s" % (rc, err))
rc, err = verify(data)
if rc != 0:
    bad.append("the untouched copy: exit %d, %s" % (rc, err))
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
PY

# Rollback: the host puts back an older data directory.
cp -a data data-old
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 0 "alice status once more" as alice status "$id"
expect 0 "and again" as alice status "$id"
expect 0 "and again: the log outgrows the copy by more than alice's next two calls" as alice status "$id"
newer=$(seen alice)
stop_dcrd
rm -rf data && cp -a data-old data
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 9 "alice catches the rollback" as alice status "$id"
has "$err" "^dcr: status: rollback of room $id: its log shrank from size $newer \(root [0-9a-f]{64}\) to size [0-9]+ " \
	"rollback named with both sizes and roots"
older=$(sed -n 's/.* to size \([0-9]*\) .*/\1/p' <<<"$err")
checks=$((checks + 1))
[ -n "$older" ] && [ "$older" -lt "$newer" ] || fail "rollback sizes: $older, $newer"
has "$(seen alice)" "^$newer$" "alice keeps the newer head"
expect 9 "audit catches it too" as alice audit "$id"
has "$err" "rollback" "audit names the rollback"
expect 0 "bob saw nothing newer and carries on" as bob status "$id"

# Fork: the older state grows past what alice saw, with other entries.
for i in 1 2 3 4 5; do
	expect 0 "bob status $i" as bob status "$id"
done
checks=$((checks + 1))
[ "$(seen bob)" -gt "$newer" ] || fail "the forked log did not grow past $newer: $(seen bob)"
expect 9 "alice catches the fork" as alice status "$id"
has "$err" "^dcr: status: fork of room $id: the log at size [0-9]+ \(root [0-9a-f]{64}\) does not extend the one this client saw at size $newer " \
	"fork named with both sizes"
expect 9 "audit catches the fork" as alice audit "$id"
has "$err" "fork" "audit names the fork"

# A damaged memory is not silently replaced.
# The host restores an older room record alone (un-stopping a room): the
# record no longer matches what the room's sealed log last recorded.
expect 0 "another room" as alice --json create --salt unstop room/room.yaml
id2=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
record() { python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("SELECT hex(record) FROM rooms WHERE id = ?", (sys.argv[2],)).fetchone()[0])' data/state.db "$id2"; }
active_record=$(record)
expect 0 "alice stops it" as alice stop "$id2"
stop_dcrd
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE rooms SET record = ? WHERE id = ?", (bytes.fromhex(sys.argv[3]), sys.argv[2])); c.commit()' \
	data/state.db "$id2" "$active_record" || fail "restoring the old record"
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 9 "an older record restored alone" as alice status "$id2"
has "$err" "not the one its audit log last recorded" "explained"

# A room that vanished: the host deletes its rows. dcrd says there is no such
# room, which for a room alice saw is a rollback.
stop_dcrd
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for t in ("rooms", "audit", "audit_frontier"):
    c.execute("DELETE FROM %s WHERE %s = ?" % (t, "id" if t == "rooms" else "room_id"), (sys.argv[2],))
c.commit()' data/state.db "$id2" || fail "deleting the room's rows"
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 9 "a room deleted from the state" as alice status "$id2"
has "$err" "^dcr: status: room $id2 existed with a log of size [0-9]+, but dcrd now denies it: its state was rolled back" \
	"the vanished room is a rollback"
expect 4 "for someone who never saw it, there is no such room" as carol status "$id2"

# Refusals made before dcrd looks at the room carry no head and are the
# call's own result: alice re-creates a room she knows past the creation
# rate (1 per hour; the first try uses it up and is told the room exists),
# then on a dcrd that lets only another CA create rooms.
expect 0 "a third room" as alice --json create --salt again room/room.yaml
id3=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
stop_dcrd
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --create-rate 1/1h || finish
expect 1 "re-creating a known room: it exists" as alice create --salt again room/room.yaml
has "$err" "^dcr: create: room $id3 exists already" "the room exists"
before=$(cut -d' ' -f1 "alice-state/dcr/heads/$id3")
expect 1 "re-creating it past the rate" as alice create --salt again room/room.yaml
has "$err" "^dcr: create: alice@acme.example has created too many rooms lately" "the rate is the reason, not a rollback"
lacks "$err" "rolled back" "no rollback is claimed"
stop_dcrd
make_ca other-ca
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --creator-ca other-ca.pem || finish
expect 3 "re-creating it where acme may not create rooms" as alice create --salt again room/room.yaml
has "$err" "^dcr: create: alice@acme.example may not create rooms here" "the creator CA is the reason"
has "$(cut -d' ' -f1 "alice-state/dcr/heads/$id3")" "^$before$" "the head alice kept is the one of the last answer with a head"
expect 0 "the room carries on, its log checked against that head" as alice status "$id3"

echo garbage >"alice-state/dcr/heads/$id"
expect 9 "damaged head file" as alice status "$id"
has "$err" "is damaged" "damaged head named"
# As dcr-formats(5) says: a file longer than 1024 bytes, or a directory where the file goes, is damaged too.
head -c 2000 /dev/zero | tr '\0' 1 >"alice-state/dcr/heads/$id"
expect 9 "a head file of 2000 bytes" as alice status "$id"
has "$err" "is damaged \(larger than 1024 bytes\)" "named"
rm "alice-state/dcr/heads/$id"
mkdir "alice-state/dcr/heads/$id"
expect 9 "a directory for a head file" as alice status "$id"
has "$err" "is damaged \(not a regular file\)" "named"

finish
