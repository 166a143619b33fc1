#!/bin/bash
# The python sandbox against a hostile room, through the real dcr and dcrd:
# each attack of the security review is tried again from a room's code,
# with dcrd run as root (the sandbox as an unprivileged user) and, when
# this test runs as root, again with dcrd run as a plain user. Nothing here
# may harm the machine: core_pattern is never touched, and a /proc/sys
# value a failing check could change is restored.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
need_sandbox
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
head -c $((32 << 20)) /dev/urandom >big.bin

mkdir -p room
cp acme-ca.pem room/ca.pem

# Waits for SIGUSR1 under a name the host can find, so the host can look at
# its credentials from outside; then reports what it sees inside.
# (A name of this run's own: other test runs may probe at the same time.)
probe_name=dcr-c$$
cat >room/uid.py <<EOF
import ctypes, os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
ctypes.CDLL(None).prctl(15, b"$probe_name", 0, 0, 0)
signal.sigwait({signal.SIGUSR1})
with open("/output/inside.txt", "w") as f:
    f.write("uid_map %s\n" % " ".join(open("/proc/self/uid_map").read().split()))
    f.write("uid %d\n" % os.getuid())
EOF
# Tries to open for writing every file in /proc that reaches beyond the
# sandbox (never writing), and one harmless write: a value back as it was.
cat >room/proc.py <<'EOF'
import os, stat
out = open("/output/proc.txt", "w")
tried = 0
for top, dirs, files in os.walk("/proc"):
    if top == "/proc":
        dirs[:] = [d for d in dirs if not d.isdigit() and d not in ("self", "thread-self")]
    for name in files:
        path = os.path.join(top, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o222:
            continue
        tried += 1
        try:
            os.close(os.open(path, os.O_WRONLY))
            out.write("WRITABLE %s\n" % path)
        except OSError:
            pass
out.write("tried %d\n" % tried)
p = "/proc/sys/vm/overcommit_memory"
v = open(p).read()
try:
    with open(p, "w") as f:
        f.write(v)
    out.write("WROTE %s\n" % p)
except OSError as e:
    out.write("overcommit refused %d\n" % e.errno)
EOF
# The seccomp filter is on, and refuses what it must.
cat >room/seccomp.py <<'EOF'
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
out = open("/output/seccomp.txt", "w")
for pid in ("self", os.getppid()):
    out.write("%s %s\n" % (pid, [l.split()[1] for l in open("/proc/%s/status" % pid) if l.startswith("Seccomp:")][0]))
# Without the filter unshare(0) succeeds and setns(-1, 0) fails with EBADF.
nrs = {"x86_64": (272, 308), "aarch64": (97, 268)}[os.uname().machine]
for name, nr, args in (("unshare", nrs[0], (0,)), ("setns", nrs[1], (-1, 0))):
    r = libc.syscall(nr, *args)
    out.write("%s %d %s\n" % (name, r, errno.errorcode.get(ctypes.get_errno(), "-") if r < 0 else "-"))
EOF
# The review's attack on the supervisor: forge a successful run with a
# symbolic link and a setuid file through its memory or its ZIP pipe, then
# fail; and output names that dcr could not extract.
cat >room/forge.py <<'EOF'
import io, os, signal, sys, zipfile
sup = os.getppid()
forged = io.BytesIO()
with zipfile.ZipFile(forged, "w") as z:
    link = zipfile.ZipInfo("passwd")
    link.external_attr = 0o120777 << 16
    z.writestr(link, "/etc/passwd")
    suid = zipfile.ZipInfo("run-me")
    suid.external_attr = 0o104777 << 16
    z.writestr(suid, "#!/bin/sh\n")
for what, path, mode in (("fd", "/proc/%d/fd/3" % sup, "wb"), ("mem", "/proc/%d/mem" % sup, "r+b")):
    try:
        with open(path, mode, buffering=0) as f:
            f.write(b"exit 0\n" + forged.getvalue())
        print(what, "WRITTEN")
    except OSError as e:
        print(what, "refused", e.errno)
os.kill(sup, signal.SIGKILL)
os.symlink("/etc/passwd", "/output/passwd")
sys.exit(1)
EOF
cat >room/names.py <<'EOF'
for name in ("a\nb", "x\x1b[31m", "ok.txt"):
    open("/output/" + name, "w").write("x")
EOF
# Memory that RLIMIT_DATA does not count: shared mappings, memfds, several
# processes; and a fork bomb. ALL WRITTEN only if the limit did not hold.
cat >room/memory.py <<'EOF'
import mmap, os, select, signal, sys
how = open("/input/how").read().strip()
if how == "mmap":
    m = mmap.mmap(-1, 768 << 20)
    for i in range(0, len(m), 4096):
        m[i] = 1
elif how == "memfd":
    fd = os.memfd_create("x")
    for _ in range(768):
        os.write(fd, bytes(1 << 20))
elif how == "processes":
    r, w = os.pipe()
    for _ in range(6):
        if os.fork() == 0:
            b = bytearray(128 << 20)
            for i in range(0, len(b), 4096):
                b[i] = 1
            os.write(w, b".")
            signal.pause()
    ready = 0
    while ready < 6:
        if select.select([r], [], [], 0.1)[0]:
            ready += len(os.read(r, 6))
        if os.waitpid(-1, os.WNOHANG)[0]:
            sys.exit("a child died")
elif how == "forks":
    n = 0
    try:
        while n < 100000:
            if os.fork() == 0:
                signal.pause()
                os._exit(0)
            n += 1
    except OSError as e:
        print("forks refused after", n, flush=True)
        sys.exit(0)
print("ALL WRITTEN")
EOF
# A 32 MB dataset mounted at twelve paths, under 128 MiB: held once. It
# waits for SIGUSR1 under a name of its own, for the host to look at dcrd
# meanwhile.
many_name=dcr-m$$
cat >room/many.py <<EOF
import ctypes, hashlib, os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
ctypes.CDLL(None).prctl(15, b"$many_name", 0, 0, 0)
signal.sigwait({signal.SIGUSR1})
paths = sorted("/input/" + p for p in os.listdir("/input"))
print("inputs", len(paths), "sizes", sorted(set(os.path.getsize(p) for p in paths)), "links",
      sum(os.path.islink(p) for p in paths))
print("sha256", hashlib.sha256(open(paths[-1], "rb").read()).hexdigest())
EOF
cat >room/room.yaml <<'YAML'
version: 1
name: hostile
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run uid, fetch uid, run proc, fetch proc, run seccomp, fetch seccomp,
    run forge, fetch forge, run names, fetch names, upload how, run memory, fetch memory,
    upload big, run many, fetch many]
data:
  how: {type: file}
  big: {type: file}
compute:
  uid:
    type: python
    script: uid.py
    logs: visible
  proc:
    type: python
    script: proc.py
    logs: visible
  seccomp:
    type: python
    script: seccomp.py
    logs: visible
  forge:
    type: python
    script: forge.py
    logs: visible
  names:
    type: python
    script: names.py
  memory:
    type: python
    script: memory.py
    mounts: {/input/how: how}
    limits: {memory: 256MiB, time: 120s}
    logs: visible
  many:
    type: python
    script: many.py
    mounts: {/input/d00: big, /input/d01: big, /input/d02: big, /input/d03: big, /input/d04: big, /input/d05: big,
      /input/d06: big, /input/d07: big, /input/d08: big, /input/d09: big, /input/d10: big, /input/d11: big}
    limits: {memory: 128MiB, time: 120s}
    logs: visible
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

# pid_named NAME: the host pid of the process called NAME, waiting for it.
pid_named() {
	local f
	for _ in $(seq 1200); do
		f=$(grep -lx -- "$1" /proc/[0-9]*/comm 2>/dev/null | head -1)
		if [ -n "$f" ]; then
			f=${f#/proc/}
			echo "${f%/comm}"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

overcommit=$(cat /proc/sys/vm/overcommit_memory)
restore_overcommit() {
	if [ "$(cat /proc/sys/vm/overcommit_memory)" != "$overcommit" ]; then
		echo "$overcommit" >/proc/sys/vm/overcommit_memory 2>/dev/null
		fail "$1: the sandbox changed vm.overcommit_memory (restored)"
	fi
}

# result COMPUTATION FILE: run it in $room, wait, extract the result; FILE of it in $text.
result() {
	text=
	expect 0 "$label: run $1" as run "$room" "$1" --wait || return
	expect 0 "$label: fetch $1" as fetch "$out" --extract "$1-$label" || return
	text=$(cat "$1-$label/$2" 2>/dev/null)
}

# attacks LABEL HOST_UID CGROUP: every attack against the running dcrd,
# whose sandbox must be host uid HOST_UID, in a cgroup if CGROUP is yes.
attacks() {
	local label=$1 want_uid=$2 cgroup=$3 job pid status map
	expect 0 "$label: create" as create --salt "$label" room/room.yaml || return
	room=$out

	# ---- the sandbox is never host root ----
	expect 0 "$label: run uid" as run "$room" uid || return
	job=$out
	if pid=$(pid_named "$probe_name"); then
		status=$(grep '^Uid:' "/proc/$pid/status")
		map=$(tr -s ' ' <"/proc/$pid/uid_map")
		kill -USR1 "$pid"
		has "$status" "^Uid:\s+$want_uid\s+$want_uid\s+$want_uid\s+$want_uid$" "$label: the sandbox's host uid"
		lacks "$status" "\s0(\s|$)" "$label: no host uid 0"
		has "$map" "^ ?65534 $want_uid 1$" "$label: seen from the host, sandbox uid 65534 is host uid $want_uid"
	else
		fail "$label: the probe never ran"
	fi
	expect 0 "$label: fetch uid" as fetch "$job" --extract "uid-$label"
	# Inside, the nested user namespace of bwrap: its 0 is not the host's.
	has "$(cat "uid-$label/inside.txt" 2>/dev/null)" "^uid_map 65534 0 1$" "$label: the inner view"

	# ---- /proc/sys and the rest of /proc are out of reach ----
	local proc
	result proc proc.txt
	proc=$text
	restore_overcommit "$label"
	lacks "$proc" "WRITABLE|WROTE" "$label: nothing in /proc opens for writing"
	has "$proc" "^overcommit refused 30$" "$label: /proc/sys is read-only (EROFS)"
	has "$proc" "^tried [0-9]{3,}$" "$label: hundreds of files were tried"

	# ---- the seccomp filter ----
	local sc
	result seccomp seccomp.txt
	sc=$text
	has "$sc" "^self 2$" "$label: the command runs under a seccomp filter"
	has "$sc" "^[0-9]+ 2$" "$label: and so does the supervisor"
	has "$sc" "^unshare -1 EPERM$" "$label: unshare is refused"
	has "$sc" "^setns -1 EPERM$" "$label: setns is refused"

	# ---- the supervisor is out of the command's reach ----
	expect 7 "$label: a forged success fails" as run "$room" forge --wait
	has "$err" "the command exited with status 1" "$label: the command's real exit is reported"
	job=$(as jobs "$room" | awk '$2 == "forge" {print $1}' | tail -1)
	expect 7 "$label: fetch forge" "$DCR" -i "$TEST_TMP/alice" fetch "$job"
	has "$err" "fd refused 13" "$label: the supervisor's ZIP pipe is closed to the command"
	has "$err" "mem refused 13" "$label: and so is its memory"
	lacks "$err" "WRITTEN" "$label: nothing was written"

	# ---- one rule for output names: dcr extracts what dcrd packs ----
	expect 0 "$label: run names" as run "$room" names --wait
	expect 0 "$label: fetch --extract names" as fetch "$out" --extract "names-$label"
	checks=$((checks + 1))
	[ "$(ls -A "names-$label")" = ok.txt ] || fail "$label: extracted: $(ls -A "names-$label" | od -c | head -3)"

	# ---- memory and processes ----
	local how
	for how in mmap memfd processes forks; do
		echo "$how" >"how-$label-$how"
		expect 0 "$label: upload $how" as upload "how-$label-$how" || continue
		expect 0 "$label: publish $how" as publish "$room" how "$out" || continue
		expect 0 "$label: run memory $how" as run "$room" memory || continue
		# fetch waits, and shows the logs (visible) on standard error.
		run "$DCR" -i "$TEST_TMP/alice" fetch "$out" -o "memory-$label-$how.zip"
		checks=$((checks + 1))
		if [ "$how" = forks ]; then
			# Bounded by the task limit (cgroup and RLIMIT_NPROC of the sandbox user) or the memory.
			if [ "$rc" = 0 ]; then
				has "$err" "forks refused after [0-9]{1,4}$" "$label: a fork bomb is bounded"
				[ "$(grep -oE '[0-9]+$' <<<"$err" | tail -1)" -lt 4096 ] || fail "$label: more than 4096 forks"
			else
				has "$err" "exceeded its memory limit of 256MiB" "$label: a fork bomb is bounded"
			fi
		elif [ "$cgroup" = yes ]; then
			# In a cgroup: stopped, whatever the kernel killed.
			[ "$rc" = 7 ] || fail "$label: $how: exit $rc, want 7"
			has "$err" "exceeded its memory limit of 256MiB" "$label: $how is stopped at the limit"
			lacks "$err" "ALL WRITTEN" "$label: $how stays within the memory limit"
		elif [ "$how" = processes ]; then
			# No cgroup: each process within RLIMIT_DATA, several beyond it together (documented).
			[ "$rc" = 0 ] || fail "$label: $how: exit $rc, want 0 (without a cgroup the limit is per process)"
		else
			# No cgroup: shared memory that nothing would count is refused.
			[ "$rc" = 7 ] || fail "$label: $how: exit $rc, want 7"
			has "$err" "PermissionError" "$label: $how is refused without a cgroup"
			lacks "$err" "ALL WRITTEN" "$label: $how stays within the memory limit"
		fi
		curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" || fail "$label: dcrd did not survive $how"
	done
	# Nothing outlives a job, not even a zombie: dcrd's children (bwrap, or
	# a pid 1 it orphaned) are gone; and where the sandbox user is this
	# test's own, it has no process left on the host at all (dcr-sandbox
	# is every root dcrd's on this host, other tests' included).
	checks=$((checks + 1))
	[ -z "$(pgrep -u "$want_uid" -P "$DCRD_PID")" ] || fail "$label: dcrd has children left from its jobs"
	if [ "$label" != root-default ]; then
		checks=$((checks + 1))
		[ -z "$(pgrep -u "$want_uid" | grep -vx "$DCRD_PID")" ] ||
			fail "$label: processes of the sandbox user outlived their jobs"
	fi

	# ---- a dataset mounted twelve times is held once, in dcrd and in the sandbox ----
	expect 0 "$label: upload big" as upload big.bin || return
	expect 0 "$label: publish big" as publish "$room" big "$out" || return
	local memfds fd
	expect 0 "$label: run many" as run "$room" many || return
	job=$out
	# While the sandbox runs, what dcrd holds of the input: memfds, whose
	# pages no RSS figure of dcrd's shows, so counted by their links and sizes.
	if pid=$(pid_named "$many_name"); then
		memfds=$(for fd in "/proc/$DCRD_PID/fd/"*; do
			[ "$(readlink "$fd")" = "/memfd:dcr-input (deleted)" ] && stat -L -c %s "$fd"
		done)
		kill -USR1 "$pid"
		checks=$((checks + 1))
		[ "$memfds" = 33554432 ] ||
			fail "$label: dcrd holds the input in memfds of $(echo $memfds) bytes, not in one of 33554432"
	else
		fail "$label: the many probe never ran"
	fi
	run "$DCR" -i "$TEST_TMP/alice" fetch "$job" -o "many-$label.zip"
	checks=$((checks + 1))
	[ "$rc" = 0 ] || fail "$label: twelve mounts of 32 MB under 128 MiB: exit $rc: $err"
	has "$err" "inputs 12 sizes \[33554432\] links 11" "$label: one file, eleven links"
	has "$err" "sha256 $(sha256sum big.bin | cut -c1-64)" "$label: the data arrives whole"
}

if [ "$(id -u)" = 0 ]; then
	# ---- dcrd as root: the sandbox runs as dcr-sandbox, or the --sandbox-user given ----
	free_uid() {
		local u=$1
		while getent passwd "$u" >/dev/null; do u=$((u + 1)); done
		echo "$u"
	}
	sandbox_uid=$(free_uid $((61300 + $$ % 20000)))
	if getent passwd dcr-sandbox >/dev/null; then
		start_dcrd data || finish
		has "$(cat dcrd.log)" "python sandbox runs as uid $(id -u dcr-sandbox)" "the default sandbox user is said at start"
		has "$(cat dcrd.log)" "job limits: cgroup v[12] below" "root uses cgroups"
		attacks root-default "$(id -u dcr-sandbox)" yes
		stop_dcrd
	else
		echo "NOTE: no user dcr-sandbox (scripts/install-deps.sh creates it): the default is not tried"
		start_dcrd data || finish
		has "$(cat dcrd.log)" "there is no user 'dcr-sandbox'" "a missing sandbox user is said at start"
		expect 0 "create a room to run" as create room/room.yaml
		expect 7 "python refuses to run as root" as run "$out" proc --wait
		has "$err" "useradd --system" "the fix is named"
		stop_dcrd
	fi
	start_dcrd data --sandbox-user "$sandbox_uid" || finish
	attacks root-numeric "$sandbox_uid" yes
	stop_dcrd

	for bad in 0 root 0:0 "$sandbox_uid:0" no-such-user-here ""; do
		expect 2 "--sandbox-user '$bad' is refused" "$DCRD" serve --data-dir refused --sandbox-user "$bad" \
			--listen 127.0.0.1:1
		has "$err" "sandbox" "the refusal says why"
	done
	expect 2 "--cgroup must be auto, off or a path" "$DCRD" serve --data-dir refused --cgroup sometimes \
		--listen 127.0.0.1:1
	has "$err" "invalid --cgroup 'sometimes'" "and says so"
	expect 1 "--cgroup: not a cgroup" "$DCRD" serve --data-dir refused --cgroup "$TEST_TMP" --listen 127.0.0.1:1
	has "$err" "cannot use --cgroup" "and says why"
	if [ -r /sys/fs/cgroup/unified/cgroup.controllers ] &&
		! grep -qw memory /sys/fs/cgroup/unified/cgroup.controllers; then
		expect 1 "--cgroup: a cgroup v2 without the memory controller" "$DCRD" serve --data-dir refused \
			--cgroup /sys/fs/cgroup/unified --listen 127.0.0.1:1
		has "$err" "lacks the memory or pids controller" "and says why"
	fi
	checks=$((checks + 1))
	[ ! -e refused ] || fail "a refused start left a data directory"

	# ---- dcrd as a plain user: the sandbox is that user ----
	plain=$(free_uid $((sandbox_uid + 1)))
	chmod 711 "$TEST_TMP"
	mkdir -m 700 plain-data
	chown "$plain:$plain" plain-data
	printf '#!/bin/sh\nexec setpriv --reuid=%s --regid=%s --clear-groups "%s" "$@"\n' "$plain" "$plain" "$DCRD" \
		>dcrd-as-user
	chmod 755 dcrd-as-user
	real_dcrd=$DCRD
	DCRD=$TEST_TMP/dcrd-as-user
	expect 2 "a plain user cannot choose a sandbox user" "$DCRD" serve --data-dir plain-data \
		--sandbox-user "$sandbox_uid" --listen 127.0.0.1:1
	has "$err" "needs dcrd to run as root" "and is told why"
	# Naming its own user is no choice, and accepted.
	start_dcrd plain-data --sandbox-user "$plain:$plain" || finish
	has "$(cat dcrd.log)" "python sandbox runs as dcrd's own user \(uid $plain\)" "said at start"
	has "$(cat dcrd.log)" "job limits: no cgroup" "a plain user has no cgroup here, and is told"
	attacks plain "$plain" no
	stop_dcrd
	DCRD=$real_dcrd
else
	echo "NOTE: not root: dcrd runs as this user only (the root half needs root)"
	start_dcrd data || finish
	if grep -q "job limits: cgroup v" dcrd.log; then attacks user "$(id -u)" yes; else attacks user "$(id -u)" no; fi
	stop_dcrd
fi

# ---- the operator's job limits ----
mkdir -p limits
cp acme-ca.pem limits/ca.pem
printf 'import time\ntime.sleep(30)\n' >limits/sleep.py
# limits_room NAME PYTHON-LIMITS: a room with a python computation of those limits and a long SQL query.
limits_room() {
	cat >"limits/$1.yaml" <<YAML
version: 1
name: limits $1
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run sleep, run count]
compute:
  sleep:
    type: python
    script: sleep.py
    limits: $2
  count:
    type: sql
    query: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT COUNT(*) AS n FROM c
YAML
}
limits_room defaults "{}"
limits_room slow "{time: 90s, memory: 32MiB}"
limits_room big "{time: 1s, memory: 128MiB}"
limits_room fits "{time: 1s, memory: 64MiB}"
for bad in "--max-job-time 0s" "--max-job-time 25h" "--max-job-time 5x" "--max-job-time 10" \
	"--max-job-memory 1MiB" "--max-job-memory 65GiB" "--max-job-memory 4.5G"; do
	# shellcheck disable=SC2086 # the option and its value
	expect 2 "refused: $bad" "$DCRD" serve --data-dir refused $bad --listen 127.0.0.1:1
	has "$err" "invalid ${bad%% *}" "$bad: said"
done
start_dcrd limits-data || finish
has "$(cat dcrd.log)" "every job may run for at most 1h, python jobs use at most 4GiB" "the defaults are said at start"
expect 0 "a room within the default limits" as create limits/defaults.yaml
defaults_room=$out
stop_dcrd
start_dcrd limits-data --max-job-time 2s --max-job-memory 64MiB || finish
has "$(cat dcrd.log)" "at most 2s, python jobs use at most 64MiB" "the limits are said at start"
expect 6 "a room asking for more time than the service allows" as create limits/slow.yaml
has "$err" "computation 'sleep' asks for a time limit of 90s; this dcrd allows at most 2s \(dcrd serve --max-job-time\)" \
	"the computation, its limit and the service's are named"
expect 6 "a room asking for more memory" as create limits/big.yaml
has "$err" "computation 'sleep' asks for a memory limit of 128MiB; this dcrd allows at most 64MiB" "named"
expect 6 "the defaults (60s, 1GiB) are over these limits" as create --salt again limits/defaults.yaml
expect 0 "a room within the limits" as create limits/fits.yaml
fits_room=$out
expect 7 "its python computation stops at its own limit" as run "$fits_room" sleep --wait
has "$err" "exceeded its time limit of 1s" "the room's limit"
expect 7 "SQL stops at the service's limit" as run "$fits_room" count --wait
has "$err" "the job exceeded its time limit of 2s, which all its computations share \(dcrd serve --max-job-time\)" \
	"the service's limit, named"
expect 7 "a room created under higher limits runs under the new ones" as run "$defaults_room" sleep --wait
has "$err" "asks for a time limit of 60s; this dcrd allows at most 2s" "and says why"
stop_dcrd

finish
