#!/bin/bash
# One example room end to end on a local simulated enclave: identities from
# dcrd's platform CA (the rooms say "platform: true"), create, upload and
# publish each party's data, run, fetch, and verify the audit log. Run from
# the top of the source tree after building:
#
#     examples/run.sh overlap|salary-sum|uppercase|secret-code
#
# Everything it makes lives in a scratch directory removed at exit
# (scratch.sh). uppercase and secret-code run python in dcrd's sandbox
# (bubblewrap with user namespaces; see dcr-room(5), THE SANDBOX).
set -euo pipefail
name=${1:-}
case $name in
overlap | salary-sum | uppercase | secret-code) ;;
*)
	echo "usage: examples/run.sh overlap|salary-sum|uppercase|secret-code" >&2
	exit 2
	;;
esac
. "$(dirname "$0")/scratch.sh"
ex=$top/examples/$name

# upload_publish WHO ROOM NODE FILE: encrypt FILE locally, upload it, release its key to NODE.
upload_publish() {
	local ds
	ds=$("$dcr" -q -i "$1" upload "$4")
	"$dcr" -i "$1" publish "$2" "$3" "$ds"
}

start_dcrd
step "Identities from dcrd's platform CA, with one-time tokens (dcrd token create, dcr auth login)"
case $name in
secret-code)
	login carol carol@model.example
	login dave dave@bank.example
	login erin erin@lender.example
	creator=dave
	;;
*)
	login alice alice@acme.example
	login bob bob@beta.example
	creator=alice
	;;
esac

step "Create the room $name"
id=$("$dcr" -q -i "$creator" create "$ex/room.yaml")
echo "created room $id"
"$dcr" -i "$creator" rooms "$id"

case $name in
overlap)
	step "Each company uploads its customers (encrypted locally) and releases the key to its node"
	upload_publish alice "$id" acme_customers "$ex/acme_customers.csv"
	upload_publish bob "$id" beta_customers "$ex/beta_customers.csv"
	step "Bob runs the overlap; only regions with at least 5 shared customers may come back"
	job=$("$dcr" -q -i bob run "$id" overlap --wait)
	"$dcr" -i alice fetch "$job" --extract overlap
	for f in result.csv suppressed.csv; do
		echo "--- overlap/$f"
		cat "overlap/$f"
	done
	;;
salary-sum)
	step "Each company uploads its payroll and releases the key to its node"
	upload_publish alice "$id" acme_pay "$ex/acme_pay.csv"
	upload_publish bob "$id" beta_pay "$ex/beta_pay.csv"
	step "Alice runs the total; Bob fetches it"
	job=$("$dcr" -q -i alice run "$id" total --wait)
	"$dcr" -i bob fetch "$job" -o total.csv
	cat total.csv
	;;
uppercase)
	step "Alice uploads her text and runs the script in the sandbox; Bob fetches the result"
	upload_publish alice "$id" notes "$ex/text.txt"
	job=$("$dcr" -q -i alice run "$id" shout --wait)
	"$dcr" -i bob fetch "$job" --extract result
	cat result/upper.txt
	;;
secret-code)
	step "Erin, who may not see the model, reads the public entry script and the hash the room pins"
	"$dcr" -i erin show "$id" score | sed -n 1,8p
	"$dcr" -i erin show "$id" secret_model || true
	step "Carol uploads her model (only bytes with the pinned hash are accepted), Dave his applicants"
	upload_publish carol "$id" secret_model "$ex/provider/secret.py"
	upload_publish dave "$id" applicants "$ex/applicants.csv"
	step "Erin runs the scoring and fetches the scores"
	job=$("$dcr" -q -i erin run "$id" score --wait)
	"$dcr" -i erin fetch "$job" --extract result
	cat result/result.json
	;;
esac

step "The room's audit log, verified against the enclave's signed head"
"$dcr" -i "$creator" audit "$id"
