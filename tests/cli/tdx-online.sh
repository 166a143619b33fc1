#!/bin/bash
# dcrd --attestation tdx against a folder that plays configfs-tsm (the
# fake-tsm preload gives each entry dcrd makes its attributes, and
# sgx-fake-device serve answers outblob with a synthetic TD quote over the
# inblob, signed by a test root) and a stand-in PCCS serving TDX
# collateral: dcrd derives its sealing key from the released root and its
# own measurements, fetches and caches TDX collateral, serves it; dcr
# verifies online, creates a room with an SQL and a python computation,
# and runs both (python is allowed: the whole guest is in the TEE).
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
[ -x "$SGX_FAKE_DEVICE" ] && [ -f "$FAKE_PCCS" ] && [ -f "$FAKE_TSM" ] || skip "the TDX test tools were not built"

mrtd=$(printf 'dcr tdx online test' | sha384sum | cut -c1-96)
rtmr0=$(printf 'rtmr0' | sha384sum | cut -c1-96)
expect 0 "TD folder" "$SGX_FAKE_DEVICE" init td --tdx 5 --mrtd "$mrtd" --rtmr0 "$rtmr0"
has "$out" "^mrtd $mrtd" "init reports MRTD"
"$SGX_FAKE_DEVICE" serve td 2>tsm.log &
DCRD_PIDS+=("$!")
python3 "$FAKE_PCCS" td/pccs pccs.port 2>pccs.log &
DCRD_PIDS+=("$!")
for i in $(seq 100); do [ -s pccs.port ] && break; sleep 0.05; done
pccs=http://127.0.0.1:$(cat pccs.port)
head -c 32 /dev/urandom >root.key
chmod 600 root.key
tdx_args=(--attestation tdx --tsm-dir "$TEST_TMP/td/tsm/report" --tdx-device "$TEST_TMP/td/tdx-guest"
	--tdx-sealing-key "$TEST_TMP/root.key"
	--pccs-url "$pccs" --sgx-root-crl "$pccs/sgx/certification/v4/rootcacrl")
export DCR_FAKE_TSM=$TEST_TMP/td/tsm/report DCR_FAKE_TDX=$TEST_TMP/td
fetches() { grep -c '/tdx/certification/v4/tcb?fmspc=' td/pccs/requests.log 2>/dev/null || echo 0; }

cat >specs.yaml <<YAML
version: 1
specs:
  dcrd:tdx:
    format: tdx
    mrtd: $mrtd
    rtmr0: $rtmr0
    rtmr1: $(printf '31%.0s' $(seq 48))
    rtmr2: $(printf '32%.0s' $(seq 48))
    root_ca: td/root-ca.der
  dcrd:other:
    format: tdx
    mrtd: $(printf '%096d' 0)
    rtmr0: $rtmr0
    rtmr1: $(printf '31%.0s' $(seq 48))
    rtmr2: $(printf '32%.0s' $(seq 48))
    root_ca: td/root-ca.der
YAML
export DCR_SPECS=$TEST_TMP/specs.yaml

# The tdx options need tdx; the sealing root must be given, private, 32 bytes; configfs-tsm must be there.
expect 2 "--tdx-sealing-key without tdx" "$DCRD" serve --data-dir d0 --tdx-sealing-key root.key
has "$err" "need --attestation tdx" "explained"
expect 2 "--sandbox-user with tdx is fine, --sgx-device is not" "$DCRD" serve --data-dir d0 "${tdx_args[@]}" \
	--sgx-device td/device
has "$err" "need --attestation sgx-dcap" "explained"
tdx() { timeout 120 env LD_PRELOAD="$FAKE_TSM" "$DCRD" serve --listen "127.0.0.1:$(free_port)" "$@"; }
expect 1 "tdx without a sealing root" tdx --data-dir d1 --attestation tdx --tsm-dir "$TEST_TMP/td/tsm/report"
has "$err" "needs --tdx-sealing-key FILE" "the missing root is named"
cp root.key open.key
chmod 644 open.key
expect 1 "a sealing root others can read" tdx --data-dir d2 --attestation tdx --tsm-dir "$TEST_TMP/td/tsm/report" \
	--tdx-sealing-key open.key
has "$err" "open.key" "the file is named"
head -c 16 /dev/urandom >short.key
chmod 600 short.key
expect 1 "a short sealing root" tdx --data-dir d3 --attestation tdx --tsm-dir "$TEST_TMP/td/tsm/report" \
	--tdx-sealing-key short.key
has "$err" "has 16 bytes, not 32" "the length is named"
DCR_FAKE_TSM_PROVIDER=sev_guest expect 1 "configfs-tsm of another provider" tdx --data-dir d5 --attestation tdx \
	--tsm-dir "$TEST_TMP/td/tsm/report" --tdx-device td/tdx-guest --tdx-sealing-key root.key
has "$err" "configfs-tsm provider is 'sev_guest', not 'tdx_guest'" "the provider is named"
expect 1 "no configfs-tsm" tdx --data-dir d4 --attestation tdx --tsm-dir "$TEST_TMP/none" --tdx-device td/tdx-guest \
	--tdx-sealing-key root.key
has "$err" "no configfs-tsm report interface at" "explained"
# Another writer of dcrd's configfs-tsm entry between its inblob and the outblob: refused, not used.
touch td/tsm/race
expect 1 "a concurrent writer of the configfs-tsm entry" tdx --data-dir d6 "${tdx_args[@]}"
has "$err" "was written by someone else meanwhile \(generation 0, then 2\)" "the race is named"
rm td/tsm/race

# A quote of another TD than the TDX module reports (the host's quoting service answers configfs-tsm): refused.
printf '%096d' 7 >td/state/tdreport-mrtd
expect 1 "a quote of another TD" tdx --data-dir d7 "${tdx_args[@]}"
has "$err" "the quote from configfs-tsm is not of this TD: its MRTD is not the one the TDX module reports" "explained"
rm td/state/tdreport-mrtd
expect 1 "no TDX guest device" tdx --data-dir d8 "${tdx_args[@]}" --tdx-device "$TEST_TMP/none"
has "$err" "cannot open the TDX guest device" "explained"

# dcrd spec: this TD's entry from the TDX module's report (no configfs-tsm, sealing root or collateral needed).
expect 0 "dcrd spec" env LD_PRELOAD="$FAKE_TSM" "$DCRD" spec --attestation tdx --tdx-device td/tdx-guest
has "$out" "^  dcrd:tdx:$" "the entry"
has "$out" "^    format: tdx$" "the format"
has "$out" "^    mrtd: $mrtd$" "this MRTD"
has "$out" "^    rtmr0: $rtmr0$" "this RTMR0"
has "$out" "^    rtmr2: [0-9a-f]{96}$" "and RTMR2"
lacks "$out" "rtmr3|debug" "neither RTMR3 nor debug"
{ printf '%s\n' "$out"; echo "    root_ca: td/root-ca.der"; } >own-specs.yaml
expect 0 "dcrd spec takes serve's options" env LD_PRELOAD="$FAKE_TSM" "$DCRD" spec "${tdx_args[@]}"
expect 2 "dcrd spec with another kind's option" "$DCRD" spec --attestation tdx --snp-device x
has "$err" "need --attestation sev-snp" "explained"
expect 1 "dcrd spec without the TDX guest device" "$DCRD" spec --attestation tdx --tdx-device "$TEST_TMP/none"
has "$err" "^dcrd: spec: cannot open the TDX guest device" "explained"
expect 1 "dcrd spec for sgx-dcap" "$DCRD" spec --attestation sgx-dcap
has "$err" "comes from the signed enclave" "explained"

DCRD_PRELOAD=$FAKE_TSM start_dcrd data "${tdx_args[@]}" || finish
has "$(cat "$TEST_TMP/dcrd.log")" "attestation tdx" "dcrd says it runs tdx"
lacks "$(cat "$TEST_TMP/dcrd.log")" "python computations are refused" "and that python runs"
checks=$((checks + 1))
[ "$(fetches)" = 1 ] || fail "dcrd fetched TDX collateral once at start (got $(fetches))"
[ -f data/tdx-collateral.json ] || fail "collateral cached in the data directory"
[ ! -e data/sim-sealing.key ] || fail "no sim sealing key under tdx"
has "$(cat tsm.log)" "served report" "the quote came through configfs-tsm"
checks=$((checks + 1))
[ -z "$(ls td/tsm/report)" ] || fail "dcrd removed its configfs-tsm entries ($(ls td/tsm/report))"

expect 0 "attest" "$DCR" attest
has "$out" "^spec +dcrd:tdx" "accepted by the MRTD spec"
has "$out" "^mrtd +$mrtd" "MRTD shown"
has "$out" "^rtmr0 +$rtmr0" "RTMR0 shown"
has "$out" "^tcb status +UpToDate" "TCB status shown"
lacks "$err" "simulated" "no sim warning"
expect 5 "attest for another TD" "$DCR" attest --spec dcrd:other
has "$err" "MRTD" "the mismatch is named"
expect 0 "attest by the spec dcrd printed" "$DCR" --specs own-specs.yaml attest --spec dcrd:tdx
has "$out" "^spec +dcrd:tdx" "accepted"

# A room with SQL and python: python runs in the TD's sandbox.
acme_room alice
printf 'import os\nos.makedirs("/output", exist_ok=True)\nopen("/output/r.txt", "w").write("tdx %%d\\n" %% (6 * 7))\n' >room/p.py
cat >room/room.yaml <<YAML
version: 1
name: tdx room
enclave: dcrd:tdx
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run p, fetch p, run q, fetch q]
compute:
  p: {type: python, script: p.py, output: /output}
  q: {type: sql, query: "SELECT 6 * 7 AS answer"}
YAML
as_alice() { env XDG_STATE_HOME="$TEST_TMP/alice-state" "$DCR" -i "$TEST_TMP/alice" "$@"; }
expect 0 "create a TDX room" as_alice -q create room/room.yaml
id=$out
has "$id" '^[0-9a-f]{64}$' "room ID"
expect 0 "read it" as_alice rooms "${id:0:12}"
has "$out" "^enclave +dcrd:tdx \(tdx, mrtd $mrtd\)" "the room pins this MRTD"
expect 0 "read it as JSON" as_alice --json rooms "${id:0:12}"
has "$out" "\"rtmr0\": \"$rtmr0\"" "and this RTMR0"
expect 0 "run the SQL" as_alice -q run "$id" q --wait
job=$out
expect 0 "fetch the SQL result" as_alice fetch "$job" -o q.csv
has "$(cat q.csv)" "42" "SQL result"
if sandbox_works; then
	expect 0 "run the python" as_alice -q run "$id" p --wait
	job=$out
	expect 0 "fetch the python result" as_alice fetch "$job" --extract pout
	has "$(cat pout/r.txt)" "^tdx 42$" "python result"
fi

# A restart: the same sealing root and measurements unseal the state; another root does not.
stop_dcrd
DCRD_PRELOAD=$FAKE_TSM start_dcrd data "${tdx_args[@]}" || finish
expect 0 "the room survives a restart" as_alice rooms "${id:0:12}"
stop_dcrd
head -c 32 /dev/urandom >other.key
chmod 600 other.key
expect 1 "another sealing root" env LD_PRELOAD="$FAKE_TSM" "$DCRD" serve --data-dir data \
	"${tdx_args[@]/root.key/other.key}" --listen "127.0.0.1:$(free_port)"
has "$err" "sealing key" "the sealing key is blamed"
finish
