#!/bin/bash
# Reading a job's inputs: a worker's refusal for a limit stops the reading
# at once, an input published larger than a limit is refused unread, and no
# input is read past the size it was published with. How much dcrd read is
# measured (rchar in /proc/PID/io), never how long it took.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
printf 'open("/output/x", "w").write("x")\n' >room/read.py
cat >room/room.yaml <<'YAML'
version: 1
name: inputs
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload t, upload doc, upload note, run count, run small, run copy]
data:
  t:
    type: table
    columns:
      - {name: n, type: int64}
      - {name: s, type: string}
  doc: {type: file}
  note: {type: file}
compute:
  count: {type: sql, query: "SELECT COUNT(*) AS n FROM t"}
  small: {type: python, script: read.py, mounts: {/input/doc: doc}, limits: {memory: 16MiB}}
  copy: {type: python, script: read.py, mounts: {/input/note: note}, limits: {memory: 64MiB}}
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
# What dcrd has read so far, in bytes: files and sockets alike.
read_bytes() { awk '$1 == "rchar:" {print $2}' "/proc/$DCRD_PID/io"; }
MiB=$((1 << 20))
# read_less MIB WHAT: fail unless dcrd read less than MIB MiB since $before.
read_less() {
	local read
	read=$(($(read_bytes) - before))
	checks=$((checks + 1))
	[ "$read" -lt $(($1 * MiB)) ] || fail "$2: dcrd read $((read / MiB)) MiB"
}

# 40 MiB of table (rows of 1000 bytes), 40 MiB of file, 1 KiB of note.
python3 - <<'PY'
with open("t.csv", "w") as f:
    f.write("n,s\n")
    for i in range(40 * 1024):
        f.write("%d,%s\n" % (i, "x" * (1000 - 2 - len(str(i)))))
PY
head -c $((40 * MiB)) /dev/urandom >doc.bin
head -c 1024 /dev/urandom >note.bin

# Where dcrd's sandbox cannot work it refuses python computations: the room goes without them.
sandbox=0
sandbox_works && sandbox=1
[ $sandbox = 1 ] || without_python room/room.yaml

start_dcrd data --max-sql-memory 16MiB || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
for node in t doc note; do
	case $node in t) file=t.csv ;; doc) file=doc.bin ;; note) file=note.bin ;; esac
	expect 0 "upload $node" as upload "$file" || finish
	up=$out
	expect 0 "publish $node" as publish "$room" "$node" "$up" || finish
	[ "$node" = note ] && note_up=$up
done

# ---- SQL: loading stops where the memory limit refuses, not at the end of the table ----
before=$(read_bytes)
expect 7 "a table over --max-sql-memory" as run "$room" count --wait
has "$err" "computation 'count' exceeded its memory limit" "the limit is named"
read_less 32 "a 40 MiB table refused at 16 MiB of SQL memory"

if [ $sandbox = 1 ]; then
	# ---- python: an input published larger than the reader's memory is refused unread ----
	before=$(read_bytes)
	expect 7 "a 40 MiB input of a computation with 16 MiB" as run "$room" small --wait
	has "$err" "the inputs of computation 'small' come to more than its memory limit of 16MiB" "the limit is named"
	read_less 4 "an input refused for its published size"

	# ---- an input longer than published is an integrity violation as soon as it is ----
	(umask 077 && python3 -c 'import json, sys; sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))["key"]))' \
		"$XDG_DATA_HOME/dcr/datasets/$note_up.json" >note.key)
	"$STREAM_TOOL" enc note.key <doc.bin >"data/blobs/$note_up" || fail "re-encrypting note under its key"
	before=$(read_bytes)
	expect 9 "an input re-encrypted longer than published" as run "$room" copy --wait
	has "$err" "the data of node 'note' is not the blob that was published \(altered on the host\): it holds more than \
the 1024 bytes published" "the check is named"
	read_less 4 "a 1 KiB input re-encrypted to 40 MiB"
fi

stop_dcrd TERM
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "dcrd's exit status after SIGTERM is $rc: $(tail -20 dcrd.log)"
finish
