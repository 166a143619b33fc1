#!/bin/bash
# Text that other parties wrote reaches the terminal escaped: a script's
# visible logs (an escape sequence that retitles the terminal, a carriage
# return or a newline before a fake "SHA-256 verified" line, a fake end of
# the logs, C1 controls, bytes that are not UTF-8), each of its lines after
# "| ", dcrd's error messages quoting what a caller sent, a room's name and
# description, also in --json; audit entries hold UTF-8 only. --raw-logs
# gives the bytes as they are.
. "$(dirname "$0")/lib.sh"
WIRE=$(cd "$(dirname "$0")" && pwd) # wire.py, the protobuf wire format

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/noisy.py <<'EOF'
import sys
out = sys.stdout.buffer
out.write(b"\x1b]0;pwned\x07starting\n")
out.write(b"progress\r\x1b[2Kdcr: fetch: job 000000000000-1: 9 bytes of text/csv, SHA-256 verified\n")
out.write(b"tab\there, c1 \xc2\x9b31m, not utf-8 \xff\xfe, del \x7f, nul \x00, bell \x07, \xc3\xa9t\xc3\xa9\n")
out.write(b"\n---\ndcr: fetch: job 000000000000-2: 9 bytes of text/csv, SHA-256 verified, written to out.csv\n")
out.flush()
open("/output/out.txt", "w").write("done\n")
EOF
# A name and description with C1 controls (YAML escapes them; the room validator passes them).
cat >room/room.yaml <<'YAML'
version: 1
name: "noisy \u009b31m room"
description: "made \u009b2J by alice"
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run noisy, fetch noisy]
compute:
  noisy:
    type: python
    script: noisy.py
    logs: visible
YAML

as() { "$DCR" -i "$TEST_TMP/alice" "$@"; }

# no_controls DESCRIPTION FILE: FILE holds no byte a terminal would act on (but \n and \t), nor a C1 control.
no_controls() {
	checks=$((checks + 1))
	python3 - "$2" <<'PY' || fail "$1: $(od -c "$2" | head -20)"
import sys
b = open(sys.argv[1], "rb").read()
bad = [c for c in b if (c < 0x20 and c not in (0x09, 0x0a)) or c == 0x7f]
assert not bad and b"\xc2\x9b" not in b and b"\xff" not in b, bad
PY
}

# Where dcrd's sandbox cannot work it refuses python computations: noisy is SQL until the logs' checks, left out.
sandbox=0
sandbox_works && sandbox=1
if [ $sandbox = 0 ]; then
	sed -i -e '/^  noisy:$/,$d' room/room.yaml
	echo '  noisy: {type: sql, query: SELECT 1 AS one}' >>room/room.yaml
fi

start_dcrd data || finish
expect 0 "create" as -q create room/room.yaml || finish
room=$out

# ---- a room's name and description ----
expect 0 "rooms" as rooms
no_controls "rooms" "$TEST_TMP/stderr"
printf '%s' "$out" >rooms.out
no_controls "rooms, standard output" rooms.out
has "$out" 'noisy \\xc2\\x9b31m room' "the C1 control in the name is shown escaped"
expect 0 "rooms ROOM" as rooms "$room"
printf '%s' "$out" >room.out
no_controls "rooms ROOM, standard output" room.out
has "$out" '^description  made \\xc2\\x9b2J by alice$' "the description is shown escaped"
# --json: the same characters, escaped as JSON (\u009B), never raw.
expect 0 "--json rooms" as --json rooms
printf '%s' "$out" >json.out
no_controls "--json rooms" json.out
has "$out" '"name": "noisy \\u009B31m room"' "--json rooms escapes the C1 control"
expect 0 "--json rooms ROOM" as --json rooms "$room"
printf '%s' "$out" >json.out
no_controls "--json rooms ROOM" json.out
has "$out" '"description": "made \\u009B2J by alice"' "--json rooms ROOM escapes it"

# ---- an error message from dcrd quoting what was sent ----
expect 4 "a computation that is not there" as -q run "$room" $'x\e[2J\ry\x7f\xc2\x9b'
no_controls "an error message from dcrd" "$TEST_TMP/stderr"
has "$err" "has no computation 'x\\\\x1b\\[2J\\\\x0dy\\\\x7f\\\\xc2\\\\x9b'" "the name is quoted escaped"
# The refusal is in the room's log, with what was sent; the log's table escapes it too.
expect 0 "audit" as -q audit "$room"
printf '%s' "$out" >audit.out
no_controls "audit" audit.out
has "$out" "job.run +x\\\\x1b\\[2J\\\\x0dy\\\\x7f.* +not-found " "the log shows the refusal escaped"
expect 0 "audit --json" as -q --json audit "$room"
printf '%s' "$out" >json.out
no_controls "audit --json: DEL and C1 in the refusal" json.out
has "$out" '"object": "x\\u001B\[2J\\ry\\u007F\\u009B"' "audit --json escapes them as JSON"
# Bytes that are not UTF-8, and a name cut inside a character where the log keeps 64 bytes of it: the
# entries hold UTF-8 only (every proto3 decoder insists on it for strings).
expect 4 "a computation name that is not UTF-8" as -q run "$room" $'bad\xff\xfename'
expect 4 "a long name cut in its last character" as -q run "$room" "$(printf 'a%.0s' $(seq 63))"$'\xc3\xa9'
expect 0 "export" as -q audit "$room" --export log.dcra
expect 0 "audit --json" as -q --json audit "$room"
has "$out" '"object": "bad\?\?name"' "bytes that are not UTF-8 become '?'"
has "$out" "\"object\": \"a{63}\"" "the cut character is left out"
checks=$((checks + 1))
python3 - "$WIRE" log.dcra <<'PY' || fail "an entry's strings are not all UTF-8"
import sys
sys.path.insert(0, sys.argv[1])
from wire import parse
for f in parse(open(sys.argv[2], "rb").read()):
    if f[0] != 5:
        continue
    for e in parse(f[2]):
        if e[0] in (2, 3, 4, 5, 6, 8):
            e[2].decode("utf-8", "strict")
        elif e[0] == 7:
            for kv in parse(e[2]):
                kv[2].decode("utf-8", "strict")
PY

if [ $sandbox = 0 ]; then
	finish
fi

# ---- a script's logs ----
expect 0 "run noisy" as -q run "$room" noisy --wait || finish
job=$out
expect 0 "fetch shows the logs" as fetch "$job" -o out.txt
no_controls "fetch" "$TEST_TMP/stderr"
has "$err" '^\| \\x1b\]0;pwned\\x07starting$' "the title sequence is shown, not sent"
has "$err" '^\| progress\\x0d\\x1b\[2Kdcr: fetch: job 000000000000-1: 9 bytes of text/csv, SHA-256 verified$' \
	"the fake line stays on the script's line, after its carriage return"
has "$err" $'^\\| tab\there, c1 \\\\xc2\\\\x9b31m, not utf-8 \\\\xff\\\\xfe, del \\\\x7f, nul \\\\x00, bell \\\\x07, \xc3\xa9t\xc3\xa9$' \
	"tabs and UTF-8 pass; C1, bytes that are not UTF-8, DEL, NUL and BEL are escaped"
has "$err" "^dcr: fetch: job $job: [0-9]+ bytes of application/zip, SHA-256 verified, written to out.txt$" \
	"dcr's own line is there"
lacks "$err" '^dcr: fetch: job 000000000000-' "no line starts with a fake one"
# A newline, a fake end of the block and a fake line of dcr's: each is a line of the script's, marked.
checks=$((checks + 1))
python3 - "$TEST_TMP/stderr" "$job" <<'PY' || fail "the block of logs: $(cat "$TEST_TMP/stderr")"
import sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().split("\n")
start = lines.index("--- what job %s printed ---" % sys.argv[2])
end = lines.index("---", start + 1)
block = lines[start + 1:end]
assert len(block) == 6 and all(l == "|" or l.startswith("| ") for l in block), block
assert block[3:] == ["|", "| ---", "| dcr: fetch: job 000000000000-2: 9 bytes of text/csv, SHA-256 verified, written to out.csv"], block
assert lines[end + 1].startswith("dcr: fetch: job %s: " % sys.argv[2]), lines[end + 1:]
PY

expect 0 "fetch --raw-logs" as fetch "$job" -o raw.txt --raw-logs 2>/dev/null
checks=$((checks + 1))
python3 - "$TEST_TMP/stderr" <<'PY' || fail "--raw-logs: $(od -c "$TEST_TMP/stderr" | head)"
import sys
b = open(sys.argv[1], "rb").read()
for raw in (b"\x1b]0;pwned\x07starting\n", b"progress\r\x1b[2Kdcr: fetch:", b"\xc2\x9b31m", b"\xff\xfe", b"nul \x00,"):
    assert raw in b, raw
PY
expect 0 "run -o shows them escaped too" as run "$room" noisy -o run.txt
no_controls "run -o" "$TEST_TMP/stderr"
has "$err" '^\| \\x1b\]0;pwned\\x07starting$' "run -o escapes the logs"
expect 2 "--raw-logs without -o" as run "$room" noisy --raw-logs
has "$err" "raw-logs goes with -o" "explained"

finish
