#!/bin/bash
# dcr attest offline for SEV-SNP: the real Milan report in ../shared/testdata
# with its VCEK and AMD's ASK and ARK, inside and outside the certificates'
# window, against trusted sev-snp specs.
. "$(dirname "$0")/lib.sh"

T=$SRCDIR/../shared/testdata/evidence/sev-snp
[ -f "$T/report.bin" ] || skip "$T is absent: the real-report test needs ../shared/testdata"
cd "$TEST_TMP" || exit 1
measurement=b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01

# The chain as dcr takes it: VCEK then ASK, in PEM; the ARK alone as the root.
{ openssl x509 -inform der -in "$T/vcek.der"; openssl x509 -in "$T/ask-ark-milan.pem"; } >chain.pem ||
	fail "openssl"
awk 'n == 1; /END CERTIFICATE/ { n++ }' "$T/ask-ark-milan.pem" >ark.pem
openssl x509 -in ark.pem -noout -subject | grep -q 'CN *= *ARK-Milan' || fail "the ARK is not the second certificate"
offline=(attest --evidence "$T/report.bin" --cert-chain chain.pem --root-ca ark.pem)
at=(--at 2025-01-01T00:00:00Z)

cat >accept.yaml <<YAML
version: 1
specs:
  guest:v1:
    format: sev-snp
    measurement: $measurement
    policy_allow: [smt, debug]
    min_tcb: {bootloader: 2, tee: 0, snp: 5, microcode: 68}
    root_ca: ark.pem
    require_crl: false
YAML
expect 0 "real report in its window" "$DCR" --specs accept.yaml "${offline[@]}" "${at[@]}"
has "$out" '^format       sev-snp$' "format"
has "$out" '^product      Milan$' "product"
has "$out" '^version      2$' "report version"
has "$out" '^signing key  VCEK$' "signing key"
has "$out" "^measurement  $measurement$" "MEASUREMENT"
has "$out" '^report data  0102030405000000' "REPORT_DATA"
has "$out" '^policy       0x00000000000b0000$' "policy"
has "$out" '^allows       smt, debug$' "the weakening policy bits"
has "$out" '^debug        yes$' "debug"
has "$out" '^vmpl         0$' "VMPL"
has "$out" '^tcb          raw 4405000000000002, bootloader 2, tee 0, snp 5, microcode 68$' "reported TCB"
has "$out" '^committed    raw 4405000000000002, bootloader 2' "committed TCB"
has "$out" '^chip id      3ac3fe21e13fb099' "chip ID"
has "$out" '^crl checked  no$' "no CRL"
has "$out" '^platform     0x0000000000000001$' "PLATFORM_INFO: SMT enabled"
has "$out" '^launch mit   0x0000000000000000$' "no mitigation vectors before version 5"
has "$out" '^verdict      accepted by spec guest:v1$' "verdict"
expect 0 "--json" "$DCR" --specs accept.yaml --json "${offline[@]}" "${at[@]}"
has "$out" '"verdict": "accepted by spec guest:v1"' "JSON verdict"
has "$out" '"product": "Milan"' "JSON product"
python3 -c 'import json, sys; t = json.load(sys.stdin)["reported_tcb"]; sys.exit(t != {"raw": "4405000000000002",
    "bootloader": 2, "tee": 0, "snp": 5, "microcode": 68})' <<<"$out" || fail "JSON reported_tcb"
checks=$((checks + 1))

# Revocation is the spec's choice, not the evidence's: without require_crl: false, a chain without AMD's CRL is refused.
grep -v require_crl accept.yaml >crl.yaml
expect 5 "no CRL, spec requires it" "$DCR" --specs crl.yaml "${offline[@]}" "${at[@]}"
has "$err" "carries no AMD CRL" "the missing CRL is named"
# PLATFORM_INFO bits a spec requires: this 2022 Milan firmware did no alias check (BadRAM).
sed 's/    require_crl: false/&\n    platform_require: [alias_check]/' accept.yaml >alias.yaml
expect 5 "alias check required" "$DCR" --specs alias.yaml "${offline[@]}" "${at[@]}"
has "$err" "PLATFORM_INFO 0x0000000000000001 lacks alias_check" "the missing bit is named"
# Nor is the minimum TCB optional.
grep -v min_tcb accept.yaml >nomin.yaml
expect 6 "spec without min_tcb" "$DCR" --specs nomin.yaml "${offline[@]}" "${at[@]}"
has "$err" "needs min_tcb" "min_tcb required"

# The policy: debug not allowed, a TCB minimum above it, another measurement, another ARK pinned.
sed 's/policy_allow: \[smt, debug\]/policy_allow: [smt]/' accept.yaml >nodebug.yaml
expect 5 "debug not allowed" "$DCR" --specs nodebug.yaml "${offline[@]}" "${at[@]}"
has "$out" "^verdict      rejected: guest policy allows debug, which spec 'guest:v1' does not allow" "debug verdict"
has "$err" "^dcr: attest: guest policy allows debug" "reason on stderr"
sed 's/snp: 5/snp: 8/' accept.yaml >tcb.yaml
expect 5 "TCB below the minimum" "$DCR" --specs tcb.yaml "${offline[@]}" "${at[@]}"
has "$err" "REPORTED_TCB SNP firmware SPL 5 is below spec 'guest:v1''s minimum 8" "TCB named"
sed "s/$measurement/$(printf '%096d' 0)/" accept.yaml >other.yaml
expect 5 "another measurement" "$DCR" --specs other.yaml "${offline[@]}" "${at[@]}"
has "$err" "MEASUREMENT $measurement is not the one spec 'guest:v1' pins" "measurement named"
expect 5 "no specs" "$DCR" "${offline[@]}" "${at[@]}"
has "$err" 'no trusted specs given' "no specs explained"
expect 5 "--spec naming none" "$DCR" --specs accept.yaml "${offline[@]}" "${at[@]}" --spec nope
has "$err" "spec 'nope' is not in the trusted specs" "unknown spec named"

# A spec that pins another ARK does not accept what this one verified.
openssl req -x509 -newkey rsa:2048 -nodes -keyout k0.pem -out other-ark.pem -days 2 -subj /CN=ARK-Milan \
	-sigopt rsa_padding_mode:pss -sha384 2>/dev/null || fail "openssl"
sed 's/root_ca: ark.pem/root_ca: other-ark.pem/' accept.yaml >otherark.yaml
expect 5 "spec with another ARK" "$DCR" --specs otherark.yaml "${offline[@]}" "${at[@]}"
has "$err" "verified under another ARK than spec 'guest:v1' pins" "ARK named"

# Outside the window, another root, a changed byte: rejected with the reason.
expect 5 "expired VCEK" "$DCR" --specs accept.yaml "${offline[@]}" --at 2030-01-01T00:00:00Z
has "$err" '^dcr: attest: expired certificate: VCEK notAfter 2029-09-24T00:55:28Z is before 2030-01-01T00:00:00Z$' \
	"expiry named"
openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out fake-ark.pem -days 2 -subj /CN=ARK-Milan \
	-sigopt rsa_padding_mode:pss -sha384 2>/dev/null || fail "openssl"
expect 5 "wrong ARK" "$DCR" --specs accept.yaml attest --evidence "$T/report.bin" --cert-chain chain.pem \
	--root-ca fake-ark.pem --at "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
has "$err" "not issued by the ARK|does not verify with the ARK's key" "wrong ARK named"
python3 - "$T/report.bin" <<'PY' || fail "making the changed reports"
import sys
r = open(sys.argv[1], "rb").read()
for name, at in (("measurement", 0x90), ("report-data", 0x50), ("tcb", 0x180), ("sig", 0x2a0)):
    open(f"flip-{name}.bin", "wb").write(r[:at] + bytes([r[at] ^ 1]) + r[at + 1:])
open("v4.bin", "wb").write(bytes([4]) + r[1:])
open("v6.bin", "wb").write(bytes([6]) + r[1:])
PY
for f in flip-*.bin; do
	expect 5 "$f" "$DCR" --specs accept.yaml attest --evidence "$f" --cert-chain chain.pem --root-ca ark.pem "${at[@]}"
	has "$err" "^dcr: attest: (SEV-SNP report signature invalid|the VCEK is for TCB)" "$f: a reason"
done
expect 5 "version 6" "$DCR" --specs accept.yaml attest --evidence v6.bin --cert-chain chain.pem --root-ca ark.pem "${at[@]}"
has "$err" '^dcr: attest: SEV-SNP report version 6 is not supported \(only 2 to 5\)$' "version named"
# Version 4 has version 3's layout: this version 2 report's zero CPUID is then not a Milan's.
expect 5 "version 4" "$DCR" --specs accept.yaml attest --evidence v4.bin --cert-chain chain.pem --root-ca ark.pem "${at[@]}"
has "$err" 'CPUID family 0x00 model 0x00 is not a Milan processor' "version 4 read as 3"
sed 's/^MII/MIJ/' chain.pem >bad-chain.pem
expect 5 "changed chain" "$DCR" --specs accept.yaml attest --evidence "$T/report.bin" --cert-chain bad-chain.pem \
	--root-ca ark.pem "${at[@]}"

# Usage.
expect 2 "--collateral and --cert-chain" "$DCR" "${offline[@]}" --collateral chain.pem
has "$err" "do not go together" "conflict explained"
expect 2 "missing --root-ca" "$DCR" attest --evidence "$T/report.bin" --cert-chain chain.pem
expect 4 "missing chain file" "$DCR" attest --evidence "$T/report.bin" --cert-chain nope --root-ca ark.pem

finish
