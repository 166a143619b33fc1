#!/bin/bash
# dataset.publish decrypts and checks a dataset without holding the lock
# that orders calls (the review of issue 12's fixes: a 1.5 GB publish held
# every other room's calls for 1.6 s, and could be repeated in a loop): other
# calls are answered meanwhile, a caller checks one dataset at a time, the
# checks share the 2 slots of room validation, and a dataset checked before
# is not decrypted again while its file is unchanged.
#
# To hold a check while it reads, the test has the kernel hold dcrd's reads
# of a blob (fanotify permission events, tests/tools/hold-reads.py) until
# it lets them go: the blob stays the regular file dcrd wrote (a FIFO in
# its place is refused as tampering). Nothing here depends on timing. It
# needs CAP_SYS_ADMIN; without it the test skips.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
for who in alice bob carol dave; do
	make_user "$who" "$who@acme.example" acme-ca
done
# Alice's address, certified by another CA: someone else, in a room of their own.
make_ca other-ca
make_user eve alice@acme.example other-ca
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: publish
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload f, upload g]
  bob@acme.example: []
  carol@acme.example: [upload f]
data:
  f: {type: file}
  g: {type: file}
YAML
mkdir -p eve-room
cp other-ca.pem eve-room/ca.pem
cat >eve-room/room.yaml <<'YAML'
version: 1
name: eve
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload f]
data:
  f: {type: file}
YAML
cat >room/small.yaml <<'YAML'
version: 1
name: small
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  dave@acme.example: []
YAML

# metric NAME: its value in /metrics.
metric() {
	curl -fsS "$DCR_ENDPOINT/metrics" | sed -n "s/^$1 //p"
}

# hold ID: until released, every read of blob ID waits (hold-reads.py in the background, files in ID.hold/).
hold() {
	mkdir -p "$1.hold"
	python3 "$SRCDIR/tests/tools/hold-reads.py" "data/blobs/$1" "$1.hold" 2>"$1.hold/err" &
	echo $! >"$1.hold/pid"
	for _ in $(seq 1200); do
		[ -e "$1.hold/ready" ] && return 0
		kill -0 "$(cat "$1.hold/pid")" 2>/dev/null || break
		sleep 0.05
	done
	fail "cannot hold the reads of blob $1: $(cat "$1.hold/err")"
	return 1
}

# opened ID: until dcrd reads blob ID (its check has begun).
opened() {
	for _ in $(seq 1200); do
		[ -e "$1.hold/reading" ] && return 0
		sleep 0.05
	done
	fail "dcrd never read blob $1"
	return 1
}

# release ID: let the reads of blob ID go.
release() {
	touch "$1.hold/release"
	wait "$(cat "$1.hold/pid")" || fail "hold-reads.py of blob $1 failed: $(cat "$1.hold/err")"
}

# Can this test hold reads here?
touch probe
python3 "$SRCDIR/tests/tools/hold-reads.py" probe . 2>probe.err &
probe=$!
for _ in $(seq 200); do
	[ -e ready ] && break
	kill -0 "$probe" 2>/dev/null || break
	sleep 0.05
done
touch release
wait "$probe"
[ "$?" = 77 ] && skip "fanotify permission events are not available here: $(cat probe.err)"

head -c $((3 << 20)) /dev/urandom >f.bin
head -c 1000 /dev/urandom >g.bin
cp f.bin c.bin
echo tail >>c.bin

start_dcrd data || finish
expect 0 "create" as alice create room/room.yaml || finish
room=$out
expect 0 "create bob's room" as bob create --salt bob room/room.yaml || finish
bobs=$out
expect 0 "alice uploads" as alice upload f.bin || finish
f=$out
expect 0 "alice uploads another" as alice upload g.bin || finish
g=$out
expect 0 "carol uploads" as carol upload c.bin || finish
c=$out
expect 0 "eve creates her room" as eve create eve-room/room.yaml || finish
eves=$out
expect 0 "eve uploads" as eve upload g.bin || finish
e=$out

# ---- while alice's dataset is being checked, other calls are answered ----
hold "$f" || finish
as alice publish "$room" f "$f" >pub-f.out 2>pub-f.err &
pub_f=$!
opened "$f"
# The check runs in a thread of its own, 10 nicer than the calls (calls.c): on a busy machine they come first.
base=$(awk '{print $19}' "/proc/$DCRD_PID/stat")
want=$((base + 10 > 19 ? 19 : base + 10))
has "$(awk '{print $19}' /proc/"$DCRD_PID"/task/*/stat)" "^$want$" "a thread of dcrd at nice $want while the check runs"
# And no HTTP thread waits for it: the connection is suspended meanwhile, so every worker goes back to
# taking connections (before, the one that took the publish was held, and so were connections it had
# accepted with it).
workers() { for t in /proc/"$DCRD_PID"/task/*; do [ "$(cat "$t/comm")" = MHD-worker ] && cat "$t/wchan" && echo; done; }
for _ in $(seq 600); do
	[ "$(workers | grep -c epoll_wait)" = 4 ] && break
	sleep 0.05
done
has "$(workers | grep -c epoll_wait)" "^4$" "all 4 HTTP threads wait for connections while the check runs"
expect 0 "another room's status while a publish is checked" timeout 60 env XDG_STATE_HOME="$TEST_TMP/bob-state" \
	"$DCR" -q -i "$TEST_TMP/bob" status "$bobs"
expect 0 "and its list of datasets" timeout 60 env XDG_STATE_HOME="$TEST_TMP/bob-state" \
	"$DCR" -q -i "$TEST_TMP/bob" datasets "$bobs"

# ---- one check at a time per caller; every check shares the 2 validation slots ----
expect 1 "alice's second publish meanwhile" as alice publish "$room" g "$g"
has "$err" "alice@acme.example is publishing another dataset right now; publish this one when that is done" \
	"the refusal says why"
# The same address under another CA is another caller: neither held up by alice's check, nor told of it
# (the checks were keyed by the address alone).
expect 0 "alice's address certified by another CA publishes meanwhile" as eve publish "$eves" f "$e"
lacks "$err" "publishing another dataset" "nothing is said of alice's check"
hold "$c" || finish
as carol publish "$room" f "$c" >pub-c.out 2>pub-c.err &
pub_c=$!
opened "$c"
expect 1 "a room.create while two datasets are checked" as dave create room/small.yaml
has "$err" "dcrd is busy checking 2 other room definitions or datasets; try again in a moment" \
	"the create is refused as busy"
expect 0 "status calls are still answered" timeout 60 env XDG_STATE_HOME="$TEST_TMP/bob-state" \
	"$DCR" -q -i "$TEST_TMP/bob" status "$bobs"

release "$f"
release "$c"
checks=$((checks + 2))
wait "$pub_f" || fail "alice's publish failed: $(cat pub-f.err)"
wait "$pub_c" || fail "carol's publish failed: $(cat pub-c.err)"
expect 0 "the room's log" as alice --json audit "$room"
has "$out" "alice@acme.example is publishing another dataset right now" "the refusal is in the room's log"
expect 0 "a create once the checks are done" as dave create room/small.yaml

# ---- a dataset checked before is not decrypted again while its file is unchanged ----
decrypted=$(metric dcrd_publish_checks_total)
reused=$(metric dcrd_publish_checks_reused_total)
expect 0 "alice publishes the same dataset again" as alice publish "$room" f "$f"
checks=$((checks + 1))
[ "$(metric dcrd_publish_checks_total)" = "$decrypted" ] || fail "the dataset checked while held was decrypted again"
reused=$((reused + 1))
for i in 1 2 3; do
	expect 0 "and again ($i)" as alice publish "$room" f "$f"
done
checks=$((checks + 2))
[ "$(metric dcrd_publish_checks_total)" = "$decrypted" ] || fail "an unchanged dataset was decrypted again"
[ "$(metric dcrd_publish_checks_reused_total)" = $((reused + 3)) ] || fail "the earlier check was not reused"
expect 0 "to another node of the same kind" as alice publish "$room" g "$f"
touch "data/blobs/$f"
expect 0 "after the file was written to" as alice publish "$room" f "$f"
checks=$((checks + 1))
[ "$(metric dcrd_publish_checks_total)" = $((decrypted + 2)) ] || \
	fail "another node, or a changed file, was not checked afresh"
# A changed file whose check failed is checked afresh too, once restored.
cp "data/blobs/$f" f.good
printf 'x' | dd of="data/blobs/$f" bs=1 seek=100 conv=notrunc status=none
expect 9 "a blob altered on the host" as alice publish "$room" f "$f"
cp f.good "data/blobs/$f"
expect 0 "restored" as alice publish "$room" f "$f"


# ---- what changes while a dataset is checked is seen when the publish commits ----
# Under the lock dcrd reads the room and the dataset again: the same
# room's calls and another publish to it are answered meanwhile, and a
# dataset deleted or a room stopped during the check refuses the publish.
# within WHO CMD...: as WHO, but given up after 60 s (a call that waited for the check would wait for ever).
within() { local who=$1; shift; timeout 60 env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }
head -c 5000 /dev/urandom >h1.bin
head -c 6000 /dev/urandom >h2.bin
expect 0 "alice uploads h1" as alice upload h1.bin || finish
h1=$out
expect 0 "alice uploads h2" as alice upload h2.bin || finish
h2=$out
hold "$h1" || finish
as alice publish "$room" g "$h1" >pub-h1.out 2>pub-h1.err &
pub_h1=$!
opened "$h1"
expect 0 "the same room's status while its publish is checked" within bob status "$room"
expect 0 "another publish to the same room meanwhile" within carol publish "$room" f "$c"
expect 0 "alice deletes the upload being checked" within alice upload --delete "$h1"
release "$h1"
checks=$((checks + 2))
wait "$pub_h1" && fail "a publish of a dataset deleted during its check succeeded"
grep -q "no dataset $h1 uploaded by alice@acme.example" pub-h1.err || \
	fail "the publish does not say the dataset is gone: $(cat pub-h1.err)"
hold "$h2" || finish
as alice publish "$room" g "$h2" >pub-h2.out 2>pub-h2.err &
pub_h2=$!
opened "$h2"
expect 0 "alice stops the room while h2 is checked" within alice stop "$room"
release "$h2"
checks=$((checks + 2))
wait "$pub_h2" && fail "a publish to a room stopped during its check succeeded"
grep -q "room $room is stopped: it takes no more data" pub-h2.err || \
	fail "the publish does not say the room stopped: $(cat pub-h2.err)"
expect 0 "the room's log" as alice --json audit "$room"
has "$out" "room $room is stopped: it takes no more data" "the refused publish is in the room's log"
expect 0 "the datasets of the room" as alice datasets "$room"
lacks "$out" "$h2" "h2 was not published"

finish
