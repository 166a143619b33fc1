#!/bin/bash
# Completion scripts: the committed ones are exactly what the command table
# generates, they parse in their shells, and they complete what they should.
. "$(dirname "$0")/lib.sh"

for shell in bash zsh fish; do
	case $shell in
	bash) file=$SRCDIR/completions/dcr.bash ;;
	zsh) file=$SRCDIR/completions/_dcr ;;
	fish) file=$SRCDIR/completions/dcr.fish ;;
	esac
	expect 0 "completion $shell" "$DCR" completion "$shell"
	checks=$((checks + 1))
	if ! diff -u "$file" <(printf '%s\n' "$out") >"$TEST_TMP/diff"; then
		fail "$file is out of date; regenerate it with: dcr completion $shell > $file"
		cat "$TEST_TMP/diff" >&2
	fi
	if command -v "$shell" >/dev/null; then
		expect 0 "$shell parses its script" "$shell" -n "$file"
	else
		echo "note: $shell not installed; its script was only compared, not parsed"
	fi
done

# Drive the bash function as bash itself would.
complete_bash() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dcr; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$SRCDIR/completions/dcr.bash" "$@"
}
out=$(complete_bash dcr cr)
has "$out" '^create$' "bash completes a command"
out=$(complete_bash dcr create --d)
has "$out" '^--dry-run$' "bash completes a command's option"
out=$(complete_bash dcr --json create --d)
has "$out" '^--dry-run$' "bash skips global options to find the command"
out=$(complete_bash dcr completion "")
has "$out" '^zsh$' "bash completes a subcommand"
out=$(complete_bash dcr help au)
has "$out" '^auth$' "bash completes command names after help"
out=$(complete_bash dcr --endpoint cr)
lacks "$out" 'create' "bash completes nothing for an option value"
mkdir -p "$TEST_TMP/w/rooms" && touch "$TEST_TMP/w/room.yaml"
out=$(cd "$TEST_TMP/w" && complete_bash dcr create ro)
has "$out" '^room.yaml$' "bash completes files for create"

# Every command and option of the table appears in each script.
"$DCR" help | awk '/^Commands:/{on=1;next} /^$/{on=0} on{print $1}' >"$TEST_TMP/commands"
[ -s "$TEST_TMP/commands" ] || fail "could not read the command list from dcr help"
while read -r c; do
	for f in "$SRCDIR/completions/dcr.bash" "$SRCDIR/completions/_dcr" "$SRCDIR/completions/dcr.fish"; do
		checks=$((checks + 1))
		grep -qw -- "$c" "$f" || fail "$f lacks command $c"
	done
	"$DCR" help "$c" | grep -oE -- '--[a-z-]+' | sort -u | while read -r o; do
		grep -q -- "$o" "$SRCDIR/completions/dcr.bash" || echo "$o" 
	done >"$TEST_TMP/missing"
	[ -s "$TEST_TMP/missing" ] && fail "bash script lacks options of $c: $(tr '\n' ' ' <"$TEST_TMP/missing")"
done <"$TEST_TMP/commands"

if command -v fish >/dev/null; then
	out=$(fish -c "source '$SRCDIR/completions/dcr.fish'; complete -C 'dcr cre'; complete -C 'dcr create --d'")
	has "$out" '^create' "fish completes a command"
	has "$out" '^--dry-run' "fish completes a command's option"
fi

finish
