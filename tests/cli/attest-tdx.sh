#!/bin/bash
# dcr attest offline for Intel TDX: a synthetic TD quote from a test root
# (every fact and verdict), and the real TDX quote in ../shared/testdata
# (genuine, but from a platform below every TCB level of its collateral).
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
mrtd=$(printf 'ab%.0s' $(seq 48))
rtmr0=$(printf '01%.0s' $(seq 48))
out=$("$SGX_FAKE_DEVICE" init td --tdx 5 --mrtd "$mrtd" --rtmr0 "$rtmr0" --days 30) || fail "sgx-fake-device init --tdx"
has "$out" "^mrtd $mrtd$" "init names the MRTD"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
offline=(attest --evidence td/quote.bin --collateral td/collateral.json --root-ca td/root-ca.der)

cat >accept.yaml <<YAML
version: 1
specs:
  td:v1:
    format: tdx
    mrtd: "$mrtd"
    rtmr0: "$rtmr0"
    rtmr1: "$(printf '31%.0s' $(seq 48))"
    rtmr2: "$(printf '32%.0s' $(seq 48))"
YAML
expect 0 "synthetic TD quote" "$DCR" --specs accept.yaml "${offline[@]}" --at "$now"
has "$out" '^format       tdx$' "format"
has "$out" '^quote        version 5, TDX 1.5 TD report$' "quote version and body"
has "$out" "^mrtd         $mrtd$" "MRTD"
has "$out" "^rtmr0        $rtmr0$" "RTMR0"
has "$out" "^rtmr3        (33){48}$" "RTMR3"
has "$out" '^mrconfigid   (c0){48}$' "MRCONFIGID"
has "$out" '^mrowner      (0a){48}$' "MROWNER"
has "$out" '^mrownerconfig (0c){48}$' "MROWNERCONFIG"
has "$out" '^mrseam       (5e){48}$' "MRSEAM"
has "$out" '^attributes   0000001000000000$' "TD_ATTRIBUTES"
has "$out" '^debug        no$' "debug"
has "$out" '^xfam         e71e060000000000$' "XFAM"
has "$out" '^report data  0{128}$' "report data"
has "$out" '^tcb status   UpToDate$' "TCB status"
has "$out" '^advisories   INTEL-SA-00615$' "advisories"
has "$out" '^verdict      accepted by spec td:v1$' "verdict"
expect 0 "--json" "$DCR" --specs accept.yaml --json "${offline[@]}" --at "$now"
has "$out" '"format": "tdx"' "JSON format"
has "$out" "\"mrtd\": \"$mrtd\"" "JSON MRTD"
has "$out" '"verdict": "accepted by spec td:v1"' "JSON verdict"

# The policy: another MRTD, another pinned RTMR, no tdx spec.
sed "s/mrtd: \"$mrtd\"/mrtd: \"$(printf '%096d' 0)\"/" accept.yaml >other.yaml
expect 5 "another MRTD" "$DCR" --specs other.yaml "${offline[@]}" --at "$now"
has "$out" "^verdict      rejected: MRTD $mrtd is not the one spec 'td:v1' pins$" "MRTD verdict"
has "$err" "^dcr: attest: MRTD $mrtd is not the one spec 'td:v1' pins$" "MRTD reason on stderr"
sed "s/rtmr0: \"$rtmr0\"/rtmr0: \"$(printf '%096d' 0)\"/" accept.yaml >rtmr.yaml
expect 5 "another RTMR0" "$DCR" --specs rtmr.yaml "${offline[@]}" --at "$now"
has "$err" "RTMR0 $rtmr0 is not the one spec 'td:v1' pins" "RTMR0 named"
cat >sgxonly.yaml <<YAML
version: 1
specs:
  enclave:
    format: sgx-dcap
    mrenclave: $(printf '%064d' 0)
YAML
expect 5 "no tdx spec" "$DCR" --specs sgxonly.yaml "${offline[@]}" --at "$now"
has "$err" "no tdx spec in the trusted specs" "missing tdx spec named"

# Outside the window, another root, SGX collateral: refused with their reasons.
expect 5 "expired collateral" "$DCR" --specs accept.yaml "${offline[@]}" --at 2099-01-01T00:00:00Z
has "$err" 'expired collateral' "expired collateral named"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out fake-root.pem \
	-days 2 -subj /CN=fake 2>/dev/null || fail "openssl"
expect 5 "wrong root" "$DCR" --specs accept.yaml attest --evidence td/quote.bin --collateral td/collateral.json \
	--root-ca fake-root.pem --at "$now"
has "$err" "is not the pinned Intel SGX Root CA" "wrong root named"
"$SGX_FAKE_DEVICE" init sgx >/dev/null || fail "sgx-fake-device init"
expect 5 "SGX collateral for a TD quote" "$DCR" --specs accept.yaml attest --evidence td/quote.bin \
	--collateral sgx/collateral.json --root-ca td/root-ca.der --at "$now"
has "$err" '^dcr: attest: collateral: tcb_info id is "SGX", not "TDX"$' "SGX collateral named"
head -c 700 td/quote.bin >short.bin
expect 5 "truncated TD quote" "$DCR" --specs accept.yaml attest --evidence short.bin --collateral td/collateral.json \
	--root-ca td/root-ca.der --at "$now"
has "$err" 'TDX quote is truncated' "truncation named"

# Offline, a spec that pins another root than --root-ca does not accept: the quote is genuine under a root it does not trust.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-root.key -out other-root.pem \
	-days 2 -subj "/CN=Another Root CA" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1 || fail "another root"
{ cat accept.yaml; echo "    root_ca: other-root.pem"; } >other-root.yaml
expect 5 "a spec pinning another root" "$DCR" --specs other-root.yaml "${offline[@]}" --at "$now"
has "$err" "spec 'td:v1' pins another root_ca than --root-ca" "the root named"
{ cat accept.yaml; echo "    root_ca: td/root-ca.der"; } >same-root.yaml
expect 0 "a spec pinning that root" "$DCR" --specs same-root.yaml "${offline[@]}" --at "$now"
# The real quote: every signature holds, and Intel's rules refuse its platform.
T=$SRCDIR/../shared/testdata/evidence
[ -f "$T/tdx/quote.bin" ] || skip "$T/tdx is absent: the real TDX quote test needs ../shared/testdata"
real=(attest --evidence "$T/tdx/quote.bin" --collateral "$T/tdx/collateral.json" --root-ca "$T/sgx-dcap/intel-sgx-root-ca.der")
cat >real.yaml <<YAML
version: 1
specs:
  real:
    format: tdx
    mrtd: 273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd
    rtmr0: "$(printf '%096d' 0)"
    rtmr1: "$(printf '%096d' 0)"
    rtmr2: "$(printf '%096d' 0)"
    tcb_statuses: [UpToDate, OutOfDate]
YAML
expect 5 "real TDX quote in its window" "$DCR" --specs real.yaml "${real[@]}" --at 2026-03-01T00:00:00Z
has "$err" '^dcr: attest: platform TCB is below every TCB level in the TCB info \(unsupported\)$' "real verdict"
expect 5 "real TDX quote after its window" "$DCR" --specs real.yaml "${real[@]}" --at 2026-03-21T00:00:00Z
has "$err" 'expired collateral' "real quote: expired collateral named"
expect 5 "real TDX quote, another root" "$DCR" --specs real.yaml attest --evidence "$T/tdx/quote.bin" \
	--collateral "$T/tdx/collateral.json" --root-ca fake-root.pem --at 2026-03-01T00:00:00Z
has "$err" "is not the pinned Intel SGX Root CA" "real quote: wrong root named"
finish
