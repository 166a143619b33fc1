# Shared helpers for the shell tests in tests/cli; source it first.
# Each test runs the real binaries named by $DCR and $DCRD in a private
# temporary directory that is removed on exit, whatever the outcome.

set -u
: "${DCR:?set DCR to the dcr binary}" "${DCRD:?set DCRD to the dcrd binary}" "${SRCDIR:?set SRCDIR}"
REPLAY_CALL=${REPLAY_CALL:-}
# tests/tools/hold-create.so: DCRD_PRELOAD it, with DCR_TEST_HOLD_FILE naming a file, to hold a room.create in validation.
HOLD_CREATE=${HOLD_CREATE:-}
# tests/tools/hold-audit.so: the same for dcrd's reading of audit entries (audit.get).
HOLD_AUDIT=${HOLD_AUDIT:-}
# tests/tools/sgx-fake-device and tests/tools/fake-pccs.py: a fake /dev/attestation and a fake Intel PCS.
SGX_FAKE_DEVICE=${SGX_FAKE_DEVICE:-}
FAKE_PCCS=${FAKE_PCCS:-}
# tests/tools/fake-clock.so: DCRD_PRELOAD it (start_dcrd), with DCR_TEST_CLOCK_FILE naming a file of milliseconds, to shift dcrd's wall clock.
FAKE_CLOCK=${FAKE_CLOCK:-}
# tests/tools/snp-fake-guest and snp-fake-ioctl.so: an SEV-SNP guest's configfs-tsm entry and derived key.
SNP_FAKE_GUEST=${SNP_FAKE_GUEST:-}
SNP_FAKE_IOCTL=${SNP_FAKE_IOCTL:-}

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dcr-cli.XXXXXX")
DCRD_PIDS=()
MOUNTS=()
cleanup() {
	local pid dir
	for pid in "${DCRD_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for dir in "${MOUNTS[@]}"; do
		umount "$dir" 2>/dev/null || umount -l "$dir"
	done
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT
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

# use_sim_specs: trust this build's simulated dcrd: its spec in
# $TEST_TMP/specs.yaml, named by DCR_SPECS for every dcr that follows.
use_sim_specs() {
	"$DCRD" spec >"$TEST_TMP/specs.yaml" || fail "dcrd spec"
	export DCR_SPECS=$TEST_TMP/specs.yaml
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

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_dcrd DATADIR [ARGS...]: a real dcrd on a free loopback port (or on
# $DCRD_PORT_WANTED, to come back where a client expects it); sets
# DCRD_PID, DCRD_PORT and exports DCR_ENDPOINT. Its stderr goes to
# $TEST_TMP/dcrd.log. Killed at exit whatever happens.
start_dcrd() {
	local dir=$1 i
	shift
	DCRD_PORT=${DCRD_PORT_WANTED:-$(free_port)}
	# DCRD_PRELOAD: preloaded into dcrd alone (a sanitized library breaks the plain tools this function runs).
	env ${DCRD_PRELOAD:+LD_PRELOAD="$DCRD_PRELOAD"} "$DCRD" serve --data-dir "$dir" --listen "127.0.0.1:$DCRD_PORT" "$@" \
		2>>"$TEST_TMP/dcrd.log" &
	DCRD_PID=$!
	DCRD_PIDS+=("$DCRD_PID")
	export DCR_ENDPOINT=http://127.0.0.1:$DCRD_PORT
	for i in $(seq 200); do
		curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" 2>/dev/null && return 0
		kill -0 "$DCRD_PID" 2>/dev/null || break
		sleep 0.05
	done
	fail "dcrd did not start: $(tail -3 "$TEST_TMP/dcrd.log")"
	return 1
}

# sql_workers: the SQL workers of start_dcrd's dcrd (its children running
# "sql-worker"), one PID a line.
sql_workers() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(cut -d' ' -f4 "$p/stat" 2>/dev/null)" = "$DCRD_PID" ] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q ' sql-worker ' && echo "${p#/proc/}"
	done
}

# until_gone PID...: wait up to a minute for those processes to be gone.
until_gone() {
	local pid left
	for _ in $(seq 1200); do
		left=0
		for pid in "$@"; do
			[ -e "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && left=1
		done
		[ "$left" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# stop_dcrd [SIGNAL]: stop it and wait; sets $rc to its exit status.
stop_dcrd() {
	kill "-${1:-TERM}" "$DCRD_PID"
	wait "$DCRD_PID"
	rc=$?
}

# make_ca NAME: a throwaway organisation CA, NAME.key and NAME.pem (EC P-256).
make_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.pem" \
		-days 2 -subj "/CN=$1" -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1 || fail "make_ca $1"
}

# make_user DIR EMAIL CA: DIR/key.pem and DIR/cert.pem for EMAIL, issued by CA.
make_user() {
	mkdir -p "$1"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/key.pem" \
		-out "$1/req.csr" -subj "/CN=$2" >/dev/null 2>&1 || fail "make_user $1: request"
	printf 'subjectAltName=email:%s\nbasicConstraints=critical,CA:FALSE\n' "$2" >"$1/ext.cnf"
	openssl x509 -req -in "$1/req.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 2 \
		-out "$1/cert.pem" -extfile "$1/ext.cnf" >/dev/null 2>&1 || fail "make_user $1: certificate"
}

# acme_room USER...: the room header most tests begin with: a CA acme-ca
# (acme-ca.pem, acme-ca.key), each USER an identity in ./USER for
# USER@acme.example that it certifies, and room/ca.pem, the CA for a
# room/room.yaml that says authentication: {ca: ca.pem}.
acme_room() {
	local u
	make_ca acme-ca
	for u in "$@"; do make_user "$u" "$u@acme.example" acme-ca; done
	mkdir -p room
	cp acme-ca.pem room/ca.pem
}

# region_totals FILE: "region,n,total" and a line per region (sorted) of
# FILE's CSV (columns region and amount, an integer), as the duckdb tests'
# by_region computes it: python's count and sum, an oracle apart from
# DuckDB.
region_totals() {
	python3 - "$1" <<'PY'
import csv, sys
agg = {}
for r in csv.DictReader(open(sys.argv[1])):
    n, t = agg.get(r["region"], (0, 0))
    agg[r["region"]] = (n + 1, t + int(r["amount"]))
print("region,n,total")
for k in sorted(agg):
    print(f"{k},{agg[k][0]},{agg[k][1]}")
PY
}

# partial_upload IDENTITY_DIR FILE: start dcr upload of FILE, kill dcr once
# dcrd has accepted the upload (its key is in the keystore before a byte
# leaves) and print the dataset ID: an upload left unfinished.
partial_upload() {
	local keystore=$XDG_DATA_HOME/dcr/datasets pid id before
	before=$(ls "$keystore" 2>/dev/null)
	"$DCR" -q -i "$1" upload "$2" --limit-rate 1K >/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		id=$(ls "$keystore" 2>/dev/null | grep -vxF -- "$before" | sed -n 's/\.json$//p' | head -1)
		[ -n "$id" ] && break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ -n "$id" ] || fail "the upload of $2 never began"
	# dcr sends as soon as the key is saved: let dcrd finish with what reached it, so that
	# what HEAD answers next stays true.
	for _ in $(seq 200); do
		curl -fsS "$DCR_ENDPOINT/metrics" 2>/dev/null | grep -qx 'dcrd_uploads_writing 0' && break
		sleep 0.05
	done
	echo "$id"
}

# sandbox_works: whether python computations can run here, as dcrd itself
# finds at start ("dcrd sandbox": bubblewrap can make its namespaces and
# mount /proc, python3 runs in it); says why not. Where the sandbox must
# work (DCR_REQUIRE_SANDBOX=1, as .ci/run sets: CI hosts run it), a
# sandbox that does not is a failure of the test, not python checks left
# out; so call it in the test's own shell, not in $(...).
sandbox_works() {
	local why
	if why=$("$DCRD" sandbox 2>&1 >/dev/null); then
		return 0
	fi
	SANDBOX_WHY=${why#dcrd: sandbox: }
	if [ "${DCR_REQUIRE_SANDBOX:-}" = 1 ]; then
		fail "DCR_REQUIRE_SANDBOX=1, but $SANDBOX_WHY"
	else
		echo "NOTE: python checks are left out: $SANDBOX_WHY"
	fi
	return 1
}

# need_sandbox: the rest of the test runs python computations: skipped where
# they cannot run, failed at once where they must (see sandbox_works).
need_sandbox() {
	sandbox_works && return 0
	[ "${DCR_REQUIRE_SANDBOX:-}" = 1 ] && finish
	skip "$SANDBOX_WHY"
}

# without_python ROOM.yaml: rewrite the room definition without its python
# computations and the permissions that name them, for a dcrd whose sandbox
# cannot work (it refuses to create rooms with python computations; see
# sandbox_works). Comments and layout are not kept.
without_python() {
	python3 - "$1" <<'PY' || fail "cannot drop the python computations of $1"
import sys, yaml
path = sys.argv[1]
with open(path) as f:
    room = yaml.safe_load(f)
compute = room.get("compute") or {}
gone = {name for name, c in compute.items() if c.get("type") == "python"}
room["compute"] = {name: c for name, c in compute.items() if name not in gone}
for who, perms in (room.get("participants") or {}).items():
    room["participants"][who] = [p for p in perms or [] if p.split()[-1] not in gone]
with open(path, "w") as f:
    yaml.safe_dump(room, f, sort_keys=False)
PY
}

# mount_tmpfs DIR SIZE: a small filesystem of its own at DIR (mode 0700),
# unmounted at exit; skips the test where mounting is not allowed.
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" 2>/dev/null || skip "cannot mount a tmpfs here (needs root)"
	MOUNTS+=("$1")
}

# skip REASON: the rest of the test is skipped (meson counts exit 77 as
# skipped); checks that failed before it still fail the test.
skip() {
	printf 'SKIP: %s\n' "$*"
	[ "$failures" -gt 0 ] && finish
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
