#!/bin/bash
# The SQL differential corpus: queries generated from a fixed seed
# (tests/cli/sql-corpus.py) run through the real dcr and dcrd, and each
# result is compared byte for byte with the oracle's, written in dcr's
# result format. See docs/testing.md.
#
# ENGINE: sqlite (the default) compares with the sqlite3 shell; duckdb
# (tests/cli/sql-corpus-duckdb.sh) runs the same queries as duckdb
# computations and compares with DuckDB itself, outside dcr (DUCKDB_LIB:
# the libduckdb.so dcrd links), where it agrees with the shell too or a
# dialect rule explains why not; the queries DuckDB refuses must be
# refused by dcr create, and those it fails must fail their job.
#
# DCR_SQL_CORPUS: how many queries; 62 (the default: one of each template) is the slice the test
# suite runs, "all" the whole corpus.
. "$(dirname "$0")/lib.sh"

SEED=20240613
ENGINE=${ENGINE:-sqlite}
count=${DCR_SQL_CORPUS:-62}
[ "$count" = all ] && count=ALL
command -v sqlite3 >/dev/null || skip "no sqlite3 shell (scripts/install-deps.sh installs it)"
lib=()
if [ "$ENGINE" = duckdb ]; then
	[ -n "${DUCKDB_LIB:-}" ] || skip "dcrd was built without DuckDB"
	lib=("$DUCKDB_LIB")
fi

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

checks=$((checks + 1))
python3 "$SRCDIR/tests/cli/sql-corpus.py" corpus "$SEED" "$count" "${lib[@]}" >corpus.log 2>&1 || {
	fail "generating the corpus: $(tail -5 corpus.log)"
	finish
}
cp acme-ca.pem corpus/ca.pem
# Every job is queued before any is fetched: the per-caller and per-room caps must not refuse them; and on
# DuckDB every refused query is a room create of its own (72 in the whole corpus).
# One DuckDB thread, as the oracle runs: sums of doubles add in one order (dcr-room(5): more threads may change
# their last digits).
threads=()
[ "$ENGINE" = duckdb ] && threads=(--duckdb-threads 1)
start_dcrd data --max-caller-jobs 100000 --max-room-jobs 100000 --create-rate 1000/1h "${threads[@]}" || finish

# queries: room, name, verdict (sqlite: always "same") and SQL of each query; corpus/want/NAME: its expected
# result (DuckDB's message for a query it refuses or fails).
if [ "$ENGINE" = duckdb ]; then
	rooms=(corpus/duck-room-*.yaml)
	cp corpus/duck-queries.tsv queries
	ln -s duck-expected corpus/want
else
	rooms=(corpus/room-*.yaml)
	sed 's/\t/\tsame\t/2' corpus/queries.tsv >queries
	mkdir corpus/want
	for f in corpus/expected/*.csv; do
		ln -s "../expected/${f##*/}" "corpus/want/$(basename "$f" .csv)"
	done
fi

# Rooms of at most 150 queries (and, on SQLite, the views they read), each with the same four tables.
declare -A dataset room
for f in "${rooms[@]}"; do
	[ -e "$f" ] || continue
	n=${f##*room-}
	n=${n%.yaml}
	expect 0 "create room $f" as create "$f" || finish
	room[$n]=$out
done
for t in people orders tags empty_t; do
	expect 0 "upload $t" as upload "corpus/$t.csv" || finish
	dataset[$t]=$out
	for n in "${!room[@]}"; do
		expect 0 "publish $t to room $n" as publish "${room[$n]}" "$t" "${dataset[$t]}"
	done
done

# A query DuckDB refuses is refused by dcr create, in a room of its own, with DuckDB's reason.
refused=0
[ -d corpus/duck-refused ] && cp corpus/ca.pem corpus/duck-refused/
while IFS=$'\t' read -r _ name verdict _; do
	[ "$verdict" = refused ] || continue
	refused=$((refused + 1))
	expect 6 "create a room of $name alone" as create "corpus/duck-refused/$name.yaml" || continue
	has "$err" "'$name'" "$name: the refusal names the computation"
	why=$(head -1 "corpus/want/$name")
	checks=$((checks + 1))
	grep -qF -- "$why" <<<"$err" || fail "$name: dcr create does not say why DuckDB refuses it ($why): $err"
done <queries

# Queue every job first: the runner works through them while the results are fetched in order.
declare -A job
while IFS=$'\t' read -r n name verdict _; do
	[ "$verdict" = refused ] && continue
	expect 0 "run $name" as run "${room[$n]}" "$name" && job[$name]=$out
done <queries

mkdir -p got
total=0 same=0 differs=0 fails=0
while IFS=$'\t' read -r _ name verdict sql; do
	total=$((total + 1))
	[ -n "${job[$name]:-}" ] || continue
	checks=$((checks + 1))
	if [ "$verdict" = fails ]; then
		# The job fails with DuckDB's class of error, and nothing else of its message, which may quote data
		# ("Overflow in multiplication of INT64 (183 * 92233720368547758)"): the audit log shows it to all.
		why=$(head -1 "corpus/want/$name")
		rest=${why#*: }
		run as fetch "${job[$name]}" -o "got/$name.csv"
		if [ "$rc" != 7 ] || ! grep -qF -- "DuckDB: ${why%%: *}: [withheld: it may quote data]" <<<"$err"; then
			fail "$name: the job does not fail as in DuckDB (${why%%: *}): exit $rc: $err
    $sql"
		elif grep -qF -- "${rest:0:20}" <<<"$err"; then
			fail "$name: the job's failure repeats DuckDB's message, which may quote data: $err"
		else
			fails=$((fails + 1))
		fi
	elif ! as fetch "${job[$name]}" -o "got/$name.csv" 2>"got/$name.err"; then
		fail "$name: dcr fetch failed: $(cat "got/$name.err")
    $sql"
	elif ! cmp -s "corpus/want/$name" "got/$name.csv"; then
		fail "$name: dcr and the oracle differ ($verdict)
    $sql
$(diff "corpus/want/$name" "got/$name.csv" | head -12)"
	elif [ "$verdict" = same ]; then
		same=$((same + 1))
	else
		differs=$((differs + 1))
	fi
done <queries
if [ "$ENGINE" = duckdb ]; then
	echo "SQL corpus on DuckDB: $total queries (seed $SEED): as DuckDB says, $same the same as the sqlite3 shell," \
		"$differs different by the dialect rules, $fails failing, $refused refused"
	grep '^duckdb ' corpus.log
else
	echo "SQL corpus: $total queries (seed $SEED), $same the same as the sqlite3 shell"
fi

finish
