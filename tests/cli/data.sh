#!/bin/bash
# Data and jobs through the real dcr and dcrd: what leaves the machine is
# ciphertext, schema violations and tampering are refused without touching
# what is stored, uploads survive broken connections and killed processes,
# jobs survive a dcrd restart, results are checked end to end.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/slow.py <<'EOF'
import os, time
time.sleep(float(open("/input/delay").read()))
os.makedirs("/output/sub", exist_ok=True)
open("/output/sub/done.txt", "w").write("done\n")
EOF
cat >room/fail.py <<'EOF'
import sys
print("about to fail")
sys.exit(3)
EOF
cat >room/room.yaml <<'YAML'
version: 1
name: data
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload pay, upload delay, upload blob, run total, fetch total, run big, fetch big,
    run slow, fetch slow, run fail, fetch fail, run pinned, fetch pinned]
data:
  pay:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
      - {name: day, type: date, nullable: true}
  delay: {type: file}
  blob: {type: file}
compute:
  total:
    type: sql
    query: SELECT COUNT(*) AS n, SUM(salary) AS total, MAX(day) AS last FROM pay
  big:
    type: sql
    query: SELECT name, salary FROM pay ORDER BY salary DESC
  slow:
    type: python
    script: slow.py
    mounts: {/input/delay: delay}
  fail:
    type: python
    script: fail.py
    logs: visible
  waiter:
    type: python
    script: wait.py
  pinned:
    type: python
    script: copy.py
    mounts: {/input/a-wait: waiter, /input/b-blob: blob}
YAML
# Waits for SIGUSR1 under a name of this run's own, so the host can act
# while the job that computes it holds its data.
waiter_name=dcr-w$$
cat >room/wait.py <<EOF
import ctypes, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
ctypes.CDLL(None).prctl(15, b"$waiter_name", 0, 0, 0)
signal.sigwait({signal.SIGUSR1})
open("/output/waited", "w").write("yes\n")
EOF
cat >room/copy.py <<'EOF'
open("/output/blob.txt", "w").write(open("/input/b-blob").read())
EOF

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
keystore=$XDG_DATA_HOME/dcr/datasets

# Where dcrd's sandbox cannot work it refuses python computations: the room goes without them.
sandbox=0
sandbox_works && sandbox=1
if [ $sandbox = 0 ]; then
	without_python room/room.yaml
fi

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out

# ---- an upload is ciphertext; the key stays in a private keystore ----
marker=secret-$RANDOM$RANDOM
printf 'name,salary,day\nann,100.5,2024-02-29\n"%s, the second",200,\n' "$marker" >pay.csv
expect 0 "upload" as upload pay.csv
pay=$out
checks=$((checks + 1))
[ "$(stat -c %a "$keystore/$pay.json")" = 600 ] || fail "the key file is not 0600"
[ "$(stat -c %a "$keystore")" = 700 ] || fail "the keystore is not 0700"
[ ! -e "$keystore/$pay.enc" ] && [ ! -e "$keystore/$pay.sums" ] || fail "the keystore kept more than the key of a finished upload"
lacks "$(cat data/blobs/* 2>/dev/null | tr -d '\0')" "$marker" "no plaintext on dcrd's disk"
checks=$((checks + 1))
[ "$(stat -c %a "data/blobs/$pay")" = 600 ] || fail "the blob is not 0600"
expect 0 "publish" as publish "$room" pay "$pay"
lacks "$(cat "$TEST_TMP/dcrd.log")" "$marker" "no data in dcrd's log"

# ---- CSV that breaks the schema: refused, and the published data stays ----
printf 'name,salary,day\nbob,lots,\n' >bad.csv
expect 0 "upload a bad table" as upload bad.csv
bad=$out
expect 6 "publishing data that breaks the schema" as publish "$room" pay "$bad"
has "$err" "record 2, column 'salary'" "the record and column are named"
lacks "$err" "lots" "the value is not quoted"
printf 'name,salary\nbob,1\n' >short.csv
expect 0 "upload a table with a column missing" as upload short.csv
expect 6 "a header that does not match" as publish "$room" pay "$out"
printf 'name,salary,day\nbob,1,2023-02-29\n' >baddate.csv
expect 0 "upload a table with a bad date" as upload baddate.csv
expect 6 "a date that does not exist" as publish "$room" pay "$out"
expect 0 "datasets" as --json datasets "$room"
has "$out" "\"dataset\": \"$pay\"" "the good data is still published"

# ---- tampered ciphertext: refused with exit 9 ----
printf 'x,1,\n' >t.csv
printf 'name,salary,day\n' | cat - t.csv >tamper.csv
expect 0 "upload to tamper with" as upload tamper.csv
tamper=$out
python3 - "data/blobs/$tamper" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-20] ^= 1
open(p, "wb").write(b)
EOF
expect 9 "publishing tampered ciphertext" as publish "$room" pay "$tamper"
has "$err" "does not decrypt with the key" "tampering is named"

# ---- jobs: results and failures ----
expect 0 "run total" as run "$room" total -o total.csv
has "$(cat total.csv)" '^n,total,last$' "the header"
has "$(cat total.csv)" '^2,300.5,2024-02-29$' "count, sum and max date"
expect 0 "run big" as run "$room" big --wait
big=$out
expect 0 "fetch to stdout" as fetch "$big"
has "$out" "^\"$marker, the second\",200" "a quoted field stays quoted"
if [ $sandbox = 1 ]; then
	expect 7 "a failing script" as run "$room" fail --wait
	fail_job=$(as jobs "$room" | awk '$2 == "fail" {print $1}' | tail -1)
	expect 7 "fetching a failed job" "$DCR" -i "$TEST_TMP/alice" fetch "$fail_job"
	has "$err" "about to fail" "visible logs are shown"
	has "$err" "exited with status 3" "the exit status is named"
fi

# ---- a result whose ciphertext was altered on the host: exit 9 ----
expect 0 "run total again" as run "$room" total --wait
job=$out
blob=$(ls -t data/blobs | head -1)
python3 - "data/blobs/$blob" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 1
open(p, "wb").write(b)
EOF
expect 9 "a tampered result" as fetch "$job" -o tampered.csv
checks=$((checks + 1))
[ ! -e tampered.csv ] || fail "a tampered result was written"
ls tampered.csv.part-* >/dev/null 2>&1 && fail "a partial result was left behind"

# ---- a job running when dcrd dies runs again after the restart ----
if [ $sandbox = 1 ]; then
	echo 2 >delay
	expect 0 "upload the delay" as upload delay
	expect 0 "publish the delay" as publish "$room" delay "$out"
	expect 0 "run slow" as run "$room" slow
	slow=$out
	for _ in $(seq 100); do grep -q "job $slow started" "$TEST_TMP/dcrd.log" && break; sleep 0.05; done
	stop_dcrd KILL
	DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
	expect 0 "fetch after the restart" as fetch "$slow" --extract slow-out
	has "$(cat slow-out/sub/done.txt)" '^done$' "the job ran again to the end"
	expect 0 "the earlier result survived" as fetch "$big"
	has "$out" "$marker" "the earlier result is intact"
fi

# ---- data replaced on the host after publishing (same key, other plaintext) is not used ----
if [ -n "${STREAM_TOOL:-}" ]; then
	printf 'name,salary,day\nann,100.5,2024-02-29\n' >swap.csv
	expect 0 "upload the table to swap" as upload swap.csv
	swap=$out
	expect 0 "publish it" as publish "$room" pay "$swap"
	(umask 077 && python3 -c 'import json, sys; sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))["key"]))' \
		"$keystore/$swap.json" >swap.key)
	# The same length: one longer than published fails before its hash is checked (tests/cli/inputs.sh).
	printf 'name,salary,day\nann,999.5,2024-02-29\n' | "$STREAM_TOOL" enc swap.key >"data/blobs/$swap" ||
		fail "re-encrypting under the same key"
	expect 9 "a job refuses data replaced after publishing" as run "$room" total --wait
	has "$err" "is not what was published" "the replacement is named"
	expect 0 "publish the good table again" as publish "$room" pay "$pay"
fi

# ---- uploads survive a dcrd restart and a killed dcr ----
# in_flight: wait until some blob has arrived in part, and print its ID.
in_flight() {
	local f size
	for _ in $(seq 400); do
		for f in data/blobs/*; do
			[ -f "$f" ] || continue
			size=$(stat -c %s "$f")
			if [ "$size" -gt 65536 ] && [ "$size" -lt $((4 << 20)) ]; then
				basename "$f"
				return 0
			fi
		done
		sleep 0.02
	done
	return 1
}
head -c $((4 << 20)) /dev/urandom >big.bin
as upload big.bin --limit-rate 1M >big.id 2>big.err &
upid=$!
in_flight >/dev/null || fail "the upload never started"
stop_dcrd KILL
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
wait "$upid"
urc=$?
checks=$((checks + 1))
[ "$urc" = 0 ] || fail "the upload did not resume by itself after dcrd restarted: $(cat big.err)"
bigid=$(cat big.id)
expect 0 "publish the resumed upload" as publish "$room" blob "$bigid"
want=$(sha256sum big.bin | cut -c1-64)
expect 0 "its SHA-256" as --json datasets "$room"
has "$out" "$want" "the enclave saw exactly the file"

# dcr itself, not a subshell running it, is what gets killed.
"$DCR" -q -i "$TEST_TMP/alice" upload big.bin --limit-rate 1M >/dev/null 2>&1 &
upid=$!
partial=$(in_flight) || fail "the second upload never started"
[ "$partial" = "$bigid" ] && partial=$(in_flight)
kill -KILL "$upid"
wait "$upid" 2>/dev/null
checks=$((checks + 1))
[ -f "$keystore/$partial.sums" ] && [ ! -e "$keystore/$partial.enc" ] ||
	fail "an interrupted upload keeps the digests of what it sent, and no copy of the ciphertext"
expect 6 "publishing a partial upload" as publish "$room" blob "$partial"
has "$err" "not completely uploaded" "the partial upload is named"
expect 0 "upload --resume" as upload --resume "$partial"
checks=$((checks + 1))
[ ! -e "$keystore/$partial.sums" ] || fail "the digests stay after --resume finished"
expect 0 "publish after resuming" as publish "$room" blob "$partial"
expect 1 "resuming a finished upload" as upload --resume "$partial"
has "$err" "uploaded completely already" "a finished upload says so"
expect 2 "a bad --limit-rate" as upload big.bin --limit-rate 5X

# ---- a dataset a running job reads stays until the job ends, even replaced ----
# The review of issue 12's fixes: the job took the room's publications when
# it started and opened the files later; a dataset replaced in the room and
# deleted meanwhile failed the job with an I/O error.
if [ $sandbox = 1 ]; then
	echo first >pin1.txt
	echo second >pin2.txt
	expect 0 "upload the first" as upload pin1.txt
	pin1=$out
	expect 0 "publish it" as publish "$room" blob "$pin1"
	expect 0 "upload the second" as upload pin2.txt
	pin2=$out
	expect 0 "run pinned" as run "$room" pinned
	pinned=$out
	waiter_pid=
	for _ in $(seq 1200); do
		f=$(grep -lx -- "$waiter_name" /proc/[0-9]*/comm 2>/dev/null | head -1)
		[ -n "$f" ] && { f=${f#/proc/}; waiter_pid=${f%/comm}; break; }
		sleep 0.05
	done
	[ -n "$waiter_pid" ] || fail "the job that reads the first dataset never started"
	expect 0 "the second replaces it while the job runs" as publish "$room" blob "$pin2"
	expect 1 "deleting the dataset the running job reads" as upload --delete "$pin1"
	has "$err" "dataset $pin1 is being read by a running job; delete it once the job has ended" \
		"the refusal says why"
	kill -USR1 "$waiter_pid"
	expect 0 "the job ends well" as fetch "$pinned" --extract pinned-out
	has "$(cat pinned-out/blob.txt)" '^first$' "it read the data it started with"
	expect 0 "now the first may be deleted" as upload --delete "$pin1"
fi

finish
