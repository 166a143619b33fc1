#!/bin/bash
# The host tampers with encrypted blobs in dcrd's data directory: every kind
# of tampering, on every path that reads a blob (dcr fetch to a file, to
# standard output and into a directory; dcr run --wait -o; dcr publish; a
# job's inputs), ends with exit status 9 and a message naming the check that
# failed, and leaves nothing behind at -o or --extract paths. A blob's file
# deleted, or replaced by a directory, a FIFO or a symbolic link, is caught
# the same way on publish and for job inputs, SQL and python alike.
. "$(dirname "$0")/lib.sh"

TAMPER="$(dirname "$0")/tamper.py"
cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca

sandbox=0
sandbox_works && sandbox=1

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/copy.py <<'EOF'
import shutil
shutil.copy("/input/doc", "/output/doc")
EOF
cat >room/pair.py <<'EOF'
import os
os.makedirs("/output/a")
for name in ("a/one.txt", "m.txt", "z.txt"):
    open("/output/" + name, "w").write(name + "\n")
EOF
cat >room/room.yaml <<'YAML'
version: 1
name: tamper
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload big, upload doc, run all, fetch all, run copy, fetch copy, run pair, fetch pair]
data:
  big:
    type: table
    columns:
      - {name: id, type: int64}
      - {name: text, type: string}
  doc: {type: file}
compute:
  all:
    type: sql
    query: SELECT id, text FROM big ORDER BY id
  copy:
    type: python
    script: copy.py
    mounts: {/input/doc: doc}
  pair:
    type: python
    script: pair.py
YAML
# Where dcrd's sandbox cannot work it refuses python computations: the room goes without them.
if [ $sandbox = 0 ]; then
	sed -i -e '/^  copy:$/,$d' -e 's/, run copy, fetch copy, run pair, fetch pair//' room/room.yaml
fi

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
keystore=$XDG_DATA_HOME/dcr/datasets

# The kinds of tampering (tests/cli/tamper.py) and what the error must name.
# Blobs here are three chunks of the default 1 MiB, the last one partial.
declare -A names=(
	[reorder]='chunk 0: authentication failed'
	[duplicate]='chunk 1: authentication failed'
	[flip-chunk]='chunk 1: authentication failed'
	[flip-tag]='chunk 0: authentication failed'
	[append]='chunk 2: authentication failed'
	[truncate-boundary]='stream truncated after chunk 1'
	[truncate-inside]='chunk 2: authentication failed'
	[truncate-header]='stream truncated inside the header \(40 of 76 bytes\)'
	[header-0]='not a dcr encrypted stream \(bad magic\)'
	[header-7]='unsupported stream version 0'
	[header-9]='wrong key or corrupted header'
	[header-20]='wrong key or corrupted header'
	[header-60]='wrong key or corrupted header'
	[replace]='wrong key or corrupted header'
	[empty]='not a dcr encrypted stream \(empty input\)'
)
kinds=(reorder duplicate flip-chunk flip-tag append truncate-boundary truncate-inside truncate-header
	header-0 header-7 header-9 header-20 header-60 replace empty)

# tamper KIND BLOB: alter DATA/blobs/BLOB (a pristine copy is kept in pristine/BLOB).
mkdir -p pristine
tamper() {
	[ -f "pristine/$2" ] || cp "data/blobs/$2" "pristine/$2"
	python3 "$TAMPER" apply "$1" "data/blobs/$2" "$TEST_TMP/other.blob" || fail "tamper.py $1 $2"
}
restore() { cp "pristine/$1" "data/blobs/$1"; }
newest_blob() { ls -t data/blobs | head -1; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out

python3 - <<'PY'
import os
with open("big.csv", "w") as f:
    f.write("id,text\n")
    for i in range(45000):
        f.write("%d,row %d of the table that the host would like to change %s\n" % (i, i, "x" * (i % 7)))
open("doc.bin", "wb").write(os.urandom(5 << 19))
PY
expect 0 "upload the table" as upload big.csv || finish
big=$out
expect 0 "publish it" as publish "$room" big "$big" || finish
expect 0 "upload the file" as upload doc.bin || finish
doc=$out
expect 0 "publish it" as publish "$room" doc "$doc" || finish
cp "data/blobs/$doc" other.blob # another blob of the same room, under another key

# ---- dcr fetch: to a file, to standard output, into a directory ----
expect 0 "run all" as run "$room" all --wait || finish
job=$out
blob=$(newest_blob)
expect 0 "the untouched result" as fetch "$job" -o all.csv
want=$(sha256sum all.csv | cut -c1-64)
checks=$((checks + 1))
[ "$(stat -c %s "data/blobs/$blob")" -gt $((2 << 20)) ] || fail "the result is not three chunks long"
for kind in "${kinds[@]}"; do
	tamper "$kind" "$blob"
	rm -f out.csv
	expect 9 "fetch -o, $kind" as fetch "$job" -o out.csv
	has "$err" "^dcr: fetch: result of job $job: .*${names[$kind]}" "fetch -o, $kind: the check is named"
	checks=$((checks + 1))
	[ ! -e out.csv ] && ! ls out.csv.part-* >/dev/null 2>&1 || fail "fetch -o, $kind: a file was left behind"
	expect 9 "fetch to stdout, $kind" as fetch "$job"
	has "$err" "${names[$kind]}" "fetch to stdout, $kind: the check is named"
	checks=$((checks + 1))
	[ -z "$out" ] || fail "fetch to stdout, $kind: ${#out} bytes were written"
	restore "$blob"
done
expect 0 "the restored result" as fetch "$job" -o again.csv
has "$(sha256sum again.csv)" "^$want " "the restored result is intact"

# ---- dcr fetch: the result's file gone or replaced by something that is not a file ----
# (dcrd answered 500 and dcr exited 1, as for a failing server: it is the host's tampering, exit 9)
cp -n "data/blobs/$blob" "pristine/$blob"
for kind in missing directory fifo symlink; do
	rm -f "data/blobs/$blob"
	case $kind in
	directory) mkdir "data/blobs/$blob" ;;
	fifo) mkfifo "data/blobs/$blob" ;;
	symlink) ln -s "$TEST_TMP/pristine/$blob" "data/blobs/$blob" ;;
	esac
	if [ $kind = missing ] || [ $kind = symlink ]; then name="blob $blob is missing from the data directory"
	else name="blob $blob in the data directory is not a regular file"
	fi
	rm -f out.csv
	expect 9 "fetch -o, the result $kind" timeout 120 "$DCR" -q -i "$TEST_TMP/alice" fetch "$job" -o out.csv
	has "$err" "^dcr: fetch: result of job $job: .*$name" "fetch -o, the result $kind: named"
	checks=$((checks + 1))
	[ ! -e out.csv ] && ! ls out.csv.part-* >/dev/null 2>&1 || fail "fetch -o, the result $kind: a file was left behind"
	expect 9 "fetch to stdout, the result $kind" timeout 120 "$DCR" -q -i "$TEST_TMP/alice" fetch "$job"
	rm -rf "data/blobs/$blob"
	restore "$blob"
done
expect 0 "the result restored once more" as fetch "$job" -o again.csv

if [ $sandbox = 1 ]; then
	expect 0 "run copy" as run "$room" copy --wait || finish
	zjob=$out
	zblob=$(newest_blob)
	for kind in "${kinds[@]}"; do
		tamper "$kind" "$zblob"
		rm -rf out-dir
		expect 9 "fetch --extract, $kind" as fetch "$zjob" --extract out-dir
		has "$err" "^dcr: fetch: result of job $zjob: .*${names[$kind]}" "fetch --extract, $kind: the check is named"
		checks=$((checks + 1))
		[ ! -e out-dir ] || fail "fetch --extract, $kind: the directory was made"
		restore "$zblob"
	done
	expect 0 "the restored ZIP" as fetch "$zjob" --extract out-dir
	has "$(cmp doc.bin out-dir/doc && echo same)" '^same$' "the extracted file is intact"

	# ---- --extract is all or nothing: a file that exists, a disk that fills ----
	expect 0 "run pair" as run "$room" pair --wait || finish
	pjob=$out
	for clash in a/one.txt m.txt z.txt; do
		rm -rf pair-dir
		mkdir -p pair-dir/a
		echo kept >"pair-dir/$clash"
		expect 1 "--extract where $clash exists" as fetch "$pjob" --extract pair-dir
		has "$err" "'pair-dir/$clash' exists; nothing was extracted" "--extract where $clash exists: named"
		has "$(cd pair-dir && find . -type f | sort | tr '\n' ' ')" "^\./$clash \$" \
			"--extract where $clash exists: nothing else was written"
		has "$(cat "pair-dir/$clash")" '^kept$' "--extract where $clash exists: the file is kept"
	done
	rm "pair-dir/$clash"
	expect 0 "--extract into a directory that has others" as fetch "$pjob" --extract pair-dir
	has "$(cd pair-dir && find . -type f | sort | tr '\n' ' ')" '^\./a/one.txt \./m.txt \./z.txt $' \
		"--extract adds to a directory"
	mkdir -p small
	if mount -t tmpfs -o size=1M,mode=0700 tmpfs small 2>/dev/null; then
		MOUNTS+=("$TEST_TMP/small")
		expect 1 "--extract onto a full disk" as fetch "$zjob" --extract small/out
		has "$err" "cannot write 'small/out/doc': No space left on device; nothing was extracted" "the full disk is named"
		checks=$((checks + 1))
		[ -z "$(ls -A small)" ] || fail "--extract onto a full disk left: $(ls -AR small)"
	else
		echo "NOTE: cannot mount a tmpfs here: the full-disk --extract check is left out"
	fi
fi

# ---- dcr run --wait -o: the blob is altered between the job's end and the download, or
# withheld on the way ----
names[withhold]='the answer ended after [0-9]+ of the [0-9]+ bytes it announced'
proxy_port=$(free_port)
for kind in "${kinds[@]}" withhold; do
	rm -f run.csv
	python3 "$TAMPER" proxy "$proxy_port" "$DCR_ENDPOINT" "$TEST_TMP/data" "$kind" "$TEST_TMP/other.blob" >"proxy-$kind.out" 2>&1 &
	proxy=$!
	for _ in $(seq 200); do grep -q ready "proxy-$kind.out" 2>/dev/null && break; sleep 0.05; done
	expect 9 "run -o, $kind" as -e "http://127.0.0.1:$proxy_port" run "$room" all -o run.csv
	has "$err" "^dcr: run: result of job [0-9a-f]{12}-[0-9]+: .*${names[$kind]}" "run -o, $kind: the check is named"
	checks=$((checks + 1))
	[ ! -e run.csv ] && ! ls run.csv.part-* >/dev/null 2>&1 || fail "run -o, $kind: a file was left behind"
	kill "$proxy"
	wait "$proxy" 2>/dev/null
done

# ---- dcr publish: dcrd decrypts a blob altered after the upload ----
printf 'id,text\n' >swap.csv
expect 0 "upload to publish" as upload big.csv || finish
up=$out
for kind in "${kinds[@]}"; do
	tamper "$kind" "$up"
	expect 9 "publish, $kind" as publish "$room" big "$up"
	has "$err" "^dcr: publish: dataset $up for node 'big': .*${names[$kind]}" "publish, $kind: the check is named"
	restore "$up"
done
(umask 077 && python3 -c 'import json, sys; sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))["key"]))' \
	"$keystore/$up.json" >up.key)
"$STREAM_TOOL" enc up.key <swap.csv >"data/blobs/$up" || fail "re-encrypting under the same key"
expect 9 "publish, other data under the same key" as publish "$room" big "$up"
has "$err" "decrypts to other data than was uploaded \(SHA-256 differs\)" "publish, same key: the check is named"
restore "$up"
expect 0 "publish the restored upload" as publish "$room" big "$up"

# ---- job inputs: the published blob is altered before a job reads it ----
# (same-key-invalid: data that the table loader refuses, which must not hide that it was replaced)
printf 'id,text\nnot a number,x\n' >invalid.csv
for kind in "${kinds[@]}" same-key same-key-invalid; do
	if [ "$kind" = same-key ] || [ "$kind" = same-key-invalid ]; then
		[ "$kind" = same-key ] && swap=swap.csv || swap=invalid.csv
		"$STREAM_TOOL" enc up.key <"$swap" >"data/blobs/$up" || fail "re-encrypting under the same key"
		name="is not what was published"
	else
		tamper "$kind" "$up"
		name=${names[$kind]}
	fi
	expect 9 "an input, $kind: run --wait" as run "$room" all --wait
	has "$err" "^dcr: run: job [0-9a-f]{12}-[0-9]+ \(all\) failed: .*node 'big'.*$name" "an input, $kind: run names the check"
	ijob=$(sed -n 's/^dcr: run: job \([0-9a-f]*-[0-9]*\) .*/\1/p' <<<"$err")
	expect 9 "an input, $kind: fetch" as fetch "$ijob" -o in.csv
	has "$err" "^dcr: fetch: job $ijob \(all\) failed: .*$name" "an input, $kind: fetch names the check"
	checks=$((checks + 1))
	[ ! -e in.csv ] || fail "an input, $kind: fetch wrote a file"
	expect 0 "an input, $kind: jobs" as --json jobs "$room"
	checks=$((checks + 1))
	JSON=$out python3 - "$ijob" <<'PY' || fail "an input, $kind: jobs --json: $out"
import json, os, sys
j = [j for j in json.loads(os.environ["JSON"]) if j["job"] == sys.argv[1]][0]
assert j["status"] == "failed" and j["error_class"] == "integrity", j
PY
	expect 0 "an input, $kind: jobs" as jobs "$room"
	has "$out" "^$ijob +all +failed +alice@acme.example +[0-9TZ:-]+ +integrity violation: " \
		"an input, $kind: jobs says integrity violation"
	restore "$up"
done
expect 0 "the restored input" as run "$room" all -o restored.csv
has "$(sha256sum restored.csv)" "^$want " "the job reads the restored input"

# ---- the blob's file gone or replaced by something that is not a file: publish and job inputs ----
# (a FIFO would block an open that waits for a writer; timeout stops a dcr that hangs)
for kind in missing directory fifo symlink; do
	rm -f "data/blobs/$up"
	case $kind in
	directory) mkdir "data/blobs/$up" ;;
	fifo) mkfifo "data/blobs/$up" ;;
	symlink) ln -s "$TEST_TMP/pristine/$up" "data/blobs/$up" ;;
	esac
	if [ $kind = missing ]; then name="blob $up is missing from the data directory"
	elif [ $kind = symlink ]; then name="blob $up is missing from the data directory"
	else name="blob $up in the data directory is not a regular file"
	fi
	expect 9 "publish, the blob $kind" timeout 120 "$DCR" -q -i "$TEST_TMP/alice" publish "$room" big "$up"
	has "$err" "^dcr: publish: dataset $up for node 'big': $name" "publish, the blob $kind: named"
	expect 9 "an input, the blob $kind" timeout 120 "$DCR" -q -i "$TEST_TMP/alice" run "$room" all --wait
	has "$err" "node 'big'.*$name" "an input, the blob $kind: named"
	rm -rf "data/blobs/$up"
	restore "$up"
done
expect 0 "the input restored once more" as run "$room" all -o restored.csv

# ---- a python job's input (streamed into a sealed memfd for the sandbox) ----
if [ $sandbox = 1 ]; then
	for kind in flip-chunk truncate-boundary header-9 same-key missing; do
		case $kind in
		same-key)
			(umask 077 && python3 -c 'import json, sys; sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))["key"]))' \
				"$keystore/$doc.json" >doc.key)
			[ -f "pristine/$doc" ] || cp "data/blobs/$doc" "pristine/$doc"
			head -c 1000 /dev/urandom | "$STREAM_TOOL" enc doc.key >"data/blobs/$doc" || fail "re-encrypting doc"
			name="is not what was published" ;;
		missing)
			[ -f "pristine/$doc" ] || cp "data/blobs/$doc" "pristine/$doc"
			rm "data/blobs/$doc"
			name="blob $doc is missing from the data directory" ;;
		*)
			tamper "$kind" "$doc"
			name=${names[$kind]} ;;
		esac
		expect 9 "a python input, $kind" as run "$room" copy --wait
		has "$err" "^dcr: run: job [0-9a-f]{12}-[0-9]+ \(copy\) failed: .*node 'doc'.*$name" "a python input, $kind: named"
		restore "$doc"
	done
	expect 0 "the python input restored" as run "$room" copy --wait
fi

finish
