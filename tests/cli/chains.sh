#!/bin/bash
# Python computations that read each other, from a hostile room: a job is
# held to one time limit however its computations chain (dcrd serve
# --max-job-time), computes each computation once however many read it,
# and holds no more of their inputs than each computation's memory limit
# and --max-job-memory allow; a failing computation read by another leaks
# nothing (under ASan, dcrd's exit status shows it).
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
need_sandbox
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem

# Each run draws a token of its own and passes on those of what it reads:
# the result shows how many times each computation ran for it.
cat >room/token.py <<'EOF'
import glob, os, sys, zipfile
seen = ["%s %s" % (sys.argv[1], os.urandom(16).hex())]
for path in sorted(glob.glob("/input/*")):
    with zipfile.ZipFile(path) as z:
        seen += z.read("seen.txt").decode().split("\n")
open("/output/seen.txt", "w").write("\n".join(seen) + "\n")
EOF
# N MiB of random bytes, which no ZIP compresses, written 1 MiB at a time.
cat >room/gen.py <<'EOF'
import os, sys
with open("/output/blob", "wb") as f:
    for _ in range(int(sys.argv[1])):
        f.write(os.urandom(1 << 20))
EOF
printf 'print("sub fails", flush=True)\nraise SystemExit(1)\n' >room/fail.py
printf 'open("/output/x", "w").write("x")\n' >room/read.py
printf 'import time\ntime.sleep(2)\nopen("/output/x", "w").write("x")\n' >room/sleep.py

# room_head NAME PERMISSIONS: a room file up to its computations.
room_head() {
	printf 'version: 1\nname: %s\nenclave: dcrd:sim\nauthentication: {ca: ca.pem}\n' "$1"
	printf 'participants:\n  alice@acme.example: [%s]\ncompute:\n' "$2"
}

# token NAME MOUNTS: a computation that runs token.py as NAME.
token() {
	printf '  %s: {type: python, script: token.py, command: [python3, /code/token.py, %s]%s}\n' "$1" "$1" \
		"${2:+, mounts: {$2\}}"
}
{
	room_head chains "run top, fetch top, run wide, run outer"
	# A lattice: top reads a1 and b1, both read a2 and b2, both read leaf.
	token top "/input/a1: a1, /input/b1: b1"
	token a1 "/input/a2: a2, /input/b2: b2"
	token b1 "/input/a2: a2, /input/b2: b2"
	token a2 "/input/leaf: leaf"
	token b2 "/input/leaf: leaf"
	token leaf ""
	cat <<'YAML'
  # Two inputs of 20 MiB under a limit of 32 MiB.
  wide:
    type: python
    script: read.py
    mounts: {/input/g1: g1, /input/g2: g2}
    limits: {memory: 32MiB}
  g1: {type: python, script: gen.py, command: [python3, /code/gen.py, "20"]}
  g2: {type: python, script: gen.py, command: [python3, /code/gen.py, "20"]}
  # A computation read by another fails, with logs.
  outer: {type: python, script: read.py, mounts: {/input/inner: inner}}
  inner: {type: python, script: fail.py, logs: visible}
YAML
} >room/room.yaml

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out

# ---- each computation runs once in a job, however many read it ----
# Without that, leaf would run four times for top (2^depth in a deeper lattice).
expect 0 "run the lattice" as run "$room" top --wait || finish
expect 0 "fetch it" as fetch "$out" --extract lattice
checks=$((checks + 1))
runs=$(sort -u lattice/seen.txt | awk 'NF {print $1}' | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
[ "$runs" = "a1:1 a2:1 b1:1 b2:1 leaf:1 top:1 " ] || fail "runs per computation in one job: $runs"

# ---- a computation's inputs fit its memory limit, or it fails before holding more ----
expect 7 "inputs beyond the memory limit" as run "$room" wide --wait
has "$err" "the inputs of computation 'wide' come to more than its memory limit of 32MiB" "said, with the limit"

# ---- a failing computation read by another ----
expect 7 "a failing computation read by another" as run "$room" outer --wait
has "$err" "computing 'inner', which this one reads: the command exited with status 1" "the inner failure is named"
stop_dcrd TERM
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd's exit status after SIGTERM is $rc (a leak under ASan?): $(tail -20 dcrd.log)"

# ---- one time limit for the whole job ----
# Under --max-job-time 5s, three computations of 2 s each in a chain; and an
# SQL query read after 2 s of python gets what is left, not 5 s of its own.
{
	room_head budgets "run s0, run s2, run q0"
	cat <<'YAML'
  s0: {type: python, script: sleep.py, mounts: {/input/s1: s1}, limits: {time: 5s, memory: 64MiB}}
  s1: {type: python, script: sleep.py, mounts: {/input/s2: s2}, limits: {time: 5s, memory: 64MiB}}
  s2: {type: python, script: sleep.py, limits: {time: 5s, memory: 64MiB}}
  q0: {type: python, script: read.py, mounts: {/input/a: s2, /input/b: count}, limits: {time: 5s, memory: 64MiB}}
  count:
    type: sql
    query: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000) SELECT COUNT(*) AS n FROM c
YAML
} >room/budgets.yaml
start_dcrd data --max-job-time 5s || finish
expect 0 "create the budgets room" as create room/budgets.yaml || finish
room=$out
expect 0 "one computation of 2 s fits in 5 s" as run "$room" s2 --wait
expect 7 "three in a chain do not" as run "$room" s0 --wait
# Which of the three the limit cuts short depends on the machine's load
# (python starts slowly under ASan): only the limit and its name matter.
has "$err" "the job exceeded its time limit of 5s, which all its computations share \(dcrd serve --max-job-time\)$" \
	"the job's limit is named"
expect 7 "SQL gets what is left of the job's time" as run "$room" q0 --wait
has "$err" "computing 'count', which this one reads: the job exceeded its time limit of 5s" "the job's limit, not SQL's"
stop_dcrd TERM
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd's exit status after SIGTERM is $rc: $(tail -20 dcrd.log)"

# ---- one memory budget for the whole job (no time limit but the default hour) ----
# Under --max-job-memory 64MiB, a chain that holds three results of 22 MiB
# at once for the computations still to run, each of which fits.
# And the lattice top: it reads x (40 MiB) and y (reads d1, 40 MiB) and w0,
# w1; x reads p, which reads d0 (40 MiB), and w0 reads d0 too: once x has
# run, d0 is still held for w0, and x's result does not fit beside it in
# 64 MiB. The budget left for x's result is what the job holds after x
# ran, not before.
{
	room_head lattice "run j0, run top"
	L='limits: {memory: 64MiB}'
	echo "  j0: {type: python, script: read.py, mounts: {/input/a: k0, /input/b: j1}, $L}"
	echo "  j1: {type: python, script: read.py, mounts: {/input/a: k1, /input/b: j2}, $L}"
	echo "  j2: {type: python, script: read.py, mounts: {/input/a: k2}, $L}"
	for k in k0 k1 k2; do
		echo "  $k: {type: python, script: gen.py, command: [python3, /code/gen.py, \"22\"], $L}"
	done
	echo "  top: {type: python, script: read.py, mounts: {/input/a: x, /input/b: y, /input/c: w0, /input/d: w1}, $L}"
	echo "  x: {type: python, script: gen.py, command: [python3, /code/gen.py, \"40\"], mounts: {/input/p: p}, $L}"
	echo "  p: {type: python, script: read.py, mounts: {/input/d: d0}, $L}"
	echo "  y: {type: python, script: read.py, mounts: {/input/d: d1}, $L}"
	echo "  w0: {type: python, script: read.py, mounts: {/input/d: d0}, $L}"
	echo "  w1: {type: python, script: read.py, mounts: {/input/d: d1}, $L}"
	for d in d0 d1; do
		echo "  $d: {type: python, script: gen.py, command: [python3, /code/gen.py, \"40\"], $L}"
	done
} >room/lattice.yaml
start_dcrd data --max-job-memory 64MiB || finish
expect 0 "create the lattice room" as create room/lattice.yaml || finish
room=$out
expect 7 "the inputs held at once exceed --max-job-memory" as run "$room" j0 --wait
has "$err" "computing 'j1', which this one reads: computing 'j2', which this one reads: the inputs that this job's \
python computations need at once come to more than 64MiB, the most dcrd holds for one job \(dcrd serve \
--max-job-memory\)" "the budget is named"
expect 7 "a result that does not fit beside what an earlier computation left held" as run "$room" top --wait
has "$err" "\(top\) failed: the inputs that this job's python computations need at once come to more than 64MiB" \
	"the budget is named"
stop_dcrd TERM
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd's exit status after SIGTERM is $rc: $(tail -20 dcrd.log)"

finish
