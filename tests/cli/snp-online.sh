#!/bin/bash
# dcrd --attestation sev-snp against a folder that plays the guest's
# configfs-tsm (the fake-tsm preload gives each entry dcrd makes its
# attributes; snp-fake-guest serve answers with reports over whatever report
# data dcrd writes, signed by a test VCEK under a test ARK), a preloaded
# library that answers /dev/sev-guest's report and derived-key ioctls as
# the driver and firmware would, and a stand-in for AMD's KDS:
# dcrd seals with the derived key, serves the report with the VCEK chain
# (from the host's table, or fetched from the KDS and cached), dcr verifies
# online, creates a room and runs a SQL and a python job in it; another
# measurement or policy cannot unseal the state. The same through
# /dev/sev-guest alone; host certificate tables that do not fit or do not
# parse; a concurrent writer of the configfs-tsm entry; `dcrd spec`.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
[ -x "$SNP_FAKE_GUEST" ] && [ -f "$SNP_FAKE_IOCTL" ] && [ -f "$FAKE_TSM" ] || skip "the SEV-SNP test tools were not built"

measurement=$(printf 'dcr sev-snp online test' | sha384sum | cut -c1-96)
expect 0 "guest folder" "$SNP_FAKE_GUEST" init g --measurement "$measurement"
has "$out" "^measurement $measurement" "init reports the measurement"
"$SNP_FAKE_GUEST" serve g 2>guest.log &
DCRD_PIDS+=("$!")
# The KDS: the files init laid out, over HTTP on a free loopback port.
python3 - g/kds kds.port 2>kds.log <<'PY' &
import functools, http.server, os, sys
root, port_file = sys.argv[1], sys.argv[2]
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(root, "requests.log"), "a") as f:
            f.write(self.path + "\n")
        if os.path.exists(os.path.join(root, "fail")):
            self.send_error(503)
            return
        super().do_GET()
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=root))
with open(port_file + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(port_file + ".tmp", port_file)
s.serve_forever()
PY
DCRD_PIDS+=("$!")
for _ in $(seq 100); do [ -s kds.port ] && break; sleep 0.05; done
kds=http://127.0.0.1:$(cat kds.port)
snp_args=(--attestation sev-snp --tsm-dir "$TEST_TMP/g/tsm" --snp-device "$TEST_TMP/g/device" --kds-url "$kds")
export DCR_TEST_SNP_DIR=$TEST_TMP/g
export DCR_FAKE_TSM=$TEST_TMP/g/tsm
export DCR_FAKE_TSM_PROVIDER=sev_guest
export DCRD_PRELOAD="$SNP_FAKE_IOCTL $FAKE_TSM"

cat >specs.yaml <<YAML
version: 1
specs:
  dcrd:snp:
    format: sev-snp
    measurement: $measurement
    min_tcb: {bootloader: 3, tee: 0, snp: 8, microcode: 115}
    root_ca: g/ark.pem
  dcrd:other:
    format: sev-snp
    measurement: $(printf '%096d' 1)
    min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}
    root_ca: g/ark.pem
  dcrd:newer:
    format: sev-snp
    measurement: $measurement
    min_tcb: {bootloader: 0, tee: 0, snp: 9, microcode: 0}
    root_ca: g/ark.pem
YAML
export DCR_SPECS=$TEST_TMP/specs.yaml

# The sev-snp options need sev-snp.
expect 2 "--kds-url without sev-snp" "$DCRD" serve --data-dir d0 --kds-url "$kds"
has "$err" "sev-snp" "explained"

# configfs-tsm checks its entry's generation: a second writer meanwhile is refused.
touch g/race
expect 1 "a concurrent writer of the configfs-tsm entry" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve \
	--data-dir raced --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "was written by someone else meanwhile \(generation 0, then 2\)" "the race is named"
rm g/race
DCR_FAKE_TSM_PROVIDER=tdx_guest expect 1 "configfs-tsm of another provider" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" \
	serve --data-dir other --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "configfs-tsm provider is 'tdx_guest', not 'sev_guest'" "the provider is named"

# A host that writes snp-sealing-tcb before the first start does not choose the sealing TCB.
mkdir -m 700 data && printf '0000000000000000\n' >data/snp-sealing-tcb
start_dcrd data "${snp_args[@]}" || finish
[ "$(cat data/snp-sealing-tcb)" = "$(cat g/state/tcb)" ] || fail "the sealing TCB is the committed one, not the host's"
checks=$((checks + 1))
has "$(cat "$TEST_TMP/dcrd.log")" "attestation sev-snp" "dcrd says it runs sev-snp"
has "$(cat guest.log)" "served report" "the report came through configfs-tsm"
checks=$((checks + 1))
[ -z "$(ls g/tsm)" ] || fail "dcrd removed its configfs-tsm entries ($(ls g/tsm))"
lacks "$(cat "$TEST_TMP/dcrd.log")" "python computations" "and does not refuse python"
[ -s data/snp-sealing-tcb ] || fail "the sealing TCB is recorded"
checks=$((checks + 1))
[ ! -e data/sim-sealing.key ] || fail "no sim sealing key under sev-snp"
checks=$((checks + 1))

# Online verification: the report, the chain from the host's table, the policy, the key binding.
expect 0 "attest" "$DCR" attest
has "$out" "^spec +dcrd:snp" "accepted by the spec"
has "$out" "$measurement" "MEASUREMENT shown"
lacks "$err" "simulated" "no sim warning"
expect 0 "attest --json" "$DCR" --json attest
has "$out" '"simulated": false' "JSON: not simulated"
has "$out" '"crl_checked": true' "JSON: AMD's CRL, fetched by dcrd, was checked"
[ "$(grep -c '^/vcek/v1/Milan/crl$' g/kds/requests.log)" = 1 ] || fail "the CRL was fetched once"
checks=$((checks + 1))
ls data/snp-crl-vcek-Milan.der >/dev/null 2>&1 || fail "the CRL is cached"
checks=$((checks + 1))
has "$out" '"product": "Milan"' "JSON: the product"
expect 5 "attest for other code" "$DCR" attest --spec dcrd:other
has "$err" "MEASUREMENT" "the mismatch is named"
expect 5 "a TCB below the spec's minimum" "$DCR" attest --spec dcrd:newer
has "$err" "SNP firmware SPL 8 is below" "the TCB is named"
openssl req -x509 -newkey rsa:2048 -nodes -keyout evil.key -out evil.pem -days 2 -subj /CN=ARK-Milan \
	-sigopt rsa_padding_mode:pss -sha384 >/dev/null 2>&1 || fail "evil root"
sed "s#g/ark.pem#evil.pem#" specs.yaml >evil-specs.yaml
expect 5 "another ARK" "$DCR" --specs evil-specs.yaml attest --spec dcrd:snp
has "$err" "ARK" "the ARK is named"

# Rooms work over the SEV-SNP channel, python computations too: the sandbox runs inside the guest.
acme_room alice
printf 'import json\njson.dump({"answer": 6 * 7}, open("/output/answer.json", "w"))\n' >room/p.py
cat >room/room.yaml <<YAML
version: 1
name: snp room
enclave: dcrd:snp
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run q, fetch q, run p, fetch p, stop]
compute:
  q: {type: sql, query: SELECT 6 * 7 AS answer}
  p: {type: python, script: p.py}
YAML
sandbox_works || without_python room/room.yaml
as_alice() { env XDG_STATE_HOME="$TEST_TMP/alice-state" "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
expect 0 "create an SEV-SNP room" as_alice create room/room.yaml || finish
id=$out
has "$id" '^[0-9a-f]{64}$' "room ID"
expect 0 "read it" as_alice --json rooms "${id:0:12}"
has "$out" "$measurement" "the room pins this MEASUREMENT"
expect 0 "run the SQL job" as_alice run "$id" q --wait -o q.csv
has "$(cat q.csv)" "^42" "the SQL answer"
if sandbox_works; then
	expect 0 "run the python job" as_alice run "$id" p --wait -o p.zip
	has "$(unzip -p p.zip answer.json 2>&1)" '"answer": 42' "the python answer, computed in the guest"
fi
sed 's/^enclave: .*/enclave: dcrd:other/' room/room.yaml >room/other.yaml
expect 5 "no room for other code" as_alice create room/other.yaml
has "$err" "is not the one spec 'dcrd:other' pins" "other code explained"

# A restart: same keys (sealed with the derived key).
keys() { "$DCR" --json attest | grep -E '"(hpke|signing)_key"'; }
before=$(keys)
port=$DCRD_PORT
stop_dcrd
DCRD_PORT_WANTED=$port start_dcrd data "${snp_args[@]}" || finish
[ -n "$before" ] && [ "$(keys)" = "$before" ] || fail "same enclave keys after a restart"
checks=$((checks + 1))
expect 0 "the room survives the restart" as_alice rooms "${id:0:12}"
stop_dcrd

# Another measurement, or the same image with debugging allowed: another derived key, the state stays shut.
cp g/state/measurement measurement.bak
printf '%096d' 2 >g/state/measurement
expect 1 "another measurement's key" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve --data-dir data --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "enclave-keys" "the sealed file is named"
cp measurement.bak g/state/measurement
echo 00000000000b0000 >g/state/policy
expect 1 "a debuggable launch's key" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve --data-dir data --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "enclave-keys" "the sealed file is named"
echo 0000000000030000 >g/state/policy
# A sealing TCB below the recorded one derives another key; one above the committed TCB the firmware refuses.
cp data/snp-sealing-tcb tcb.bak
echo 7307000000000003 >data/snp-sealing-tcb
expect 1 "a lower sealing TCB" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve --data-dir data --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "enclave-keys" "the sealed file is named"
echo 7409000000000003 >data/snp-sealing-tcb
expect 1 "a TCB above the committed one" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve --data-dir data --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "SNP_GET_DERIVED_KEY" "the refused request is named"
cp tcb.bak data/snp-sealing-tcb

# No certificates from the host: the VCEK and ASK come from the KDS, once, then from the cache.
echo kds >g/state/certs
start_dcrd kdsdata "${snp_args[@]}" || finish
expect 0 "attest with the KDS's VCEK" "$DCR" attest
[ "$(grep -c '^/vcek/v1/Milan/c0c1' g/kds/requests.log)" = 1 ] || fail "the VCEK was fetched once"
checks=$((checks + 1))
has "$(cat g/kds/requests.log)" 'blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115' "asked for the report's TCB"
ls kdsdata/snp-vcek-*.der >/dev/null 2>&1 || fail "the VCEK is cached"
checks=$((checks + 1))
port=$DCRD_PORT
stop_dcrd
touch g/kds/fail
DCRD_PORT_WANTED=$port start_dcrd kdsdata "${snp_args[@]}" || finish
expect 0 "attest with the cached VCEK, KDS down" "$DCR" attest
stop_dcrd
expect 1 "no cache, KDS down" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve --data-dir fresh --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "AMD KDS" "the KDS is named"
rm g/kds/fail
echo host >g/state/certs

# AMD revokes the ASK: the CRL dcrd serves says so and clients refuse.
cp g/kds/vcek/v1/Milan/crl crl.bak
cp g/kds/vcek/v1/Milan/crl-revoked g/kds/vcek/v1/Milan/crl
start_dcrd revdata "${snp_args[@]}" || finish
expect 5 "attest with the ASK revoked" "$DCR" attest
has "$err" "the ASK is revoked by AMD's CRL" "the revocation is named"
stop_dcrd
cp crl.bak g/kds/vcek/v1/Milan/crl

# AMD's CRL is renewed while dcrd runs, from an hour before its nextUpdate: dcrd's clock (fake-clock.c)
# is moved on instead of waiting. A KDS that is down leaves the old one served, with one attempt per five
# minutes; a later CRL replaces it; a renewed CRL that revokes the ASK makes clients refuse dcrd.
crl_fetches() { grep -c '^/vcek/v1/Milan/crl$' g/kds/requests.log; }
# clock_before FILE SECONDS: dcrd's clock to SECONDS before the nextUpdate of the CRL in FILE.
clock_before() {
	local next
	next=$(date -d "$(openssl crl -inform DER -in "$1" -noout -nextupdate | cut -d= -f2)" +%s) ||
		fail "no nextUpdate in $1"
	echo $(((next - $2 - $(date +%s)) * 1000)) >clock.tmp && mv clock.tmp clock
}
echo 0 >clock
fetched=$(crl_fetches)
DCR_TEST_CLOCK_FILE=$TEST_TMP/clock DCRD_PRELOAD="$DCRD_PRELOAD $FAKE_CLOCK" start_dcrd renewdata "${snp_args[@]}" || finish
expect 0 "attest with the CRL fetched at start" "$DCR" attest
expect 0 "attest again" "$DCR" attest
[ "$(crl_fetches)" = $((fetched + 1)) ] || fail "the CRL was fetched once while current, not $(($(crl_fetches) - fetched)) times"
checks=$((checks + 1))
"$SNP_FAKE_GUEST" crl g 60 later.crl || fail "a later CRL"
cp later.crl g/kds/vcek/v1/Milan/crl
clock_before renewdata/snp-crl-vcek-Milan.der 1800
touch g/kds/fail
logged=$(grep -c "cannot renew AMD's CRL, serving the cached one: AMD KDS" dcrd.log)
expect 0 "attest half an hour before the CRL's nextUpdate, the KDS down" "$DCR" attest
checks=$((checks + 1))
[ "$(grep -c "cannot renew AMD's CRL, serving the cached one: AMD KDS" dcrd.log)" = $((logged + 1)) ] ||
	fail "the failure to renew is logged once: $(tail -3 dcrd.log)"
checks=$((checks + 1))
cmp -s renewdata/snp-crl-vcek-Milan.der crl.bak || fail "the cached CRL stays while the KDS is down"
rm g/kds/fail
expect 0 "attest right after the failed attempt" "$DCR" attest
checks=$((checks + 1))
[ "$(crl_fetches)" = $((fetched + 2)) ] ||
	fail "the KDS was asked $(($(crl_fetches) - fetched)) times, not once at start and once half an hour before"
clock_before renewdata/snp-crl-vcek-Milan.der 1200
expect 0 "attest ten minutes later" "$DCR" attest
checks=$((checks + 1))
[ "$(crl_fetches)" = $((fetched + 3)) ] || fail "the CRL was not fetched again ($(($(crl_fetches) - fetched)) fetches)"
checks=$((checks + 1))
cmp -s renewdata/snp-crl-vcek-Milan.der later.crl || fail "the later CRL is not the one cached"
expect 0 "attest with the later CRL" "$DCR" attest
checks=$((checks + 1))
[ "$(crl_fetches)" = $((fetched + 3)) ] || fail "the KDS was asked $(($(crl_fetches) - fetched)) times, not 3"
"$SNP_FAKE_GUEST" crl g 90 --revoke-ask g/kds/vcek/v1/Milan/crl || fail "a later CRL revoking the ASK"
clock_before later.crl 1800
expect 5 "attest once the renewed CRL revokes the ASK" "$DCR" attest
has "$err" "the ASK is revoked by AMD's CRL" "the revocation is named"
stop_dcrd
cp crl.bak g/kds/vcek/v1/Milan/crl
rm clock

# Without configfs-tsm: reports through /dev/sev-guest (SNP_GET_EXT_REPORT), the host's table with them.
dev_args=(--attestation sev-snp --tsm-dir "$TEST_TMP/no-tsm" --snp-device "$TEST_TMP/g/device" --kds-url "$kds")
served=$(grep -c "served report" guest.log)
start_dcrd devdata "${dev_args[@]}" || finish
expect 0 "attest, the report from /dev/sev-guest" "$DCR" attest
has "$out" "^spec +dcrd:snp" "accepted by the spec"
checks=$((checks + 1))
[ "$(grep -c "served report" guest.log)" = "$served" ] || fail "no report came through configfs-tsm"
stop_dcrd
# No table from the host through the device: the VCEK from the KDS.
echo kds >g/state/certs
start_dcrd devkds "${dev_args[@]}" || finish
expect 0 "attest, /dev/sev-guest without the host's certificates" "$DCR" attest
ls devkds/snp-vcek-*.der >/dev/null 2>&1 || fail "the VCEK came from the KDS"
checks=$((checks + 1))
stop_dcrd
# A table more than the driver's 16 KiB: the size is named. A table that does not parse: refused, on both paths.
echo big >g/state/certs
expect 1 "a host table too big for /dev/sev-guest" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve --data-dir devbig \
	--listen "127.0.0.1:$(free_port)" "${dev_args[@]}"
has "$err" "the host's certificate table needs 20480 bytes, more than the 16384 the guest driver takes" "the sizes named"
echo malformed >g/state/certs
expect 1 "a malformed host table from /dev/sev-guest" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve \
	--data-dir devbad --listen "127.0.0.1:$(free_port)" "${dev_args[@]}"
has "$err" "the host's certificates: " "the table is blamed"
expect 1 "a malformed host table from configfs-tsm" timeout 120 env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" serve \
	--data-dir tsmbad --listen "127.0.0.1:$(free_port)" "${snp_args[@]}"
has "$err" "the host's certificates: " "the table is blamed"
echo host >g/state/certs

# dcrd spec: this guest's entry from a fresh report, through either path; with the ARK added, dcr accepts dcrd by it.
expect 0 "dcrd spec through configfs-tsm" env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" spec "${snp_args[@]}"
spec=$out
has "$spec" "^    format: sev-snp$" "the format"
has "$spec" "^    measurement: $measurement$" "this MEASUREMENT"
has "$spec" "^    policy_allow: \[smt\]$" "the weakening policy bits it runs with"
has "$spec" "^    min_tcb: \{bootloader: 3, tee: 0, snp: 8, microcode: 115\}$" "its REPORTED_TCB as the minimum"
lacks "$spec" "WARNING" "no debug warning"
expect 0 "dcrd spec through /dev/sev-guest" env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" spec "${dev_args[@]}"
[ "$out" = "$spec" ] || fail "the same spec through /dev/sev-guest"
checks=$((checks + 1))
{ printf '%s\n' "$spec"; echo "    root_ca: g/ark.pem"; } >own-specs.yaml
start_dcrd specdata "${snp_args[@]}" || finish
expect 0 "attest by the spec dcrd printed" "$DCR" --specs own-specs.yaml attest --spec dcrd:snp
has "$out" "^spec +dcrd:snp" "accepted"
stop_dcrd
echo 00000000000b0000 >g/state/policy
expect 0 "dcrd spec of a debuggable guest" env LD_PRELOAD="$DCRD_PRELOAD" "$DCRD" spec "${snp_args[@]}"
has "$out" "^    policy_allow: \[smt, debug\]$" "debug allowed"
has "$out" "WARNING: this guest's policy allows DEBUG" "loudly"
echo 0000000000030000 >g/state/policy
expect 2 "dcrd spec with another kind's option" "$DCRD" spec --attestation sev-snp --tdx-sealing-key x
has "$err" "need --attestation tdx" "explained"
expect 1 "dcrd spec without a guest" env LD_PRELOAD= "$DCRD" spec --attestation sev-snp --tsm-dir "$TEST_TMP/nowhere" \
	--snp-device "$TEST_TMP/nowhere/sev-guest"
has "$err" "^dcrd: spec: .*nowhere/sev-guest" "the device is named"

# No guest interface: a clear error.
expect 1 "no device" env LD_PRELOAD= "$DCRD" serve --data-dir fresh2 --listen "127.0.0.1:$(free_port)" \
	--attestation sev-snp --tsm-dir "$TEST_TMP/nowhere" --snp-device "$TEST_TMP/nowhere/sev-guest"
has "$err" "nowhere" "the device path is named"

finish
