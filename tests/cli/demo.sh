#!/bin/bash
# The README's main example (examples/demo.sh) and every example's
# examples/run.sh run to the end with these binaries, and leave nothing
# behind: not in the user's XDG folders, not in TMPDIR.
. "$(dirname "$0")/lib.sh"

# The user's own folders (lib.sh points HOME and XDG_* at $TEST_TMP), with a key already there.
mkdir -p "$XDG_DATA_HOME/dcr/datasets" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$TEST_TMP/tmp"
echo '{}' >"$XDG_DATA_HOME/dcr/datasets/existing.json"
export TMPDIR=$TEST_TMP/tmp
snapshot() { (cd "$TEST_TMP" && find home config data state tmp -print0 | sort -z | xargs -0 ls -ld --time-style=+) 2>&1; }
before=$(snapshot)
untouched() {
	checks=$((checks + 1))
	local now
	now=$(snapshot)
	[ "$now" = "$before" ] || fail "$1 left something behind: $(diff <(echo "$before") <(echo "$now") | head -20)"
}

expect 0 "examples/demo.sh" bash "$SRCDIR/examples/demo.sh"
has "$out" '^created room [0-9a-f]{64}$' "the room is created"
has "$out" '^total$' "the result has its header"
has "$out" '^756750.75$' "the total of both payrolls"
has "$out" '^verified offline: [0-9]+ entries' "the audit export verifies offline"
has "$out" '^# Total payroll of two companies' "bob reads the room back with dcr show"
untouched "demo.sh"

expect 0 "examples/run.sh salary-sum" bash "$SRCDIR/examples/run.sh" salary-sum
has "$out" '^alice@acme.example: certificate in alice/cert.pem$' "a platform certificate for alice"
has "$out" '^756750.75$' "salary-sum: the total"
has "$out" '^verified [0-9]+ entries, tree size [0-9]+, root [0-9a-f]{64}$' "salary-sum: the audit log verified"
untouched "run.sh salary-sum"

expect 0 "examples/run.sh overlap" bash "$SRCDIR/examples/run.sh" overlap
# The exact result: the header and the two regions with at least 5 shared customers, nothing else; and
# beside it, the count of the groups left out (east and west).
checks=$((checks + 1))
csv=$(printf '%s\n' "$out" | sed -n '/^--- overlap\/result.csv$/,/^--- overlap\/suppressed.csv$/p')
[ "$csv" = "$(printf '%s\n' '--- overlap/result.csv' region,shared_customers,acme_spend,beta_spend \
	north,8,1588.94,2242.61 south,6,1536.99,1467.84 '--- overlap/suppressed.csv')" ] ||
	fail "overlap: result.csv is not the two regions at the threshold: $csv"
checks=$((checks + 1))
csv=$(printf '%s\n' "$out" | sed -n '/^--- overlap\/suppressed.csv$/,/^$/p' | sed '/^$/d')
[ "$csv" = "$(printf '%s\n' '--- overlap/suppressed.csv' groups_suppressed 2)" ] ||
	fail "overlap: suppressed.csv does not count east and west: $csv"
has "$err" '^dcr: fetch: job [0-9a-f]{12}-1: 2 groups suppressed$' "overlap: east and west are suppressed, and counted"
has "$out" 'job.finished +overlap +succeeded' "overlap: the job succeeded"
untouched "run.sh overlap"

expect 2 "examples/run.sh without an example" bash "$SRCDIR/examples/run.sh"
has "$err" '^usage: examples/run.sh overlap\|salary-sum\|uppercase\|secret-code$' "usage"

if sandbox_works; then
	expect 0 "examples/run.sh uppercase" bash "$SRCDIR/examples/run.sh" uppercase
	has "$out" "^$(tr '[:lower:]' '[:upper:]' <"$SRCDIR/examples/uppercase/text.txt" | head -1 | sed 's/[][\.*^$()+?{}|]/\\&/g')$" \
		"uppercase: the text comes back upper-cased"
	untouched "run.sh uppercase"
	expect 0 "examples/run.sh secret-code" bash "$SRCDIR/examples/run.sh" secret-code
	has "$out" '"model": "carol-risk-v3"' "secret-code: the scores"
	has "$out" '"count": 6' "secret-code: every applicant"
	has "$err" "node 'secret_model' is secret code: the room holds only its SHA-256 [0-9a-f]{64}" \
		"secret-code: erin cannot read the model"
	lacks "$out" 'def score' "secret-code: the model's code is never printed"
	untouched "run.sh secret-code"
fi

# The README of every example says how to run it, and nothing is "not implemented yet".
for readme in "$SRCDIR"/examples/*/README.md; do
	lacks "$(cat "$readme")" 'not implemented' "$readme"
done
for name in overlap salary-sum uppercase secret-code; do
	has "$(cat "$SRCDIR/examples/$name/README.md")" "examples/run.sh $name\$" "$name/README.md names its run"
done

finish
