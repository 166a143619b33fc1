#!/bin/bash
# Python computations as users from other clean rooms write them, through
# the real dcr and dcrd: "python" is a command, a program the sandbox does
# not have is refused at creation with its position, code nodes are
# modules (no sys.path tricks) that cannot replace the standard library or
# dcr_enclave (code nodes named json and dcr_enclave), never among
# dcr_enclave's inputs, the usual data libraries import, and
# examples/secret-module runs end to end:
# the secret module's summary and a matplotlib PNG come back. A dcrd whose
# sandbox cannot work (bwrap replaced, in a mount namespace of its own, by
# one that fails as in a container) says so once, dcr attest shows it, and
# rooms with python computations are refused; one whose sandbox works lists
# python and its packages.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca org-ca
for who in carol@model.example dave@shop.example erin@analyst.example; do
	make_user "${who%%@*}" "$who" org-ca
done
as() { local who=$1; shift; "$DCR" -q -i "$TEST_TMP/$who" "$@"; }

# ---- programs the sandbox does not have: refused at creation, with the position ----
mkdir -p bad
cp org-ca.pem bad/ca.pem
printf 'print(1)\n' >bad/run.py
# bad_room COMMAND: a room whose one computation runs COMMAND (a YAML flow list), at line 9.
bad_room() {
	cat >bad/room.yaml <<YAML
version: 1
name: bad
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants: {carol@model.example: [run c]}
compute:
  c:
    type: python
    command: $1
    script: run.py
YAML
}
bad_room '[pyhton, /code/run.py]'
expect 0 "dcr cannot see dcrd's sandbox: a name passes --dry-run" "$DCR" create --dry-run bad/room.yaml
bad_room '[/code/run.py]'
expect 6 "a script is not a program" "$DCR" create --dry-run bad/room.yaml
has "$err" "^dcr: create: bad/room.yaml:9:15: program '/code/run.py' is not in the sandbox's image" \
	"the error has the file, line and column"
has "$err" "run them with python3" "and says what to do"
bad_room '[./run.py]'
expect 6 "a relative path" "$DCR" create --dry-run bad/room.yaml
has "$err" "bad/room.yaml:9:15: program './run.py' is a relative path" "a relative path is named"
bad_room '[/opt/conda/bin/python, /code/run.py]'
expect 6 "a path outside the image" "$DCR" create --dry-run bad/room.yaml
has "$err" "bad/room.yaml:9:15: program '/opt/conda/bin/python' is not in the sandbox's image" \
	"a path outside the image is named"

sandbox=0
sandbox_works && sandbox=1
start_dcrd data || finish
# (Where the sandbox cannot work, dcrd refuses every python computation: see below.)
for prog in pyhton /usr/bin/pyhton3 /usr/local/bin/python3 /bin/nonexistent-$$; do
	bad_room "[$prog, /code/run.py]"
	[ $sandbox = 1 ] || break
	expect 6 "dcrd refuses program $prog" as carol create bad/room.yaml
	has "$err" "^dcr: create: room.yaml:9:15: program '$prog' is not in (this dcrd's python sandbox|the python sandbox)" \
		"$prog: the error has the file, line and column"
done
lacks "$(as carol rooms)" "bad" "no room was created"
for prog in python python3 /usr/bin/python3 /bin/python3 /usr/local/bin/python /usr/bin/env; do
	bad_room "[$prog, /code/run.py]"
	expect 0 "dcr accepts program $prog" "$DCR" -i "$TEST_TMP/carol" create --dry-run bad/room.yaml
	[ $sandbox = 1 ] && expect 0 "dcrd accepts program $prog" as carol create bad/room.yaml
done

# A code node's module may not be the script's path.
cat >bad/room.yaml <<'YAML'
version: 1
name: clash
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants: {carol@model.example: [run c]}
data: {run: {type: code, sha256: 0000000000000000000000000000000000000000000000000000000000000000}}
compute:
  c: {type: python, script: run.py, mounts: {/input/m.py: run}}
YAML
expect 6 "a code node named like the script" "$DCR" create --dry-run bad/room.yaml
has "$err" "bad/room.yaml:8:59: code node 'run' is the module /code/run.py, which is also the path of the script" \
	"the clash is named at the mount"

# ---- a host where bubblewrap cannot mount /proc (a container): said once, shown, python rooms refused ----
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	printf '#!/bin/sh\necho "bwrap: Can'"'"'t mount proc on /newroot/proc: Operation not permitted" >&2\nexit 1\n' \
		>fake-bwrap
	chmod +x fake-bwrap
	# dcrd in a mount namespace of its own where /usr/bin/bwrap is the fake.
	printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount --bind "$0" /usr/bin/bwrap && exec "$@"'"'"' %s %s "$@"\n' \
		"$TEST_TMP/fake-bwrap" "$DCRD" >nobwrap-dcrd
	chmod +x nobwrap-dcrd
	expect 1 "dcrd sandbox says the sandbox cannot work" ./nobwrap-dcrd sandbox
	has "$err" "^dcrd: sandbox: python computations cannot run here: .*Can't mount proc" "and why"
	real_dcrd=$DCRD
	DCRD=$TEST_TMP/nobwrap-dcrd
	log_from=$(($(wc -l <"$TEST_TMP/dcrd.log") + 1))
	start_dcrd nobwrap || finish
	DCRD=$real_dcrd
	log=$(tail -n "+$log_from" "$TEST_TMP/dcrd.log")
	checks=$((checks + 1))
	[ "$(grep -c "cannot run here" <<<"$log")" = 1 ] || fail "dcrd's log should say it once: $log"
	has "$log" "^dcrd: python computations cannot run here, rooms with them are refused: .*Can't mount proc" \
		"dcrd says so at start"
	expect 0 "attest" "$DCR" attest
	has "$out" "^python +cannot run here: .*Can't mount proc" "dcr attest shows it"
	expect 0 "attest --json" "$DCR" --json attest
	has "$out" '"available": false' "and so does its JSON"
	bad_room '[python, /code/run.py]'
	expect 6 "a room with a python computation is refused" as carol create bad/room.yaml
	has "$err" "computation 'c' is python, and this dcrd cannot run python: .*Can't mount proc" "with the reason"
	sed -i '/^compute:/,$d' bad/room.yaml
	sed -i 's/\[run c\]/[read-status]/' bad/room.yaml
	expect 0 "a room without one is created" as carol create bad/room.yaml
	stop_dcrd
else
	echo "NOTE: not root, or no unshare: the check of a host without a working sandbox is left out"
fi

need_sandbox
expect 0 "dcrd sandbox" "$DCRD" sandbox
has "$out" "^python 3\.[0-9]+" "dcrd sandbox lists python"
has "$out" "^numpy [0-9]" "and the packages"
start_dcrd data2 || finish
expect 0 "attest" "$DCR" attest
has "$out" "^python +3\.[0-9.]+ \(reported by dcrd, not attested\)$" "dcr attest shows python's version"
has "$out" "^packages +numpy [0-9.]+, pandas [0-9.]+, scipy .*, matplotlib [0-9.]+, seaborn" "and the packages'"
expect 0 "attest --json" "$DCR" --json attest
has "$out" '"available": true' "JSON: the sandbox works"
has "$out" '"matplotlib": "[0-9.]+"' "JSON: matplotlib's version"
has "$out" '"attested": false' "JSON: not attested"

# ---- inside the sandbox: python, the modules, the inputs, the libraries ----
mkdir -p probe
cp org-ca.pem probe/ca.pem
printf 'SECRET = "module text"\ndef answer():\n    return 42\n' >probe/mod.py
printf 'a,b\n1,2\n' >probe/t.csv
# Code nodes named like a standard module and like dcr's helper: neither
# may replace what the public script imports.
printf 'def dumps(*a, **k):\n    return "shadowed"\n' >probe/json.py
printf 'class Enclave:\n    pass\n' >probe/dcr_enclave.py
cat >probe/probe.py <<'EOF'
import importlib, json, subprocess, sys
import dcr_enclave
from dcr_enclave import Enclave

with Enclave() as e:
    import mod  # the code node, without sys.path.insert
    report = {
        "answer": mod.answer(),
        "module_file": mod.__file__,
        "json_file": json.__file__,
        "enclave_file": dcr_enclave.__file__,
        "code_on_path": [p for p in sys.path if p.startswith("/code")],
        "code_after": sys.path.index("/code") > max(i for i, p in enumerate(sys.path) if "-packages" in p),
        "paths": e.paths(),
        "read": [d.decode() for d in e.read()],
        "read_one": e.read("t.csv").decode(),
        "python": subprocess.run(["python", "-c", "import os, sys; print(os.path.realpath(sys.executable))"],
                                 capture_output=True, text=True).stdout.strip(),
        "version": sys.version_info[:2],
        "imports": {},
    }
    for name in ("numpy", "pandas", "scipy", "sklearn", "matplotlib", "seaborn", "nltk", "requests",
                 "yaml", "toml", "dateutil", "google.protobuf"):
        try:
            importlib.import_module(name)
            report["imports"][name] = "ok"
        except Exception as exc:  # noqa: BLE001
            report["imports"][name] = repr(exc)
    e.write(json.dumps(report, sort_keys=True), "report.json")
EOF
cat >probe/room.yaml <<YAML
version: 1
name: probe
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants: {carol@model.example: [upload mod, upload json, upload dcr_enclave, upload t, run p, fetch p]}
data:
  mod: {type: code, sha256: $(sha256sum probe/mod.py | cut -d' ' -f1)}
  json: {type: code, sha256: $(sha256sum probe/json.py | cut -d' ' -f1)}
  dcr_enclave: {type: code, sha256: $(sha256sum probe/dcr_enclave.py | cut -d' ' -f1)}
  t: {type: file}
compute:
  p:
    type: python
    script: probe.py
    command: [python, /code/probe.py]
    mounts: {/input/lib/mod.py: mod, /input/lib/json.py: json, /input/lib/dcr_enclave.py: dcr_enclave, /input/t.csv: t}
    limits: {time: 5m}
    logs: visible
YAML
expect 0 "create the probe room" as carol create probe/room.yaml || finish
probe=$out
expect 0 "upload the module" as carol upload probe/mod.py
expect 0 "publish the module" as carol publish "$probe" mod "$out"
for shadow in json dcr_enclave; do
	expect 0 "upload the module $shadow" as carol upload "probe/$shadow.py"
	expect 0 "publish it" as carol publish "$probe" "$shadow" "$out"
done
expect 0 "upload the data" as carol upload probe/t.csv
expect 0 "publish the data" as carol publish "$probe" t "$out"
expect 0 "run the probe with 'python'" as carol run "$probe" p --wait -o probe.zip
checks=$((checks + 1))
python3 - probe.zip <<'PY' 2>py-err || fail "the probe's report: $(cat py-err)"
import json, os, sys, zipfile
r = json.loads(zipfile.ZipFile(sys.argv[1]).read("report.json"))
want = {
    "answer": 42,
    "module_file": "/code/mod.py",
    "json_file": "/usr/lib/python3.%d/json/__init__.py" % r["version"][1],
    "enclave_file": "/opt/dcr/dcr_enclave.py",
    "code_on_path": ["/code"],
    "code_after": True,
    "paths": ["/input/t.csv"],
    "read": ["a,b\n1,2\n"],
    "read_one": "a,b\n1,2\n",
    "python": os.path.realpath("/usr/bin/python3"),
}
bad = ["%s: %r, want %r" % (k, r.get(k), v) for k, v in want.items() if r.get(k) != v]
bad += ["import %s: %s" % (k, v) for k, v in sorted(r["imports"].items()) if v != "ok"]
if r["version"][0] != 3:
    bad.append("python %r" % r["version"])
if bad:
    sys.exit("; ".join(bad))
PY

# ---- examples/secret-module end to end ----
mkdir -p ex
cp -r "$SRCDIR/examples/secret-module/." ex/
cp org-ca.pem ex/ca.pem
sed -i 's|^  platform: true$|  ca: ca.pem|' ex/room.yaml
expect 0 "create the secret-module room" as carol create ex/room.yaml || finish
room=$out
expect 0 "carol uploads her secret module" as carol upload ex/provider/secret_module.py
expect 0 "and publishes it to the code node" as carol publish "$room" secret_module "$out"
expect 0 "dave uploads the sales" as dave upload ex/sales.csv
expect 0 "and publishes them" as dave publish "$room" sales "$out"
expect 0 "erin runs the summary" as erin run "$room" summary --wait
job=$out
expect 0 "erin fetches it" as erin fetch "$job" --extract summary
checks=$((checks + 1))
[ "$(ls summary)" = summary.csv ] || fail "the result holds $(ls summary), want summary.csv alone"
checks=$((checks + 1))
[ "$(cat summary/summary.csv)" = "$(printf 'region,revenue,profit\nnorth,2550.75,790.73\nsouth,1710.75,461.90\nwest,400.00,80.00')" ] ||
	fail "the summary: $(cat summary/summary.csv)"
lacks "$(cat summary/summary.csv)" "MARGINS|import" "the module's text is not in the result"

expect 0 "dave runs the chart" as dave run "$room" chart --wait
expect 0 "dave fetches it" as dave fetch "$out" --extract chart
checks=$((checks + 1))
python3 - chart/revenue.png <<'PY' 2>py-err || fail "revenue.png: $(cat py-err)"
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
if b[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("no PNG signature: %r" % b[:8])
pos, chunks = 8, []
while pos < len(b):
    n, kind = struct.unpack(">I4s", b[pos:pos + 8])
    body, crc = b[pos + 8:pos + 8 + n], struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0]
    if zlib.crc32(kind + body) != crc:
        sys.exit("chunk %r has a bad CRC" % kind)
    chunks.append((kind, body))
    pos += 12 + n
if chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
    sys.exit("chunks %r" % [k for k, _ in chunks])
width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
if (width, height) != (400, 300) or depth != 8:
    sys.exit("IHDR %dx%d depth %d" % (width, height, depth))
raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
channels = {2: 3, 6: 4}[color]
if len(raw) != height * (1 + width * channels):
    sys.exit("image data of %d bytes for %dx%d" % (len(raw), width, height))
PY

finish
