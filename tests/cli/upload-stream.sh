#!/bin/bash
# dcr upload of a file encrypts it as it sends it: no copy of the
# ciphertext in the keystore, memory that does not grow with the file, and
# an upload resumed after dcr or dcrd was killed re-encrypts the file into
# exactly the bytes one uninterrupted upload would have sent, unless the
# file changed, which is refused.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: upload-stream
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload blob]
data:
  blob: {type: file}
YAML
start_dcrd data || finish
as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
keystore=$XDG_DATA_HOME/dcr/datasets
expect 0 "create the room" as create room/room.yaml || finish
room=$out

blob_size() { stat -c %s "data/blobs/$1" 2>/dev/null || echo 0; }

# start_upload RATE ARGS...: dcr upload ARGS at RATE bytes a second, in the background; sets upid, the pid of dcr itself.
start_upload() {
	local rate=$1
	shift
	"$DCR" -q -i "$TEST_TMP/alice" upload --limit-rate "$rate" "$@" >/dev/null 2>>upload.err &
	upid=$!
}

# kill_at ID BYTES: kill -9 the upload once dcrd holds at least BYTES of dataset ID (0: at once).
kill_at() {
	local i
	for i in $(seq 1200); do
		[ "$(blob_size "$1")" -ge "$2" ] && break
		kill -0 "$upid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$upid" 2>/dev/null
	wait "$upid" 2>/dev/null
	writers_done
}

# writers_done: until dcrd has seen a dead client's connection close, it holds the blob's writer
# slot and a resume gets 409 (retried for 10 s, which a machine under heavy load can exceed).
writers_done() {
	local i
	for i in $(seq 600); do
		curl -fsS "$DCR_ENDPOINT/metrics" 2>/dev/null | grep -qx 'dcrd_uploads_writing 0' && break
		sleep 0.05
	done
}

# new_id: the dataset whose key file appeared since the last call (waits for it).
: >known.ids
new_id() {
	local id i
	for i in $(seq 600); do
		id=$(ls "$keystore" 2>/dev/null | sed -n 's/\.json$//p' | grep -vxFf known.ids | head -1)
		[ -n "$id" ] && break
		sleep 0.05
	done
	echo "$id" >>known.ids
	echo "$id"
}

# remember ID: the key and salt of an unfinished upload (the key file drops the salt once it completes).
remember() {
	python3 - "$keystore/$1.json" "$1" <<'EOF' || fail "the key file of $1 lacks its key or salt"
import json, os, sys
j = json.load(open(sys.argv[1]))
fd = os.open(sys.argv[2] + ".key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, bytes.fromhex(j["key"]))
open(sys.argv[2] + ".salt", "w").write(j["source"]["salt"])
assert j["source"]["chunk_size"] == 1048576
EOF
}

# same_stream ID FILE WHAT: dcrd holds the bytes an uninterrupted encryption of FILE under ID's key and salt gives.
same_stream() {
	local want got
	want=$("$STREAM_TOOL" enc "$1.key" 1048576 "$(cat "$1.salt")" <"$2" | sha256sum | cut -c1-64)
	got=$(sha256sum "data/blobs/$1" | cut -c1-64)
	checks=$((checks + 1))
	[ -n "$want" ] && [ "$want" = "$got" ] || fail "$3: dcrd holds $got, one uninterrupted upload gives $want"
}

# ---- killed at several points, resumed each time: the very bytes of one uninterrupted upload ----
head -c $(((3 << 20) + 1234)) /dev/urandom >f.bin
start_upload 512K f.bin
f=$(new_id)
kill_at "$f" 0
remember "$f"
checks=$((checks + 1))
[ -f "$keystore/$f.sums" ] || [ "$(blob_size "$f")" = 0 ] || fail "bytes left before their digests were kept"
ls "$keystore" | grep -qvE '^[0-9a-f]{32}\.(json|sums)$' && fail "the keystore holds more than keys and digests: $(ls "$keystore")"
# Twice more, 100 kB and then 1.5 MB further on (inside a chunk, most likely the first and
# the third): each resume goes on from where dcrd is, whatever the machine's load let through.
for delta in 100000 1500000; do
	before=$(blob_size "$f")
	start_upload 512K --resume "$f"
	kill_at "$f" $((before + delta))
	checks=$((checks + 1))
	[ "$(blob_size "$f")" -gt "$before" ] || fail "the resume killed after $delta more bytes sent nothing"
	[ "$(blob_size "$f")" -lt $((3 << 20)) ] || fail "the upload ended before the kill after $delta more bytes"
done
expect 0 "the last resume" as upload --resume "$f"
has "$out" "^$f$" "it prints the dataset"
same_stream "$f" f.bin "killed three times"
checks=$((checks + 1))
[ ! -e "$keystore/$f.sums" ] && [ ! -e "$keystore/$f.enc" ] || fail "the digests stay after the upload completed"
lacks "$(cat "$keystore/$f.json")" '"source"|"upload_token"' "the completed key file keeps no resume state"
has "$(cat "$keystore/$f.json")" "\"sha256\": \"$(sha256sum f.bin | cut -c1-64)\"" "the key file has the file's SHA-256"
expect 0 "publish it" as publish "$room" blob "$f"
expect 0 "the enclave's view" as --json datasets "$room"
has "$out" "$(sha256sum f.bin | cut -c1-64)" "the enclave decrypted exactly the file"

# ---- a resume syncs the digests it finds before it sends a chunk again ----
# They may be an earlier dcr's, not on the disk yet when it was killed (or from a batch stopped before
# its sync): a resume that found all of its chunks recorded appended none, so it synced none, and sent
# chunks whose records a power cut could still take, after which their numbers could seal other bytes.
# Stopped before its first fdatasync (tests/tools/kill-at.c), the resume has sent nothing.
head -c $((3 << 20)) /dev/urandom >s.bin
start_upload 1K s.bin
s=$(new_id)
for _ in $(seq 600); do [ "$(stat -c %s "$keystore/$s.sums" 2>/dev/null || echo 0)" -ge 96 ] && break; sleep 0.05; done
kill_at "$s" 0
sent=$(blob_size "$s")
checks=$((checks + 1))
[ "$(stat -c %s "$keystore/$s.sums")" = 96 ] && [ "$sent" -lt $((3 << 20)) ] ||
	fail "the upload was not stopped with its three chunks recorded and unsent"
run env DCR_KILL_DIR="$keystore" DCR_KILL_CALL=fdatasync DCR_KILL_AT=1 LD_PRELOAD="$KILL_AT" \
	"$DCR" -q -i "$TEST_TMP/alice" upload --resume "$s"
writers_done
checks=$((checks + 1))
[ "$rc" = 137 ] || fail "the resume never synced the digests it found (exit $rc)"
checks=$((checks + 1))
[ "$(blob_size "$s")" = "$sent" ] || fail "the resume sent $(($(blob_size "$s") - sent)) bytes before syncing the digests"
expect 0 "then the resume" as upload --resume "$s"

# ---- dcrd killed during the upload: dcr resumes by itself ----
head -c $((2 << 20)) /dev/urandom >d.bin
start_upload 1M d.bin
d=$(new_id)
remember "$d"
for _ in $(seq 600); do [ "$(blob_size "$d")" -ge 300000 ] && break; sleep 0.05; done
stop_dcrd KILL
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
wait "$upid"
checks=$((checks + 1))
[ $? = 0 ] || fail "the upload did not go on after dcrd came back: $(tail -2 upload.err)"
same_stream "$d" d.bin "resumed by dcr itself after dcrd was killed"

# ---- a file that changed between attempts is refused, never sent as a mix ----
head -c $((3 << 20)) /dev/urandom >g.bin
cp -p g.bin g.orig
start_upload 1M g.bin
g=$(new_id)
kill_at "$g" 1200000
remember "$g"
# The same size and modification time, other bytes in what dcrd has: only the digests tell.
printf 'X' | dd of=g.bin bs=1 seek=10 conv=notrunc 2>/dev/null
touch -r g.orig g.bin
expect 6 "resuming after a change dcrd had received" as upload --resume "$g"
has "$err" "'$TEST_TMP/g.bin' changed since its upload began \(bytes 0 to 1048576 are not what was read to be sent\); dcr upload --delete $g, then upload it again" \
	"the refusal names the file, the bytes and what to do"
touch g.bin
expect 6 "resuming after the modification time changed" as upload --resume "$g"
has "$err" "changed since its upload began \(its size or modification time is not the same\)" "the time is named"
printf 'more' >>g.bin
expect 6 "resuming after the file grew" as upload --resume "$g"
has "$err" "its size or modification time is not the same" "the size is named"
# Back as it was, bytes and time: the upload goes on.
cp -p g.orig g.bin
expect 0 "uploads" as uploads
has "$out" "^$g +g.bin +3145728 +partial +- +-$" "a partial upload of a file has no SHA-256 yet"
expect 0 "resuming the file as it was" as upload --resume "$g"
same_stream "$g" g.bin "resumed once the file was back"

# Changed while dcr waits to try again after dcrd went away: the retry reads the file again too.
cp -p g.orig r.bin
cp -p r.bin r.orig
start_upload 1M r.bin
r=$(new_id)
for _ in $(seq 600); do [ "$(blob_size "$r")" -ge 300000 ] && break; sleep 0.05; done
stop_dcrd KILL
printf 'Z' | dd of=r.bin bs=1 seek=20 conv=notrunc 2>/dev/null
touch -r r.orig r.bin
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
wait "$upid"
urc=$?
checks=$((checks + 1))
[ "$urc" = 6 ] || fail "the retry after a change sent the changed file: exit $urc"
has "$(cat upload.err)" "'$TEST_TMP/r.bin' changed since its upload began \(bytes 0 to 1048576 are not what was read to be sent\)" \
	"the retry names the change"

# dcr reads, hashes and records 8 MiB ahead of what it seals: a change there, sent or not, is refused...
head -c $((12 << 20)) /dev/urandom >h.bin
start_upload 1M h.bin
h=$(new_id)
# Once it has: the reader races the sender, and a loaded machine can let 300000 bytes go first.
for _ in $(seq 600); do [ "$(stat -c %s "$keystore/$h.sums" 2>/dev/null || echo 0)" -ge 256 ] && break; sleep 0.05; done
kill_at "$h" 300000
remember "$h"
cp -p h.bin h.orig
printf 'Y' | dd of=h.bin bs=1 seek=$(((8 << 20) - 5)) conv=notrunc 2>/dev/null
touch -r h.orig h.bin
expect 6 "resuming after a change in what was read ahead" as upload --resume "$h"
writers_done
has "$err" "changed since its upload began \(bytes 7340032 to 8388608 are not what was read to be sent\)" \
	"the refusal names the chunk read ahead"
# ...and a change past it is the file as it is now, consistently.
cp -p h.orig h.bin
printf 'Y' | dd of=h.bin bs=1 seek=$(((12 << 20) - 5)) conv=notrunc 2>/dev/null
touch -r h.orig h.bin
expect 0 "resuming after a change past what was read" as upload --resume "$h"
same_stream "$h" h.bin "the dataset is the file as it is now"
has "$(cat "$keystore/$h.json")" "\"sha256\": \"$(sha256sum h.bin | cut -c1-64)\"" "and its SHA-256 is that file's"

# Something else in its place (a FIFO would block a reader forever) is refused at once.
cp g.orig fifo.bin
start_upload 1M fifo.bin
fifo=$(new_id)
kill_at "$fifo" 0
rm fifo.bin
mkfifo fifo.bin
expect 6 "resuming when a FIFO took the file's place" timeout 60 "$DCR" -q -i "$TEST_TMP/alice" upload --resume "$fifo"
has "$err" "'$TEST_TMP/fifo.bin' changed since its upload began \(it is not a regular file now\)" "the refusal says what"
rm fifo.bin

# A file gone is named.
cp g.orig gone.bin
start_upload 1M gone.bin
gone=$(new_id)
kill_at "$gone" 0
rm gone.bin
expect 4 "resuming a file that is gone" as upload --resume "$gone"
has "$err" "cannot read the file of the upload, '$TEST_TMP/gone.bin'" "the file is named"
expect 0 "and the upload can be deleted" as upload --delete "$gone"

# ---- ID.sums lost: a resume refuses, never seals other bytes under nonces the host may hold ----
# dcr and dcrd killed halfway: the host's disk keeps what was sent, dcrd's own offset lags
# (it is saved every few MiB). Then the digests go and the file changes, at the same size and time.
python3 -c "open('lost.bin', 'wb').write(b'A' * 3000000)"
touch -d 2024-01-01 lost.bin
start_upload 300K lost.bin
lost=$(new_id)
kill_at "$lost" 1200000
stop_dcrd KILL
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
rm "$keystore/$lost.sums"
python3 -c "open('lost.bin', 'r+b').write(b'B' * 3000000)"
touch -d 2024-01-01 lost.bin
before=$(blob_size "$lost")
expect 6 "resuming after ID.sums was lost" as upload --resume "$lost"
has "$err" "the digests of dataset $lost \('$keystore/$lost.sums'\) are missing, so what was sent of '$TEST_TMP/lost.bin' cannot be checked; dcr upload --delete $lost, then upload it again" \
	"the refusal says what is missing and what to do"
checks=$((checks + 1))
[ "$(blob_size "$lost")" = "$before" ] || fail "bytes were sent without digests: dcrd has $(blob_size "$lost"), not $before"
checks=$((checks + 1))
[ ! -e "$keystore/$lost.sums" ] || fail "the resume made ID.sums afresh"
expect 0 "and the upload can be deleted" as upload --delete "$lost"

# dcrd claiming more than dcr ever recorded (here: the records cut short by hand) is an integrity violation.
cp g.orig short.bin
start_upload 1M short.bin
short=$(new_id)
kill_at "$short" 1200000
: >"$keystore/$short.sums"
expect 9 "resuming when dcrd has more than the records cover" as upload --resume "$short"
has "$err" "dcrd claims [0-9]+ bytes of dataset $short, more than dcr recorded before sending \(0 chunks\); dcr upload --delete $short, then upload it again" \
	"the refusal says what dcrd claims"

# ---- files whose size is not what a read gives are read to their end ----
# procfs gives 0, sysfs 4096: both go through the keystore like a pipe, whole.
for pseudo in /proc/version /sys/kernel/mm/transparent_hugepage/enabled; do
	[ -r "$pseudo" ] || continue
	expect 0 "upload $pseudo" as --json upload "$pseudo"
	has "$out" "\"size\": $(wc -c <"$pseudo")," "all of $pseudo is uploaded"
	has "$out" "\"sha256\": \"$(sha256sum "$pseudo" | cut -c1-64)\"" "and exactly it"
done
# An empty file is a dataset of no bytes.
: >empty.bin
expect 0 "upload an empty file" as --json upload empty.bin
has "$out" '"size": 0,' "it is empty"
ls "$keystore" | sed -n 's/\.json$//p' >>known.ids

# ---- modification times before 1970 and after 2262 (past 64-bit nanoseconds) resume too ----
for when in 1960-01-01 2300-01-01; do
	cp g.orig "t$when.bin"
	touch -d "$when" "t$when.bin" 2>/dev/null || continue
	start_upload 1M "t$when.bin"
	t=$(new_id)
	kill_at "$t" 300000
	remember "$t"
	expect 0 "list an unfinished upload of a file from $when" as uploads
	has "$out" "^$t +t$when.bin +3145728 +partial" "it is listed"
	expect 0 "resume a file from $when" as upload --resume "$t"
	same_stream "$t" "t$when.bin" "resumed with a modification time in $when"
done

# ---- a libcurl too old for the http/https-only rule is refused when it is loaded ----
mkdir -p oldcurl
ln -sf "$OLD_CURL" oldcurl/libcurl.so.4
expect 1 "upload with libcurl 7.84.0" env LD_LIBRARY_PATH="$TEST_TMP/oldcurl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	"$DCR" -q -i "$TEST_TMP/alice" upload f.bin
has "$err" "libcurl.so.4 is libcurl 7.84.0; dcr needs 7.85.0 or later" "the refusal names the version"
# Its calls to dcrd need no libcurl (lib/http1.c): the dataset was made, and stays resumable.
ls "$keystore" | sed -n 's/\.json$//p' >>known.ids

# ---- two dcr on one upload ----
start_upload 64K f.bin
two=$(new_id)
for _ in $(seq 600); do [ -e "$keystore/$two.sums" ] && break; sleep 0.05; done
expect 1 "a second dcr resuming an upload that is under way" as upload --resume "$two"
has "$err" "another dcr is uploading dataset $two now" "the refusal says why"
expect 1 "forgetting the key of an upload that is under way" as uploads --forget "$two" --yes
has "$err" "another dcr is uploading dataset $two now" "the refusal says why"
checks=$((checks + 1))
[ -e "$keystore/$two.json" ] && [ -e "$keystore/$two.sums" ] || fail "the key or digests went while dcr sent"
kill -KILL "$upid"
wait "$upid" 2>/dev/null
remember "$two"
expect 0 "resumed once the first is gone" as upload --resume "$two"
same_stream "$two" f.bin "after the refused second dcr"

# ---- standard input still goes through the keystore, and resumes from there ----
"$DCR" -q -i "$TEST_TMP/alice" upload - --limit-rate 256K <d.bin >/dev/null 2>&1 &
upid=$!
p=$(new_id)
kill_at "$p" 0
checks=$((checks + 1))
[ -f "$keystore/$p.enc" ] || fail "a pipe's upload keeps its ciphertext for --resume"
expect 0 "resume standard input" as upload --resume "$p"
expect 0 "publish it" as publish "$room" blob "$p"
expect 0 "the enclave's view" as --json datasets "$room"
has "$out" "$(sha256sum d.bin | cut -c1-64)" "the enclave decrypted exactly what came in"

# ---- a slow upload: dcrd records what arrived every 8 MiB once a second has passed, not only every 64 MiB ----
# What is not recorded stays reserved (dcrd_uploads_reserved_bytes): 12 MiB at 2 MB/s takes 6 s.
head -c $((12 << 20)) /dev/urandom >slow.bin
reserved() { curl -fsS "$DCR_ENDPOINT/metrics" | sed -n 's/^dcrd_uploads_reserved_bytes //p'; }
before=$(reserved)
start_upload 2M slow.bin
slow=$(new_id)
for _ in $(seq 1200); do [ "$(blob_size "$slow")" -ge $((10 << 20)) ] && break; sleep 0.05; done
now=$(reserved)
wait "$upid"
checks=$((checks + 1))
[ $((now - before)) -le $(((12 << 20) + 76 + 12 * 16 - (8 << 20))) ] ||
	fail "with 10 MiB of a slow upload on disk, dcrd still reserved $((now - before)) bytes for it: nothing recorded"

# ---- a big file: no copy in the keystore, and memory that does not grow with it ----
# Sanitizers multiply memory; there the keystore check alone is made, on a smaller file.
mib=256
sanitized=0
if nm -D "$DCR" 2>/dev/null | grep -q __asan_init || ldd "$DCR" | grep -q libasan; then
	mib=48
	sanitized=1
fi
head -c $((mib << 20)) /dev/zero | tr '\0' 'a' >big.bin
touch known.ids
# The largest file in the keystore while dcr uploads.
(
	max=0
	while [ ! -e watch.stop ]; do
		n=$(find "$keystore" -type f -newer known.ids -printf '%s\n' | sort -n | tail -1)
		[ "${n:-0}" -gt "$max" ] && max=$n
		echo "$max" >keystore.max
		sleep 0.05
	done
) &
watcher=$!
expect 0 "upload $mib MiB" /usr/bin/time -o time.out -f '%M' "$DCR" -q -i "$TEST_TMP/alice" upload big.bin
big=$out
touch watch.stop
wait "$watcher"
checks=$((checks + 1))
[ "$(cat keystore.max)" -lt $((64 << 10)) ] || fail "the keystore had a file of $(cat keystore.max) bytes during the upload"
checks=$((checks + 1))
[ "$(blob_size "$big")" = $(((mib << 20) + 76 + 16 * mib)) ] || fail "dcrd holds $(blob_size "$big") bytes"
if [ $sanitized = 0 ]; then
	checks=$((checks + 1))
	[ "$(tail -1 time.out)" -lt 32768 ] || fail "dcr's peak RSS for $mib MiB was $(tail -1 time.out) KiB, not under 32 MiB"
fi

finish
