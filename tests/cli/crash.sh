#!/bin/bash
# kill -9 of dcrd at arbitrary moments while rooms are being created and
# stopped: after a restart every answered change is there, and the state
# database is intact.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca ca
make_user alice alice@acme.example ca
cat >room.yaml <<'YAML'
version: 1
name: crash
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [stop]
YAML

# Rounds: start dcrd, create rooms (each with its own salt) as fast as
# possible, kill -9 after a random delay, and remember what was answered.
: >answered
: >stopped
n=0
for round in 1 2 3 4 5 6; do
	start_dcrd data || finish
	(
		while true; do
			n=$((n + 1))
			salt="r$round-$n"
			id=$("$DCR" -q -i alice create --salt "$salt" room.yaml 2>/dev/null) && echo "$id" >>answered
			# Every third answered room is also stopped.
			if [ -n "$id" ] && [ $((n % 3)) = 0 ] && "$DCR" -q -i alice stop "$id" 2>/dev/null; then
				echo "$id" >>stopped
			fi
		done
	) &
	writer=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill -KILL "$DCRD_PID"
	wait "$DCRD_PID" 2>/dev/null
	kill "$writer" 2>/dev/null
	wait "$writer" 2>/dev/null
done
checks=$((checks + 1))
[ "$(wc -l <answered)" -ge 3 ] || fail "too few rooms created to test anything ($(wc -l <answered))"

python3 - <<'PY' || fail "state.db integrity check"
import sqlite3
db = sqlite3.connect("data/state.db")
assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
PY
checks=$((checks + 1))

start_dcrd data || finish
expect 0 "rooms after the crashes" "$DCR" -i alice --json rooms
listed=$out
while read -r id; do
	checks=$((checks + 1))
	grep -q "\"$id\"" <<<"$listed" || fail "room $id was answered as created but is gone after kill -9"
done <answered
while read -r id; do
	expect 0 "status of $id" "$DCR" -i alice status "$id"
	has "$out" 'stopped' "room $id was answered as stopped and stays stopped"
done <stopped
echo "$(wc -l <answered) rooms created and $(wc -l <stopped) stopped across 6 kills"
finish
