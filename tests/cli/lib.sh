# Shared helpers for the shell tests in tests/cli; source it first.
# Each test runs the real binaries named by $DCR and $DCRD in a private
# temporary directory that is removed on exit, whatever the outcome.

set -u
: "${DCR:?set DCR to the dcr binary}" "${DCRD:?set DCRD to the dcrd binary}" "${SRCDIR:?set SRCDIR}"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcr-cli.XXXXXX")
trap 'rm -rf "$TEST_TMP"' EXIT
export HOME=$TEST_TMP/home XDG_CONFIG_HOME=$TEST_TMP/config XDG_DATA_HOME=$TEST_TMP/data \
	XDG_STATE_HOME=$TEST_TMP/state
unset DCR_ENDPOINT DCR_SPECS
mkdir -p "$HOME"

failures=0
checks=0

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	failures=$((failures + 1))
}

# run CMD...: runs it, keeping stdout in $out, stderr in $err, status in $rc.
run() {
	out=$("$@" 2>"$TEST_TMP/stderr")
	rc=$?
	err=$(cat "$TEST_TMP/stderr")
}

# expect STATUS DESCRIPTION CMD...: run CMD and check its exit status.
expect() {
	local want=$1 what=$2
	shift 2
	checks=$((checks + 1))
	run "$@"
	if [ "$rc" != "$want" ]; then
		fail "$what: exit $rc, want $want (stdout: ${out:0:300}) (stderr: ${err:0:300})"
		return 1
	fi
	return 0
}

# has TEXT PATTERN DESCRIPTION: grep -E PATTERN in TEXT.
has() {
	checks=$((checks + 1))
	if ! grep -qE -- "$2" <<<"$1"; then
		fail "$3: no match for /$2/ in: ${1:0:400}"
	fi
}

lacks() {
	checks=$((checks + 1))
	if grep -qE -- "$2" <<<"$1"; then
		fail "$3: unexpected match for /$2/ in: ${1:0:400}"
	fi
}

# skip REASON: the whole test is skipped (meson counts exit 77 as skipped).
skip() {
	printf 'SKIP: %s\n' "$*"
	exit 77
}

finish() {
	if [ "$checks" -eq 0 ]; then
		echo "no checks ran" >&2
		exit 1
	fi
	if [ "$failures" -gt 0 ]; then
		echo "$failures of $checks checks failed" >&2
		exit 1
	fi
	echo "all $checks checks passed"
	exit 0
}
