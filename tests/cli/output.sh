#!/bin/bash
# Every option that names a file for dcr to write (run/fetch -o, auth ca
# issue -o, audit --export) writes it the same way: through symbolic links
# to a regular file or to nothing yet, atomically (a temporary file beside
# the target renamed over it; the link stays a link; a failure leaves what
# was there and no temporary file); devices, FIFOs and standard output
# written through, never replaced.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: output
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run long, fetch long]
compute:
  long:
    type: sql
    query: "SELECT printf('%.65536c', 'x') AS x"
YAML
as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
expect 0 "run" as run "$room" long --wait || finish
job=$out

# For the CA: a CA of dcr's own, and a request to issue.
expect 0 "ca init" "$DCR" auth ca init --name Out --dir ca || finish
expect 0 "keygen" "$DCR" -i "$TEST_TMP/bob" auth keygen --email bob@acme.example || finish

# Each writer: "NAME CHECK ARGS...", ARGS with @OUT@ for the path; CHECK FILE
# succeeds when FILE holds what the writer writes.
long=$(head -c 65536 /dev/zero | tr '\0' x)
valid_result() { [ "$(cat "$1")" = "$(printf 'x\n%s' "$long")" ]; }
valid_cert() { openssl x509 -noout -in "$1" 2>/dev/null && [ "$(grep -c 'BEGIN CERTIFICATE' "$1")" = 2 ]; }
valid_export() { "$DCR" -q audit verify "$1" >/dev/null 2>&1; }
writers=(
	"fetch valid_result as fetch $job -o @OUT@"
	"ca-issue valid_cert $DCR auth ca issue --dir $TEST_TMP/ca --force -o @OUT@ $TEST_TMP/bob/request.csr"
	"audit-export valid_export as audit $room --export @OUT@"
)

# write NAME DEST: run the writer NAME with DEST for @OUT@ (out, err, rc as run sets
# them; check: its CHECK).
write() {
	local w words args=() x
	for w in "${writers[@]}"; do
		read -r -a words <<<"$w"
		[ "${words[0]}" = "$1" ] || continue
		for x in "${words[@]:2}"; do
			[ "$x" = @OUT@ ] && args+=("$2") || args+=("$x")
		done
		check=${words[1]}
		run "${args[@]}"
		return
	done
}

for w in "${writers[@]}"; do
	name=${w%% *}
	mkdir "$name" && cd "$name" || finish

	# A regular file is replaced by a new one: a hard link to it keeps the old text.
	echo old >file
	ln file file-hardlink
	write "$name" file
	checks=$((checks + 1))
	[ "$rc" = 0 ] && $check file && [ "$(cat file-hardlink)" = old ] ||
		fail "$name: a regular file is replaced by a new one (exit $rc: $err)"

	# Through a symbolic link: the target is replaced the same way, the link stays.
	echo old >target
	ln target target-hardlink
	ln -s target link
	write "$name" link
	checks=$((checks + 1))
	[ "$rc" = 0 ] && [ -L link ] && $check target && [ "$(cat target-hardlink)" = old ] ||
		fail "$name: through a link, the link stays and its target is replaced by a new file (exit $rc: $err)"
	# A chain of links, relative to the directory of each.
	mkdir -p sub && echo old >sub/far && ln -s far sub/near && ln -s sub/near chain
	write "$name" chain
	checks=$((checks + 1))
	[ "$rc" = 0 ] && [ -L chain ] && [ -L sub/near ] && $check sub/far ||
		fail "$name: through a chain of relative links (exit $rc: $err)"

	# A dangling link: its target is made.
	ln -s made dangling
	write "$name" dangling
	checks=$((checks + 1))
	[ "$rc" = 0 ] && [ -L dangling ] && $check made || fail "$name: a dangling link's target is made (exit $rc: $err)"

	# A failure midway (a file size limit, its signal ignored: writes fail
	# with EFBIG) leaves the target as it was and nothing else.
	echo old >kept
	ln -s kept link-kept
	ln -s never link-never
	for dest in kept link-kept link-never; do
		(trap '' XFSZ; ulimit -f 1; write "$name" "$dest"; exit "$rc")
		rc=$?
		checks=$((checks + 1))
		[ "$rc" = 1 ] || fail "$name: a write that fails at 1 KiB into '$dest': exit $rc, want 1"
	done
	checks=$((checks + 1))
	[ "$(cat kept)" = old ] && [ -L link-kept ] && [ ! -e never ] && [ -L link-never ] ||
		fail "$name: a failed write changed its target: $(ls -l)"
	lacks "$(ls -a)" 'part-' "$name: no temporary file is left"

	# A link to standard output (as /dev/stdout is): written on it, the link stays.
	ln -s /proc/self/fd/1 my-stdout
	write "$name" my-stdout
	checks=$((checks + 1))
	[ "$rc" = 0 ] && [ -L my-stdout ] || fail "$name: -o a link to standard output (exit $rc: $err)"
	# (An export is binary, and dcr audit prints the log on standard output too.)
	if [ "$name" != audit-export ]; then
		printf '%s\n' "$out" >stdout-got
		$check stdout-got || fail "$name: what reached standard output is not the whole output"
	fi

	# A FIFO is written through.
	mkfifo fifo
	cat fifo >from-fifo &
	catpid=$!
	write "$name" fifo
	# A dcr that never opened it leaves cat waiting for a writer; one that replaced it, on a FIFO gone.
	if [ ! -p fifo ]; then kill "$catpid"; elif [ "$rc" != 0 ]; then : >fifo; fi
	wait "$catpid"
	checks=$((checks + 1))
	[ "$rc" = 0 ] && [ -p fifo ] && $check from-fifo || fail "$name: a FIFO is written through (exit $rc: $err)"

	# A device is written through, never replaced.
	if mknod null-dev c 1 3 2>/dev/null; then
		write "$name" null-dev
		checks=$((checks + 1))
		[ "$rc" = 0 ] && [ -c null-dev ] || fail "$name: the device was replaced (exit $rc: $err)"
	else
		echo "NOTE: cannot make a device node here (not root): -o DEVICE is left out"
	fi
	lacks "$(ls -a)" 'part-' "$name: no temporary file is left"
	cd "$TEST_TMP" || finish
done

# A full file system midway through a result (64 KiB onto 16 KiB): the
# linked file keeps what it held, and nothing is left beside it.
mkdir small
if mount -t tmpfs -o size=16k,mode=0700 tmpfs small 2>/dev/null; then
	MOUNTS+=("$TEST_TMP/small")
	echo old >small/kept
	ln -s small/kept link-small
	ln -s small/never link-small-never
	expect 1 "fetch through a link onto a full file system" as fetch "$job" -o link-small
	expect 1 "fetch through a dangling link onto a full file system" as fetch "$job" -o link-small-never
	checks=$((checks + 1))
	[ "$(cat small/kept)" = old ] && [ -L link-small ] && [ ! -e small/never ] ||
		fail "a failed fetch through a link changed its target: $(ls -l small)"
	lacks "$(ls -a small)" 'part-' "no temporary file is left on the full file system"
else
	echo "NOTE: cannot mount a tmpfs here (not root): a full file system is left out"
fi

# Without --force, ca issue replaces no file, also not through a link; it writes through the rest.
cd ca-issue || finish
echo old >kept2 && ln -s kept2 link-kept2
expect 1 "ca issue over a linked file without --force" "$DCR" auth ca issue --dir ../ca -o link-kept2 \
	"$TEST_TMP/bob/request.csr"
has "$err" "'link-kept2' already exists; not replacing it" "the refusal names the path"
checks=$((checks + 1))
[ "$(cat kept2)" = old ] || fail "a refused ca issue changed the file"
expect 0 "ca issue to standard output without --force" "$DCR" auth ca issue --dir ../ca -o my-stdout \
	"$TEST_TMP/bob/request.csr"
has "$out" "BEGIN CERTIFICATE" "the certificate reached standard output"
cd "$TEST_TMP" || finish

finish
