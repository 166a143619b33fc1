#!/bin/bash
# dcr attest offline: the real SGX quote in ../shared/testdata with its
# collateral, inside and outside its window, against trusted specs.
. "$(dirname "$0")/lib.sh"

T=$SRCDIR/../shared/testdata/evidence/sgx-dcap
[ -f "$T/quote.bin" ] || skip "$T is absent: the real-quote test needs ../shared/testdata"
cd "$TEST_TMP" || exit 1
mrenclave=33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb
offline=(attest --evidence "$T/quote.bin" --collateral "$T/collateral.json" --root-ca "$T/intel-sgx-root-ca.der")

cat >accept.yaml <<YAML
version: 1
specs:
  dcrd:v1:
    format: sgx-dcap
    mrenclave: $mrenclave
    tcb_statuses: [UpToDate, SWHardeningNeeded, ConfigurationAndSWHardeningNeeded]
YAML
expect 0 "real quote in its window" "$DCR" --specs accept.yaml "${offline[@]}" --at 2025-07-01T00:00:00Z
has "$out" "^mrenclave    $mrenclave$" "MRENCLAVE"
has "$out" '^mrsigner     815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6$' "MRSIGNER"
has "$out" '^tcb status   ConfigurationAndSWHardeningNeeded$' "TCB status"
has "$out" '^advisories   INTEL-SA-00289, INTEL-SA-00615$' "advisory IDs"
has "$out" '^verdict      accepted by spec dcrd:v1$' "verdict"
expect 0 "--json" "$DCR" --specs accept.yaml --json "${offline[@]}" --at 2025-07-01T00:00:00Z
has "$out" '"verdict": "accepted by spec dcrd:v1"' "JSON verdict"

# The default TCB statuses do not accept this platform: facts shown, exit 5.
sed '/tcb_statuses/d' accept.yaml >default.yaml
expect 5 "TCB status outside the policy" "$DCR" --specs default.yaml "${offline[@]}" --at 2025-07-01T00:00:00Z
has "$out" '^verdict      rejected: TCB status ConfigurationAndSWHardeningNeeded is not accepted' "policy verdict"
has "$err" 'is not accepted by spec' "reason on stderr"
sed "s/$mrenclave/$(printf '%064d' 0)/" accept.yaml >other.yaml
expect 5 "another MRENCLAVE" "$DCR" --specs other.yaml "${offline[@]}" --at 2025-07-01T00:00:00Z
expect 5 "no specs" "$DCR" "${offline[@]}" --at 2025-07-01T00:00:00Z
has "$err" 'no trusted specs given' "no specs explained"

# Outside the collateral window, or with another root: rejected.
expect 5 "expired collateral" "$DCR" --specs accept.yaml "${offline[@]}" --at 2025-08-01T00:00:00Z
has "$err" 'expired collateral' "expired collateral named"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem -out fake-root.pem \
	-days 2 -subj /CN=fake 2>/dev/null || fail "openssl"
expect 5 "wrong root" "$DCR" --specs accept.yaml attest --evidence "$T/quote.bin" --collateral "$T/collateral.json" \
	--root-ca fake-root.pem --at 2025-07-01T00:00:00Z
head -c 1000 "$T/quote.bin" >short.bin
expect 5 "truncated quote" "$DCR" --specs accept.yaml attest --evidence short.bin --collateral "$T/collateral.json" \
	--root-ca "$T/intel-sgx-root-ca.der" --at 2025-07-01T00:00:00Z

# Usage.
expect 2 "missing --root-ca" "$DCR" attest --evidence "$T/quote.bin" --collateral "$T/collateral.json"
expect 2 "bad --at" "$DCR" --specs accept.yaml "${offline[@]}" --at yesterday
has "$err" "--at 'yesterday' is not a UTC time" "bad time named"
expect 4 "missing quote file" "$DCR" attest --evidence nope --collateral "$T/collateral.json" --root-ca "$T/intel-sgx-root-ca.der"

finish
