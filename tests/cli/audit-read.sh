#!/bin/bash
# audit.get reads a room's log, O(its size), without the call lock: while
# that read is held, other rooms' calls and the same room's are answered,
# and the log it answers with is the one as it stands when its own entry
# is made (what was appended during the read included), under a head that
# verifies. hold-audit.so keeps dcrd's reading of audit entries waiting
# for as long as the file hold exists, and creates hold.held while it
# does, so nothing here depends on timing. Before, the whole log was read
# under the lock: every call waited for it.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
acme_room alice bob
cat >room/room.yaml <<'YAML'
version: 1
name: audit-read
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [read-audit, read-status]
  bob@acme.example: [read-status]
YAML
as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }
# within WHO CMD...: as WHO, given up after 60 s (a call that waited for the held read would wait for ever).
within() { local who=$1; shift; timeout 60 env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }
# statuses: how many room.status entries of bob a log (dcr --json audit) has.
statuses() {
	python3 -c 'import json, sys
print(sum(e["caller"] == "bob@acme.example" and e["action"] == "room.status" for e in json.load(sys.stdin)["entries"]))'
}

DCRD_PRELOAD=$HOLD_AUDIT DCR_TEST_HOLD_FILE=$TEST_TMP/hold start_dcrd data || finish
expect 0 "create room a" as alice create room/room.yaml --salt a || finish
a=$out
expect 0 "create room b" as alice create room/room.yaml --salt b || finish
b=$out
for i in 1 2 3 4 5; do
	expect 0 "status $i" as bob status "$a"
done
expect 0 "the log, not held" as alice --json audit "$a"
has "$(statuses <<<"$out")" "^5$" "it holds the 5 statuses"

touch hold
as alice --json audit "$a" >audit.out 2>audit.err &
audit_pid=$!
while [ ! -e hold.held ] && kill -0 "$audit_pid" 2>/dev/null; do
	sleep 0.05
done
checks=$((checks + 1))
[ -e hold.held ] || fail "the audit call ended before dcrd read the log: $(cat audit.err)"
expect 0 "another room's status while the log is read" within bob status "$b"
for i in 1 2 3; do
	expect 0 "the same room's status while its log is read ($i)" within bob status "$a"
done
checks=$((checks + 1))
[ -e hold.held ] && kill -0 "$audit_pid" 2>/dev/null || fail "the read was no longer held"
rm hold
wait "$audit_pid"
rc=$?
checks=$((checks + 1))
[ "$rc" = 0 ] || fail "the held audit call failed (exit $rc): $(cat audit.err)"
# The log as it stood when audit.get was logged: with the 3 statuses made during the read.
has "$(statuses <audit.out)" "^8$" "the log answered holds what was appended during the read"
expect 0 "the log once more, checked against the heads seen" as alice --json audit "$a"
has "$(statuses <<<"$out")" "^8$" "and the next one follows on"
expect 0 "bob's view of the room, against his heads" as bob status "$a"
finish
