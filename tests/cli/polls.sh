#!/bin/bash
# What a waiting client adds to a room's log (issue 16): job.get is logged
# once per caller, job and answer; repeating it with the same answer adds
# nothing, a new answer, another caller, a refusal, a fetch or a restart of
# dcrd do. Before this, every poll of dcr run --wait was an entry.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
make_ca acme-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example acme-ca

mkdir -p room
cp acme-ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: polls
enclave: dcrd:sim
authentication: {ca: ca.pem}
default_permissions: false
participants:
  alice@acme.example: [upload t, run count, fetch count, read-audit]
  bob@acme.example: [fetch count]
  carol@acme.example: [upload t]
data:
  t:
    type: table
    columns:
      - {name: id, type: int64}
compute:
  count:
    type: sql
    query: SELECT COUNT(*) AS n FROM t
YAML

as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" XDG_DATA_HOME="$TEST_TMP/$who-data" \
	"$DCR" -q -i "$TEST_TMP/$who" "$@"; }
# get WHO: one job.get of the job, straight to dcrd; prints its verdict.
get() { "$REPLAY_CALL" "$DCR_ENDPOINT" specs.yaml "$1" 1 0 job.get "$room" "$job"; }
# entries [CALLER [ACTION]]: the room's entries about the job (of CALLER, with ACTION), counted.
entries() {
	as alice --json audit "$room" >audit.json || fail "dcr audit: $(cat audit.json)"
	python3 - "$job" "${1:-}" "${2:-job.get}" <<'PY'
import json, sys
job, caller, action = sys.argv[1:4]
log = json.load(open("audit.json"))
entries = log["entries"]
print(sum(1 for e in entries if e["action"] == action and (not caller or e["caller"] == caller + "@acme.example")
          and any(f.get("key") == "job" and f.get("value") == job for f in e.get("facts", []))))
PY
}

start_dcrd data || finish
expect 0 "create" as alice create room/room.yaml || finish
room=$out
printf 'id\n1\n2\n3\n' >t.csv
expect 0 "upload" as alice upload t.csv || finish
ds=$out
expect 0 "publish" as alice publish "$room" t "$ds" || finish
expect 0 "run and wait" as alice run "$room" count --wait || finish
job=$out
waited=$(entries alice)
checks=$((checks + 1))
[ "$waited" -ge 1 ] && [ "$waited" -le 3 ] ||
	fail "dcr run --wait left $waited job.get entries: one per answer it saw (queued, running, succeeded) at most"

# ---- the same answer again and again: nothing more in the log ----
for i in 1 2 3 4 5; do
	expect 0 "alice's job.get $i" get alice
	has "$out" '^ok$' "job.get $i is served"
done
has "$(entries alice)" "^$waited$" "five more reads with the answer logged last add no entry"

# ---- another caller's read is logged, once ----
for i in 1 2 3; do
	expect 0 "bob's job.get $i" get bob
	has "$out" '^ok$' "bob's job.get $i is served"
done
has "$(entries bob)" '^1$' "bob's reads: one entry"

# ---- a refusal is logged every time ----
for i in 1 2; do
	expect 0 "carol's job.get $i" get carol
	has "$out" '^refused 3: ' "carol may not see the job"
done
as alice --json audit "$room" >audit.json
checks=$((checks + 1))
python3 - <<'PY' || fail "carol's refusals are not both logged: $(cat audit.json)"
import json, sys
log = json.load(open("audit.json"))
entries = log["entries"]
sys.exit(0 if sum(1 for e in entries if e["action"] == "job.get" and e["caller"] == "carol@acme.example"
                  and e["outcome"] == "denied") == 2 else 1)
PY

# ---- fetching the result is logged every time ----
expect 0 "alice fetches" as alice fetch "$job" -o r1.csv
expect 0 "alice fetches again" as alice fetch "$job" -o r2.csv
has "$(entries alice job.fetch)" '^2$' "each fetch is an entry"
has "$(entries alice)" "^$waited$" "a fetch's own job.get-like reads are not job.get entries"

# ---- dcrd forgets what it logged when it restarts: the next read is logged again ----
stop_dcrd
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data || finish
expect 0 "alice's job.get after a restart" get alice
expect 0 "and again" get alice
has "$(entries alice)" "^$((waited + 1))$" "one more entry after the restart, then none"

finish
