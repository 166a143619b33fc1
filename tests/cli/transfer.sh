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
cat >room/room.yaml <<'YAML'
version: 1
name: transfer
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload pay, upload blob, run total, fetch total, run files, fetch files]
data:
  pay:
    type: table
    columns:
      - {name: name, type: string}
      - {name: salary, type: float64}
  blob: {type: file}
compute:
  total:
    type: sql
    query: SELECT COUNT(*) AS n, SUM(salary) AS total FROM pay
  files:
    type: python
    script: files.py
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
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

if sandbox_works; then
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
fi

finish
