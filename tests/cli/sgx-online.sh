#!/bin/bash
# dcrd --attestation sgx-dcap against a folder that plays Gramine's
# /dev/attestation (a synthetic quote over whatever report data dcrd writes,
# signed by a test root) and a stand-in PCCS: dcrd seals with the device's
# key, fetches and caches collateral, serves it; dcr verifies online, creates
# and reads a room; policy, root, restarts, outages and a changed enclave.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
[ -x "$SGX_FAKE_DEVICE" ] && [ -f "$FAKE_PCCS" ] || skip "the SGX test tools were not built"

mrenclave=$(printf 'dcr sgx online test' | sha256sum | cut -c1-64)
other=$(printf 'other code' | sha256sum | cut -c1-64)
expect 0 "device folder" "$SGX_FAKE_DEVICE" init dev --mrenclave "$mrenclave"
has "$out" "^mrenclave $mrenclave" "init reports MRENCLAVE"
mrsigner=$(sed -n 's/^mrsigner //p' <<<"$out")
has "$mrsigner" '^[0-9a-f]{64}$' "init reports MRSIGNER"
"$SGX_FAKE_DEVICE" serve dev 2>device.log &
DCRD_PIDS+=("$!")
python3 "$FAKE_PCCS" dev/pccs pccs.port 2>pccs.log &
DCRD_PIDS+=("$!")
for i in $(seq 100); do [ -s pccs.port ] && break; sleep 0.05; done
pccs=http://127.0.0.1:$(cat pccs.port)
sgx_args=(--attestation sgx-dcap --sgx-device "$TEST_TMP/dev/device" --pccs-url "$pccs"
	--sgx-root-crl "$pccs/sgx/certification/v4/rootcacrl")
fetches() { grep -c 'tcb?fmspc=' dev/pccs/requests.log 2>/dev/null || echo 0; }

cat >specs.yaml <<YAML
version: 1
specs:
  dcrd:v1:
    format: sgx-dcap
    mrenclave: $mrenclave
    root_ca: dev/root-ca.der
  dcrd:other:
    format: sgx-dcap
    mrenclave: $other
    root_ca: dev/root-ca.der
  dcrd:signer:
    format: sgx-dcap
    mrsigner: $mrsigner
    isvprodid: 0
    root_ca: dev/root-ca.der
  dcrd:noroot:
    format: sgx-dcap
    mrenclave: $mrenclave
YAML
export DCR_SPECS=$TEST_TMP/specs.yaml

# The sgx options need sgx-dcap.
expect 2 "--pccs-url without sgx-dcap" "$DCRD" serve --data-dir d0 --pccs-url "$pccs"
has "$err" "need --attestation sgx-dcap" "explained"

expect 2 "--sandbox-user with sgx-dcap" "$DCRD" serve --data-dir d0 "${sgx_args[@]}" --sandbox-user 12345
has "$err" "which --attestation sgx-dcap refuses" "explained"

start_dcrd data "${sgx_args[@]}" || finish
has "$(cat "$TEST_TMP/dcrd.log")" "attestation sgx-dcap" "dcrd says it runs sgx-dcap"
has "$(cat "$TEST_TMP/dcrd.log")" "python computations are refused: dcrd runs in an SGX enclave" "and that it runs no python"
checks=$((checks + 1))
[ "$(fetches)" = 1 ] || fail "dcrd fetched collateral once at start (got $(fetches))"
[ -f data/sgx-collateral.json ] || fail "collateral cached in the data directory"
[ ! -e data/sim-sealing.key ] || fail "no sim sealing key under sgx-dcap"
has "$(curl -fsS "$DCR_ENDPOINT/metrics")" 'attestation="sgx-dcap"' "metrics name the attestation"

# Online verification: the quote, the collateral, the policy, the key binding.
expect 0 "attest" "$DCR" attest
has "$out" "^spec +dcrd:v1" "accepted by the MRENCLAVE spec"
has "$out" "^mrenclave +$mrenclave" "MRENCLAVE shown"
has "$out" "^tcb status +UpToDate" "TCB status shown"
lacks "$err" "simulated" "no sim warning"
expect 0 "attest --json" "$DCR" --json attest
has "$out" '"tcb_status": "UpToDate"' "JSON has the TCB status"
has "$out" '"simulated": false' "JSON: not simulated"
expect 0 "attest by signer" "$DCR" attest --spec dcrd:signer
has "$out" "^spec +dcrd:signer" "MRSIGNER spec accepts"
expect 5 "attest for other code" "$DCR" attest --spec dcrd:other
has "$err" "MRENCLAVE" "the mismatch is named"
expect 5 "spec without root_ca" "$DCR" attest --spec dcrd:noroot
has "$err" "no root_ca" "missing root explained"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key -out evil.pem -days 2 \
	-subj "/CN=Intel SGX Root CA" >/dev/null 2>&1 || fail "evil root"
sed "s#dev/root-ca.der#evil.pem#" specs.yaml >evil-specs.yaml
expect 5 "another root" "$DCR" --specs evil-specs.yaml attest --spec dcrd:v1
cat >sim-specs.yaml <<YAML
version: 1
specs:
  dcrd:sim:
    format: sim
    measurement: $mrenclave
YAML
expect 5 "sim specs do not accept sgx evidence" "$DCR" --specs sim-specs.yaml attest
has "$err" "SGX DCAP" "format mismatch explained"
cat >strict-specs.yaml <<YAML
version: 1
specs:
  dcrd:v1:
    format: sgx-dcap
    mrenclave: $mrenclave
    root_ca: dev/root-ca.der
    tcb_statuses: [OutOfDate]
YAML
expect 5 "TCB status outside the policy" "$DCR" --specs strict-specs.yaml attest
has "$err" "UpToDate" "status named"

# Rooms work over the SGX channel; dcrd checks the spec describes itself.
make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir room && cp acme-ca.pem room/ca.pem
for spec in dcrd:v1 dcrd:other; do
	cat >"room/${spec#dcrd:}.yaml" <<YAML
version: 1
name: sgx room
enclave: $spec
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop]
YAML
done
as_alice() { env XDG_STATE_HOME="$TEST_TMP/alice-state" "$DCR" -i "$TEST_TMP/alice" "$@"; }
expect 0 "create an SGX room" as_alice --json create room/v1.yaml
id=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$out")
has "$id" '^[0-9a-f]{64}$' "room ID"
expect 0 "list it" as_alice rooms
has "$out" "sgx room" "listed"
expect 0 "read it" as_alice --json rooms "${id:0:12}"
has "$out" "$mrenclave" "the room pins this MRENCLAVE"
# No python under SGX: Gramine has no namespaces or process isolation for the sandbox.
cp room/v1.yaml room/python.yaml
printf 'print(1)\n' >room/p.py
cat >>room/python.yaml <<'YAML'
compute:
  p: {type: python, script: p.py}
YAML
sed -i 's/\[stop\]/[stop, run p]/' room/python.yaml
expect 6 "a room with python is refused under SGX" as_alice create room/python.yaml
has "$err" "computation 'p' is python, which this dcrd refuses: it runs in an SGX enclave" "the reason is given"
expect 0 "dry run for other code" as_alice create --dry-run room/other.yaml
expect 5 "no room for other code" as_alice create room/other.yaml
has "$err" "is not the one spec 'dcrd:other' pins" "other code explained"

# A restart: same keys (sealed with the device key), cached collateral reused.
keys() { "$DCR" --json attest | grep -E '"(hpke|signing)_key"'; }
before=$(keys)
port=$DCRD_PORT
stop_dcrd
DCRD_PORT_WANTED=$port start_dcrd data "${sgx_args[@]}" || finish
[ "$(fetches)" = 1 ] || fail "fresh cached collateral is reused after a restart (fetches: $(fetches))"
checks=$((checks + 1))
[ -n "$before" ] && [ "$(keys)" = "$before" ] || fail "same enclave keys after a restart"
expect 0 "the room survives the restart" as_alice rooms "${id:0:12}"

# PCCS down: a fresh cache still starts; so does a cache due for renewal
# while it is still valid (logged); without a cache dcrd says why.
touch dev/pccs/fail
stop_dcrd
DCRD_PORT_WANTED=$port start_dcrd data "${sgx_args[@]}" || finish
expect 0 "attest with the cached collateral" "$DCR" attest
stop_dcrd
touch -d '2 days ago' data/sgx-collateral.json
DCRD_PORT_WANTED=$port start_dcrd data "${sgx_args[@]}" || finish
expect 0 "attest with an old but valid cache" "$DCR" attest
has "$(cat "$TEST_TMP/dcrd.log")" "serving the cached one: .*503" "the failed renewal is logged"
stop_dcrd
rm data/sgx-collateral.json
expect 1 "no collateral, PCCS down" "$DCRD" serve --data-dir data --listen "127.0.0.1:$(free_port)" "${sgx_args[@]}"
has "$err" "cannot obtain SGX collateral" "explained"
has "$err" "503" "the PCCS answer is named"
rm dev/pccs/fail

# Another enclave build (another sealing key) cannot open this data directory.
cp dev/device/keys/_sgx_mrenclave sealing.bak
head -c 16 /dev/urandom >dev/device/keys/_sgx_mrenclave
expect 1 "another enclave's sealing key" "$DCRD" serve --data-dir data --listen "127.0.0.1:$(free_port)" "${sgx_args[@]}"
has "$err" "enclave-keys" "the sealed file is named"
cp sealing.bak dev/device/keys/_sgx_mrenclave

# dcr attests against the room's spec before creating it: a debug enclave
# for a spec that refuses debug, a signer spec asking for a higher SVN.
expect 0 "debug device" "$SGX_FAKE_DEVICE" init dbg --mrenclave "$mrenclave" --debug
dbg_signer=$(sed -n 's/^mrsigner //p' <<<"$out")
"$SGX_FAKE_DEVICE" serve dbg 2>dbg.log &
DCRD_PIDS+=("$!")
python3 "$FAKE_PCCS" dbg/pccs dbg-pccs.port 2>>pccs.log &
DCRD_PIDS+=("$!")
for i in $(seq 100); do [ -s dbg-pccs.port ] && break; sleep 0.05; done
dpccs=http://127.0.0.1:$(cat dbg-pccs.port)
start_dcrd dbgdata --attestation sgx-dcap --sgx-device "$TEST_TMP/dbg/device" --pccs-url "$dpccs" \
	--sgx-root-crl "$dpccs/sgx/certification/v4/rootcacrl" || finish
has "$(cat "$TEST_TMP/dcrd.log")" "DEBUG enclave, NO protection" "dcrd warns it is a debug enclave"
cat >dbg-specs.yaml <<YAML
version: 1
specs:
  dcrd:debug:
    format: sgx-dcap
    mrenclave: $mrenclave
    debug: true
    root_ca: dbg/root-ca.der
  dcrd:nodebug:
    format: sgx-dcap
    mrenclave: $mrenclave
    root_ca: dbg/root-ca.der
  dcrd:newer:
    format: sgx-dcap
    mrsigner: $dbg_signer
    isvprodid: 0
    min_isvsvn: 3
    debug: true
    root_ca: dbg/root-ca.der
YAML
expect 0 "a debug-allowing spec accepts it" "$DCR" --specs dbg-specs.yaml attest --spec dcrd:debug
has "$out" "^debug +yes" "debug shown"
expect 5 "a spec refusing debug rejects it" "$DCR" --specs dbg-specs.yaml attest --spec dcrd:nodebug
has "$err" "debug" "debug named"
sed "s/^enclave: .*/enclave: dcrd:nodebug/" room/v1.yaml >room/dbg-nodebug.yaml
expect 5 "no room for a spec refusing debug" as_alice --specs dbg-specs.yaml create room/dbg-nodebug.yaml
has "$err" "debug mode" "debug named"
sed "s/^enclave: .*/enclave: dcrd:newer/" room/v1.yaml >room/dbg-newer.yaml
expect 5 "no room for a spec asking a higher SVN" as_alice --specs dbg-specs.yaml create room/dbg-newer.yaml
has "$err" "ISVSVN 0 is below spec 'dcrd:newer''s minimum 3" "the SVN is named"
sed "s/^enclave: .*/enclave: dcrd:debug/" room/v1.yaml >room/dbg-debug.yaml
expect 0 "a room for the debug-allowing spec" as_alice --specs dbg-specs.yaml create room/dbg-debug.yaml
stop_dcrd

# No device: a clear error, nothing half-created.
expect 1 "no device" "$DCRD" serve --data-dir fresh --listen "127.0.0.1:$(free_port)" --attestation sgx-dcap \
	--sgx-device "$TEST_TMP/nowhere" --pccs-url "$pccs"
has "$err" "nowhere" "the device path is named"

# The Gramine manifest template renders to valid TOML with the essentials.
python3 - "$SRCDIR/examples/gramine/dcrd.manifest.template" <<'PY' || fail "manifest template"
import re, sys, tomllib
values = {"gramine.libos": "/usr/lib/x86_64-linux-gnu/gramine/libsysdb.so",
          "gramine.runtimedir()": "/usr/lib/x86_64-linux-gnu/gramine/runtime/glibc",
          "arch_libdir": "/lib/x86_64-linux-gnu", "dcrd": "/usr/bin/dcrd", "data_dir": "/var/lib/dcrd",
          "listen": "0.0.0.0:7443", "pccs_url": "https://localhost:8081"}
text = re.sub(r"\{\{\s*(.*?)\s*\}\}", lambda m: values[m.group(1)], open(sys.argv[1]).read())
m = tomllib.loads(text)
assert m["sgx"]["remote_attestation"] == "dcap", "dcap attestation"
assert m["sgx"]["debug"] is False, "not a debug enclave"
argv = m["loader"]["argv"]
assert argv[:2] == ["dcrd", "serve"] and "sgx-dcap" in argv and "/dev/attestation" in argv, argv
assert "file:/usr/bin/dcrd" in m["sgx"]["trusted_files"], "dcrd is measured"
# DuckDB, which dcrd loads by its RUNPATH: measured, mounted, and never an allowed (unmeasured) file.
assert "file:/usr/local/lib/dcr-duckdb/libduckdb.so" in m["sgx"]["trusted_files"], "libduckdb is measured"
assert any(x["path"] == "/usr/local/lib/dcr-duckdb" for x in m["fs"]["mounts"]), "libduckdb mount"
assert not any("duckdb" in f for f in m["sgx"].get("allowed_files", [])), "libduckdb is not an allowed file"
assert any(x["path"] == "/data" for x in m["fs"]["mounts"]), "data mount"
PY
checks=$((checks + 1))

finish
