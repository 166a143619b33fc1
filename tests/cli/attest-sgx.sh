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

# Collateral that is not collateral, and bytes changed in what Intel signed
# or in the quote's copy of the root: refused, each time with its reason.
python3 - "$T" <<'PY' || fail "making the changed inputs"
import json, struct, sys
t = sys.argv[1]
col = json.load(open(f"{t}/collateral.json"))
quote = open(f"{t}/quote.bin", "rb").read()
def write(name, obj):
    with open(name, "w") as f:
        json.dump(obj, f)
def flipped(v, at):
    return v[:at] + chr(ord(v[at]) ^ 1) + v[at + 1:]
open("empty.json", "w").write("{}")
write("missing.json", {k: v for k, v in col.items() if k != "tcb_info"})
write("extra.json", dict(col, extra="x"))
n = 0
for key in ("tcb_info", "qe_identity", "tcb_info_issuer_chain", "pck_crl_issuer_chain"):
    v = col[key]
    # Spread over the signed texts; in the chains, over the root's copy (their second block).
    lo = 0 if "chain" not in key else v.index("-----BEGIN", 1)
    for i in range(20 if "chain" not in key else 5):
        write(f"flip-{n:02d}.json", dict(col, **{key: flipped(v, lo + i * (len(v) - 1 - lo) // 19)}))
        n += 1
# The quote: its certification data starts after the QE authentication data.
auth = struct.unpack_from("<H", quote, 1012)[0]
cert = 1014 + auth + 6
root = quote.index(b"-----BEGIN", quote.index(b"-----BEGIN", cert + 1) + 1)
for i in range(5):
    # A letter's case: still base64, another DER.
    at = root + 30 + i * 180
    while not chr(quote[at]).isalpha():
        at += 1
    open(f"quote-flip-{i}.bin", "wb").write(quote[:at] + bytes([quote[at] ^ 0x20]) + quote[at + 1:])
short = quote[:root]
short = short[:432] + struct.pack("<I", len(short) - 436) + short[436:cert - 4] + struct.pack("<I", root - cert) + short[cert:]
open("quote-two-certs.bin", "wb").write(short)
PY
with() {
	"$DCR" --specs accept.yaml attest --evidence "$1" --collateral "$2" --root-ca "$T/intel-sgx-root-ca.der" \
		--at 2025-07-01T00:00:00Z
}
expect 5 "collateral {}" with "$T/quote.bin" empty.json
has "$err" "^dcr: attest: collateral: missing keys 'pck_crl_issuer_chain', 'root_ca_crl', " "{} explained"
expect 5 "collateral without a key" with "$T/quote.bin" missing.json
has "$err" "^dcr: attest: collateral: missing key 'tcb_info'$" "missing key named"
expect 5 "collateral with an extra key" with "$T/quote.bin" extra.json
has "$err" "^dcr: attest: collateral: unknown key 'extra'$" "extra key named"
if [ -f "$T/../tdx/collateral.json" ]; then
	expect 5 "TDX collateral for an SGX quote" with "$T/quote.bin" "$T/../tdx/collateral.json"
	has "$err" '^dcr: attest: collateral: tcb_info id is "TDX", not "SGX"$' "TDX collateral named"
fi
for f in flip-*.json; do
	expect 5 "$f" with "$T/quote.bin" "$f"
	has "$err" '^dcr: attest: [^ ].{15,}' "$f: a reason"
done
for f in quote-flip-*.bin; do
	expect 5 "$f" with "$f" "$T/collateral.json"
	has "$err" '^dcr: attest: SGX quote PCK certificate chain: certificate 3' "$f: the root copy named"
done
expect 5 "a chain of two" with quote-two-certs.bin "$T/collateral.json"
has "$err" '^dcr: attest: SGX quote PCK certificate chain holds 2 certificates, not 3$' "two certificates named"

# Usage.
expect 2 "missing --root-ca" "$DCR" attest --evidence "$T/quote.bin" --collateral "$T/collateral.json"
expect 2 "bad --at" "$DCR" --specs accept.yaml "${offline[@]}" --at yesterday
has "$err" "--at 'yesterday' is not a UTC time" "bad time named"
expect 4 "missing quote file" "$DCR" attest --evidence nope --collateral "$T/collateral.json" --root-ca "$T/intel-sgx-root-ca.der"

finish
