#!/bin/bash
# The main example end to end on a local simulated enclave: two
# organisations make their CAs and identities, pin this dcrd, create the
# salary-sum room, each encrypts and publishes its payroll, Alice runs the
# total and Bob fetches it, and Alice verifies and exports the audit log.
# Run from the top of the source tree after building (README, Quick start).
# Everything it makes lives in a scratch directory removed at exit (scratch.sh).
set -euo pipefail
. "$(dirname "$0")/scratch.sh"

start_dcrd

step "Each organisation makes a CA; each person a key, signed by their CA"
for org in acme beta; do
	"$dcr" auth ca init --name "$org" --dir "$org-ca" >/dev/null
done
"$dcr" -i alice auth keygen --email alice@acme.example >/dev/null
"$dcr" auth ca issue alice/request.csr --dir acme-ca -o alice.crt >/dev/null
"$dcr" -i alice auth import alice.crt >/dev/null
"$dcr" -i bob auth keygen --email bob@beta.example >/dev/null
"$dcr" auth ca issue bob/request.csr --dir beta-ca -o bob.crt >/dev/null
"$dcr" -i bob auth import bob.crt >/dev/null
"$dcr" -i alice auth whoami

step "The salary-sum room: Acme's CA certifies Acme's people, Beta's CA Beta's"
sed 's|  platform: true|  ca:\n    - {file: acme-ca/ca.pem, certifies: [acme.example]}\n    - {file: beta-ca/ca.pem, certifies: [beta.example]}|' \
	"$top/examples/salary-sum/room.yaml" >room.yaml
"$dcr" create --dry-run room.yaml
id=$("$dcr" -q -i alice create room.yaml)
echo "created room $id"

step "Both sides see the room; Bob reads it as Alice wrote it, checked against its ID"
"$dcr" -i alice rooms
"$dcr" -i bob status "$id"
"$dcr" -i bob show "$id" room.yaml | sed -n 1,5p

step "Each side encrypts its payroll locally, uploads the ciphertext and releases the key to the room"
acme=$("$dcr" -q -i alice upload "$top/examples/salary-sum/acme_pay.csv")
"$dcr" -i alice publish "$id" acme_pay "$acme"
beta=$("$dcr" -q -i bob upload "$top/examples/salary-sum/beta_pay.csv")
"$dcr" -i bob publish "$id" beta_pay "$beta"
"$dcr" -i bob datasets "$id"

step "Alice runs the total inside the enclave; Bob fetches the result"
job=$("$dcr" -q -i alice run "$id" total --wait)
"$dcr" -i bob fetch "$job" -o total.csv
cat total.csv
"$dcr" -i alice jobs "$id"

step "Alice verifies the room's audit log and exports it; anyone can check the export offline"
"$dcr" -i alice audit "$id" --export audit.dcr
stop_dcrd
"$dcr" audit verify audit.dcr

step "Done: neither company saw the other's rows; both know the total."
