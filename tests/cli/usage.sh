#!/bin/bash
# The command line's contract: help, version, usage errors, exit statuses.
. "$(dirname "$0")/lib.sh"

expect 2 "no command" "$DCR"
has "$err" '^usage: dcr' "no command prints usage on stderr"
[ -z "$out" ] || fail "no command: stdout not empty"

expect 0 "--help" "$DCR" --help
has "$out" '^usage: dcr' "--help prints usage on stdout"
expect 0 "help" "$DCR" help
help_text=$out

# Every command of DESIGN.md section 8 is in the table and in the help.
for c in auth attest create rooms status stop upload publish datasets run fetch jobs audit version help completion; do
	has "$help_text" "^  $c " "help lists '$c'"
	expect 0 "help $c" "$DCR" help "$c"
	has "$out" "^usage: dcr $c" "help $c shows its usage"
	expect 0 "$c --help" "$DCR" "$c" --help
	has "$out" "^usage: dcr $c" "$c --help shows its usage"
done

# Every command is built: none says "not implemented yet".
lacks "$help_text" "not implemented" "help lists no unbuilt command"

# The data and job commands check their arguments before anything else.
expect 2 "upload without FILE" "$DCR" upload
has "$err" "^dcr: upload: expected one FILE" "upload names what is missing"
expect 2 "upload --resume with FILE" "$DCR" upload --resume 0123456789abcdef f
expect 2 "upload --delete with FILE" "$DCR" upload --delete 0123456789abcdef f
has "$err" "^dcr: upload: --delete takes no FILE and no other option" "upload --delete stands alone"
expect 2 "upload --delete with --name" "$DCR" upload --delete 0123456789abcdef --name n
expect 2 "upload --delete of no dataset ID" "$DCR" upload --delete nothex
has "$err" "'nothex' is not a dataset ID" "a bad dataset ID is named"
expect 2 "publish with two arguments" "$DCR" publish a b
has "$err" "expected ROOM NODE DATASET" "publish names what is missing"
expect 2 "datasets without ROOM" "$DCR" datasets
expect 2 "run without COMPUTATION" "$DCR" run 0123456789abcdef
expect 2 "fetch of a malformed job ID" "$DCR" fetch not-a-job
has "$err" "is not a job ID" "fetch explains job IDs"
expect 2 "fetch with -o and --extract" "$DCR" fetch 0123456789ab-1 -o f --extract d
expect 2 "jobs without ROOM" "$DCR" jobs

# Every command that works has its man page; every page is valid scdoc.
for c in auth attest create rooms status stop upload publish datasets run fetch jobs audit; do
	"$DCR" help "$c" | grep -q 'not implemented yet' && continue
	checks=$((checks + 1))
	# A page may cover several commands: dcr-rooms(1) names dcr-status and dcr-stop too.
	[ -f "$SRCDIR/man/dcr-$c.1.scd" ] || grep -qE "^(dcr-[a-z]+, )*dcr-$c[ ,]" "$SRCDIR"/man/dcr-*.1.scd ||
		fail "no man page man/dcr-$c.1.scd for '$c'"
done
for page in "$SRCDIR"/man/*.scd; do
	command -v scdoc >/dev/null || break
	checks=$((checks + 1))
	scdoc <"$page" >/dev/null 2>"$TEST_TMP/scdoc" || fail "$page: $(cat "$TEST_TMP/scdoc")"
done
# dcr(1) documents every exit status.
for status in 0 1 2 3 4 5 6 7 8 9; do
	checks=$((checks + 1))
	grep -q "^\*$status\*$" "$SRCDIR/man/dcr.1.scd" || fail "dcr(1) does not document exit status $status"
done

expect 0 "--version" "$DCR" --version
has "$out" '^dcr [0-9]+\.[0-9]+\.[0-9]+$' "--version format"
version=$out
expect 0 "version" "$DCR" version
[ "$out" = "$version" ] || fail "version and --version differ: '$out' vs '$version'"
expect 0 "version --json" "$DCR" version --json
has "$out" '^\{"version": "[0-9.]+"\}$' "version --json"
expect 0 "--json version" "$DCR" --json version
has "$out" '^\{"version": "[0-9.]+"\}$' "--json before the command"
expect 2 "version with an argument" "$DCR" version extra

expect 2 "unknown command" "$DCR" frobnicate
has "$err" "unknown command 'frobnicate'" "unknown command is named"
has "$err" '^usage: dcr' "unknown command prints usage"
expect 2 "misspelt command" "$DCR" craete
has "$err" "did you mean 'create'" "suggestion for a misspelt command"
expect 2 "unknown global option" "$DCR" --frob
has "$err" "unknown option '--frob'" "unknown global option is named"
expect 2 "unknown command option" "$DCR" create --frob x.yaml
has "$err" "^dcr: create: unknown option '--frob'" "unknown command option is named"
expect 2 "missing option value" "$DCR" -e
has "$err" "option '-e' needs a value" "missing value is reported"
expect 2 "help for an unknown command" "$DCR" help nope
expect 2 "completion without a shell" "$DCR" completion
expect 2 "completion for an unknown shell" "$DCR" completion tcsh
has "$err" "unknown shell 'tcsh'" "unknown shell is named"

# Global options are accepted before and after the command.
expect 5 "global options after the command" "$DCR" datasets abcdef0123 -e http://127.0.0.1:1 --json -q
expect 5 "global options before the command" "$DCR" -e http://127.0.0.1:1 -v datasets abcdef0123

# dcrd has the same conventions.
expect 2 "dcrd without a command" "$DCRD"
has "$err" '^usage: dcrd' "dcrd usage"
expect 0 "dcrd --help" "$DCRD" --help
has "$out" 'serve' "dcrd help lists serve"
expect 0 "dcrd --version" "$DCRD" --version
has "$out" '^dcrd [0-9]+\.[0-9]+\.[0-9]+$' "dcrd --version format"
expect 2 "dcrd unknown command" "$DCRD" serv
has "$err" "did you mean 'serve'" "dcrd suggestion"
expect 2 "dcrd unknown option" "$DCRD" --frob
expect 0 "dcrd spec" "$DCRD" spec
has "$out" '^    measurement: [0-9a-f]{64}$' "dcrd spec prints the measurement"
has "$out" 'NO hardware protection' "dcrd spec warns about sim"
expect 2 "dcrd spec with an argument" "$DCRD" spec x
expect 2 "dcrd token without a subcommand" "$DCRD" token
has "$err" '^usage: dcrd token create' "dcrd token usage"

finish
