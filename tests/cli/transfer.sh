#!/bin/bash
# Data in and out through the real dcr and dcrd: where -o writes (standard
# output, through links, devices and FIFOs, atomically over files), one
# file of a ZIP result, raw results, uploads from standard input, upload
# and publish in one step, and the local list of uploads.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/files.py <<'EOF'
import os
os.makedirs("/output/sub", exist_ok=True)
open("/output/report.txt", "w").write("the report\n")
open("/output/sub/data.bin", "wb").write(bytes(range(256)))
EOF
cat >room/raw.py <<'EOF'
from dcr_enclave import Enclave
with Enclave() as e:
    e.write(bytes(range(256)) * 3 + b"\x00\r\n")
EOF
cat >room/two.py <<'EOF'
from dcr_enclave import Enclave
with Enclave() as e:
    e.write(b"a", "one.bin")
    e.write(b"b", "sub/two.bin")
EOF
cat >room/nothing.py <<'EOF'
import os
os.makedirs("/output/empty")
EOF
cat >room/reads.py <<'EOF'
data = open("/input/raw", "rb").read()
assert data == bytes(range(256)) * 3 + b"\x00\r\n", data[:20]
open("/output/ok.txt", "w").write("%d bytes\n" % len(data))
EOF
cat >room/room.yaml <<'YAML'
version: 1
name: transfer
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload pay, upload blob, run total, fetch total, run files, fetch files, run raw, fetch raw,
    run two, fetch two, run nothing, fetch nothing, run reads, fetch reads]
data:
  pay:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
  blob: {type: file}
  other: {type: file}
compute:
  total:
    type: sql
    query: SELECT COUNT(*) AS n, SUM(salary) AS total FROM pay
  files:
    type: python
    script: files.py
  raw:
    type: python
    script: raw.py
    result: file
  two:
    type: python
    script: two.py
    result: file
    logs: visible
  nothing:
    type: python
    script: nothing.py
    result: file
  reads:
    type: python
    script: reads.py
    mounts: {/input/raw: raw}
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

# Where dcrd's sandbox cannot work it refuses python computations: the room goes without them.
sandbox=0
sandbox_works && sandbox=1
created=room/room.yaml
if [ $sandbox = 0 ]; then
	cp room/room.yaml room/sql.yaml
	without_python room/sql.yaml
	created=room/sql.yaml
fi

start_dcrd data || finish
expect 0 "create" as create "$created" || finish
room=$out
printf 'name,salary\nann,100\nbob,200\n' >pay.csv
expect 0 "upload" as upload pay.csv
expect 0 "publish" as publish "$room" pay "$out"
want=$'n,total\n2,300.0'

# ---- -o -: standard output ----
expect 0 "run -o -" as run "$room" total -o -
[ "$out" = "$want" ] || fail "run -o - prints the result: got '$out'"
checks=$((checks + 1))
[ ! -e ./- ] || fail "run -o - made a file called '-'"
expect 0 "run --wait" as run "$room" total --wait
job=$out
expect 0 "fetch -o -" as fetch "$job" -o -
[ "$out" = "$want" ] || fail "fetch -o - prints the result: got '$out'"

# ---- -o PATH: a regular file is replaced atomically, nothing else is replaced ----
echo old >res.csv
ln res.csv res-hardlink.csv
expect 0 "fetch -o over a file" as fetch "$job" -o res.csv
checks=$((checks + 1))
[ "$(cat res.csv)" = "$want" ] && [ "$(cat res-hardlink.csv)" = old ] ||
	fail "a regular file is replaced by a new one (rename), not rewritten in place"
lacks "$(ls)" 'part-' "no temporary file is left"

echo old >target.csv
ln -s target.csv link.csv
expect 0 "fetch -o through a symbolic link" as fetch "$job" -o link.csv
checks=$((checks + 1))
[ -L link.csv ] || fail "the symbolic link given to -o was replaced"
[ "$(cat target.csv)" = "$want" ] || fail "the link's target holds the result: $(cat target.csv)"

ln -s nowhere.csv dangling.csv
expect 0 "fetch -o through a dangling link" as fetch "$job" -o dangling.csv
checks=$((checks + 1))
[ -L dangling.csv ] && [ "$(cat nowhere.csv)" = "$want" ] || fail "a dangling link's target is created"

# /dev/stdout is a link to /proc/self/fd/1: a link of our own to it behaves alike.
ln -s /proc/self/fd/1 my-stdout
expect 0 "fetch -o a link to standard output" as fetch "$job" -o my-stdout
[ "$out" = "$want" ] || fail "-o a link to /proc/self/fd/1 prints the result: got '$out'"
checks=$((checks + 1))
[ -L my-stdout ] || fail "the link to standard output was replaced"
echo first >appended.csv
as fetch "$job" -o my-stdout >>appended.csv
checks=$((checks + 1))
[ "$(head -1 appended.csv)" = first ] && [ "$(tail -1 appended.csv)" = "2,300.0" ] ||
	fail "-o /dev/stdout keeps standard output as it is (appending): $(cat appended.csv)"

mkfifo fifo
cat fifo >from-fifo &
catpid=$!
expect 0 "fetch -o a FIFO" as fetch "$job" -o fifo
[ "$rc" = 0 ] || : >fifo # a dcr that never opened it leaves cat waiting for a writer
wait "$catpid"
checks=$((checks + 1))
[ -p fifo ] || fail "the FIFO was replaced"
[ "$(cat from-fifo)" = "$want" ] || fail "the FIFO's reader got the result: $(cat from-fifo)"

if mknod null-dev c 1 3 2>/dev/null; then
	expect 0 "fetch -o a device" as fetch "$job" -o null-dev
	checks=$((checks + 1))
	[ -c null-dev ] || fail "the device given to -o was replaced"
	lacks "$(ls)" 'null-dev.part' "no temporary file beside the device"
else
	echo "NOTE: cannot make a device node here (not root): -o DEVICE is left out"
fi

# The real /dev/stdout as root, in a mount namespace of its own with a /dev
# of its own, so a failure cannot replace the host's /dev/stdout.
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	out=$(unshare -m bash -c '
		mkdir -p olddev && mount --bind /dev olddev || exit 90
		mount -t tmpfs tmpfs /dev || exit 91
		for n in null zero urandom random; do
			touch /dev/$n && mount --bind olddev/$n /dev/$n || exit 92
		done
		umount olddev
		ln -s /proc/self/fd/0 /dev/stdin && ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd/2 /dev/stderr
		"$0" -q -i alice fetch "$1" -o /dev/stdout || exit $?
		[ -L /dev/stdout ] || exit 93
		ls /dev | grep -q part && exit 94
		exit 0' "$DCR" "$job" 2>"$TEST_TMP/stderr")
	rc=$?
	checks=$((checks + 1))
	[ "$rc" = 0 ] || fail "-o /dev/stdout as root: exit $rc ($(cat "$TEST_TMP/stderr"))"
	[ "$out" = "$want" ] || fail "-o /dev/stdout as root prints the result: got '$out'"
else
	echo "NOTE: not root, or no mount namespaces: -o /dev/stdout as root is left out"
fi

mkdir adir
expect 1 "-o a directory" as fetch "$job" -o adir
has "$err" "cannot write 'adir'" "the directory is named"

# ---- standard input: a stream of unknown length ----
keystore=$XDG_DATA_HOME/dcr/datasets
printf 'name,salary\ncat,5\n' | as upload - >stdin.id
checks=$((checks + 1))
sid=$(cat stdin.id)
[ -f "$keystore/$sid.json" ] || fail "upload - made no dataset: '$sid'"
expect 0 "uploads --json" as --json uploads
has "$out" "\"name\": \"stdin\"" "a dataset from standard input is called stdin"
printf 'x\n' | as upload - --name piped.txt >/dev/null
expect 0 "uploads after --name" as uploads
has "$out" "piped.txt" "--name names a stream"
expect 0 "upload from a FIFO" as upload <(printf 'from a pipe\n') --name fifo.txt
expect 0 "publish the FIFO's upload" as --json publish "$room" blob "$out"
has "$out" "$(printf 'from a pipe\n' | sha256sum | cut -c1-64)" "the enclave saw exactly the stream"
expect 2 "upload a directory" as upload adir
has "$err" "'adir' is a directory" "a directory is refused"
# Nothing is held whole in memory: 64 MiB through 60 MB of address space (dcr needs about 40) (not under ASan, which maps terabytes).
if ! grep -q __asan_init "$DCR"; then
	head -c $((64 << 20)) /dev/zero | tr '\0' 'a' >big.txt
	rm -f big.err
	(ulimit -v 60000 && head -c $((64 << 20)) /dev/zero | tr '\0' 'a' | "$DCR" -q -i alice upload - >big.id 2>big.err)
	checks=$((checks + 1))
	[ -s big.id ] || fail "a 64 MiB stream does not upload within 60 MB of address space: $(cat big.err)"
	expect 0 "publish the big stream" as --json publish "$room" blob "$(cat big.id)"
	has "$out" "$(sha256sum <big.txt | cut -c1-64)" "the big stream arrived whole"
	rm -f big.txt
fi

# ---- upload and publish in one step ----
printf 'name,salary\ndan,1000\n' >more.csv
expect 0 "publish FILE" as --json publish "$room" pay more.csv
has "$out" '"name": "more.csv"' "the file was uploaded and published"
has "$out" '"rows": 1' "the node took it"
expect 0 "total after publish FILE" as run "$room" total -o -
has "$out" '^1,1000.0$' "the room reads the file published in one step"
printf 'name,salary\neve,7\n' | as -q publish "$room" pay - --name eve.csv
checks=$((checks + 1))
[ $? = 0 ] || fail "publish - (standard input)"
expect 0 "total after publish -" as run "$room" total -o -
has "$out" '^1,7.0$' "publish - reads standard input"
expect 0 "uploads lists the publications" as uploads
has "$out" "eve.csv .* complete +${room:0:12}:pay" "where a dataset was published, from the keystore"
sid8=${sid:0:8}
: >"$sid8"
expect 2 "a word that is both a dataset and a file" as publish "$room" pay "$sid8"
has "$err" "both a dataset in the keystore and a file; write ./$sid8" "the ambiguity is explained"
expect 6 "./WORD is the file" as publish "$room" pay "./$sid8"
rm -f "$sid8"
expect 0 "a prefix is a dataset" as publish "$room" pay "$sid8"
expect 2 "--name with a dataset" as publish "$room" pay "$sid" --name x
expect 4 "publish a file that does not exist" as publish "$room" pay nothing.csv
has "$err" "cannot open 'nothing.csv'" "the missing file is named"
expect 4 "publish FILE to a room that does not exist" as publish ffffffffffff pay more.csv
n_before=$(ls "$keystore" | wc -l)
expect 3 "publish FILE to a node one may not upload to" as publish "$room" other more.csv
has "$err" "more.csv is uploaded as dataset [0-9a-f]{32}, but not published \(dcr publish" "how to try again"

# ---- dcr uploads: the keystore ----
expect 0 "uploads" as uploads
has "$out" '^DATASET +NAME +BYTES +STATUS +PUBLISHED +SHA-256$' "the header"
has "$out" "^$sid +stdin +[0-9]+ +complete +${room:0:12}:pay +[0-9a-f]{64}$" "a published upload"
expect 0 "uploads --json" as --json uploads
has "$out" "\"dataset\": \"$sid\"" "--json lists it"
has "$out" '"complete": true' "--json says complete"
partial=$(partial_upload "$TEST_TMP/alice" more.csv)
expect 0 "uploads with a partial upload" as uploads
has "$out" "^$partial +more.csv +[0-9]+ +partial +- " "an unfinished upload is partial"
expect 2 "--forget without --yes, not on a terminal" as uploads --forget "$partial" </dev/null
has "$err" "add --yes" "the refusal says how"
checks=$((checks + 1))
[ -f "$keystore/$partial.json" ] || fail "a refused --forget removed the key"
# On a terminal: asked, and "n" keeps it, "y" removes it.
pty() { timeout 120 python3 -c 'import os, pty, sys
os.environ["ANSWER"] = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b""
sent = False
while True:
    try:
        b = os.read(fd, 4096)
    except OSError:
        break
    if not b:
        break
    out += b
    if not sent and b"[y/N]" in out:
        os.write(fd, sys.argv[1].encode() + b"\n")
        sent = True
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))' "$@"; }
expect 1 "--forget answered no" pty n "$DCR" -i alice uploads --forget "$partial"
has "$out" "forget the key of dataset $partial \(more.csv, never published\)" "the question names the dataset"
checks=$((checks + 1))
[ -f "$keystore/$partial.json" ] || fail "answering no removed the key"
expect 0 "--forget answered yes" pty y "$DCR" -i alice uploads --forget "$partial"
checks=$((checks + 1))
[ ! -e "$keystore/$partial.json" ] && [ ! -e "$keystore/$partial.enc" ] || fail "--forget left the key or ciphertext"
expect 0 "--forget --yes" as uploads --forget "$sid8" --yes
checks=$((checks + 1))
[ ! -e "$keystore/$sid.json" ] || fail "--forget --yes left the key"
expect 4 "--forget of an unknown dataset" as uploads --forget 0123456789abcdef --yes
expect 2 "--yes alone" as uploads --yes
chmod 644 "$keystore/$(ls "$keystore" | grep json | head -1)"
expect 6 "a key file others may read" as uploads
has "$err" "accessible to other users" "the unsafe key file is named"
has "$out" "complete" "the other uploads are still listed"
chmod 600 "$keystore"/*.json
XDG_DATA_HOME=$TEST_TMP/empty expect 0 "an empty keystore" as uploads
has "$out" "no uploads" "an empty keystore says so"

if [ $sandbox = 1 ]; then
	# ---- a ZIP result: one file of it, or all ----
	expect 0 "run files" as run "$room" files --wait
	zjob=$out
	expect 0 "fetch --file" as fetch "$zjob" --file report.txt
	[ "$out" = "the report" ] || fail "--file prints the one file: got '$out'"
	expect 0 "fetch --file NAME -o FILE" as fetch "$zjob" --file sub/data.bin -o data.bin
	python3 -c 'import sys; sys.exit(open("data.bin","rb").read() != bytes(range(256)))' ||
		fail "--file -o writes the file's bytes exactly"
	checks=$((checks + 1))
	expect 4 "--file of a file the result lacks" as fetch "$zjob" --file nothing.txt
	has "$err" "no file 'nothing.txt' \(it has report.txt, sub/data.bin\)" "the files it has are named"
	expect 4 "--file of a directory" as fetch "$zjob" --file sub/
	expect 2 "--file of a CSV result" as fetch "$job" --file x
	has "$err" "--file is for ZIP results" "why --file does not apply"
	expect 2 "--file with --extract" as fetch "$zjob" --file report.txt --extract d
	expect 0 "fetch -o - of a ZIP" as fetch "$zjob" -o - 
	as fetch "$zjob" -o - >z.zip
	python3 -c 'import zipfile; assert zipfile.ZipFile("z.zip").read("report.txt") == b"the report\n"' ||
		fail "-o - writes the ZIP"
	checks=$((checks + 1))

	# ---- result: file: the output's one file, its bytes exactly ----
	as run "$room" raw -o raw.bin
	checks=$((checks + 1))
	python3 -c 'import sys; sys.exit(open("raw.bin", "rb").read() != bytes(range(256)) * 3 + b"\x00\r\n")' ||
		fail "result: file gives back exactly what enclave.write wrote"
	expect 0 "jobs" as --json jobs "$room"
	has "$out" '"result_type": "application/octet-stream"' "a raw result's type"
	expect 0 "jobs (text)" as jobs "$room"
	has "$out" "raw .* 771 bytes \(file\)" "jobs shows a raw result as a file"
	expect 7 "result: file with two files" as run "$room" two -o x.bin
	has "$err" "result is one file \(result: file\), but its output directory holds 2 files" "two files are refused"
	checks=$((checks + 1))
	[ ! -e x.bin ] || fail "a refused result was written"
	expect 7 "result: file with no file" as run "$room" nothing -o x.bin
	has "$err" "holds 0 files" "no file is refused"
	expect 0 "a raw result mounted in another computation" as run "$room" reads --wait
	expect 0 "--file of the reader's result" as fetch "$out" --file ok.txt
	has "$out" "^771 bytes$" "the reader got the raw bytes"
	# The key changes the room; writing the default (zip) out does not.
	sed 's/^    result: file$//' room/room.yaml >room/plain.yaml
	sed 's/^    result: file$/    result: zip/' room/room.yaml >room/zip.yaml
	expect 0 "dry-run without result" as create --dry-run room/plain.yaml
	plain=$(head -1 <<<"$out")
	expect 0 "dry-run with result: zip" as create --dry-run room/zip.yaml
	[ "$(head -1 <<<"$out")" = "$plain" ] || fail "result: zip is the default and changes no room ID"
	expect 0 "dry-run with result: file" as create --dry-run room/room.yaml
	[ "$(head -1 <<<"$out")" != "$plain" ] || fail "result: file changes the room ID"
	has "$out" "result: one file" "the summary shows result: file"
	checks=$((checks + 2))
	sed 's/^    result: file$/    result: raw/' room/room.yaml >room/bad.yaml
	expect 6 "result: raw" as create --dry-run room/bad.yaml
	has "$err" "bad.yaml:[0-9]+:[0-9]+: result must be 'zip' or 'file'" "a bad result is named with its position"
fi

finish
