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

# Commands not built yet say so and fail with status 1, doing nothing else.
for c in auth attest create rooms status stop upload publish datasets run fetch jobs audit; do
	expect 1 "$c not implemented" "$DCR" "$c" x
	has "$err" "^dcr: $c: not implemented yet$" "$c reports not implemented"
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
expect 1 "global options after the command" "$DCR" rooms -e http://127.0.0.1:1 --json -q
expect 1 "global options before the command" "$DCR" -e http://127.0.0.1:1 -v rooms

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
for c in serve spec token; do
	expect 1 "dcrd $c not implemented" "$DCRD" "$c"
	has "$err" "^dcrd: $c: not implemented yet$" "dcrd $c reports not implemented"
done

finish
