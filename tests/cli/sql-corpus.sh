#!/bin/bash
# The SQL differential corpus: queries generated from a fixed seed
# (tests/cli/sql-corpus.py) run through the real dcr and dcrd, and each
# result is compared byte for byte with what the sqlite3 shell returns on
# the same CSV files, written in dcr's result format. See docs/testing.md.
#
# DCR_SQL_CORPUS: how many queries; 60 (the default) is the slice the test
# suite runs, "all" the whole corpus.
. "$(dirname "$0")/lib.sh"

SEED=20240613
count=${DCR_SQL_CORPUS:-60}
[ "$count" = all ] && count=ALL
command -v sqlite3 >/dev/null || skip "no sqlite3 shell (scripts/install-deps.sh installs it)"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

checks=$((checks + 1))
python3 "$SRCDIR/tests/cli/sql-corpus.py" corpus "$SEED" "$count" >corpus.log 2>&1 || {
	fail "generating the corpus: $(tail -5 corpus.log)"
	finish
}
cp acme-ca.pem corpus/ca.pem
# Every job is queued before any is fetched: the per-caller and per-room caps must not refuse them.
start_dcrd data --max-caller-jobs 100000 --max-room-jobs 100000 || finish

# Rooms of at most 150 queries (and the views they read), each with the same four tables.
declare -A dataset room
for f in corpus/room-*.yaml; do
	n=${f#corpus/room-}
	n=${n%.yaml}
	expect 0 "create room $n" as create "$f" || finish
	room[$n]=$out
done
for t in people orders tags empty_t; do
	expect 0 "upload $t" as upload "corpus/$t.csv" || finish
	dataset[$t]=$out
	for n in "${!room[@]}"; do
		expect 0 "publish $t to room $n" as publish "${room[$n]}" "$t" "${dataset[$t]}"
	done
done

# Queue every job first: the runner works through them while the results are fetched in order.
declare -A job
while IFS=$'\t' read -r n name _; do
	expect 0 "run $name" as run "${room[$n]}" "$name" && job[$name]=$out
done <corpus/queries.tsv

mkdir -p got
total=0 same=0
while IFS=$'\t' read -r _ name sql; do
	total=$((total + 1))
	[ -n "${job[$name]:-}" ] || continue
	checks=$((checks + 1))
	if ! as fetch "${job[$name]}" -o "got/$name.csv" 2>"got/$name.err"; then
		fail "$name: dcr fetch failed: $(cat "got/$name.err")
    $sql"
	elif ! cmp -s "corpus/expected/$name.csv" "got/$name.csv"; then
		fail "$name: dcr and the sqlite3 shell differ
    $sql
$(diff "corpus/expected/$name.csv" "got/$name.csv" | head -12)"
	else
		same=$((same + 1))
	fi
done <corpus/queries.tsv
echo "SQL corpus: $total queries (seed $SEED), $same the same as the sqlite3 shell"

finish
