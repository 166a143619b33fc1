#!/bin/bash
# dcr show ROOM [NODE]: the definition as its creator wrote it and the text
# of every script that is not secret, each checked against the room ID, for
# every participant who may read the definition.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

make_ca acme-ca
make_user alice alice@acme.example acme-ca
make_user bob bob@acme.example acme-ca
make_user carol carol@acme.example acme-ca
make_user dave dave@acme.example acme-ca

mkdir -p room/scripts
cp acme-ca.pem room/ca.pem
printf 'import sys\n# the public script, byte for byte\nprint(open("/input/notes.txt").read().upper())\n' >room/scripts/shout.py
printf 'print("no final newline")' >room/scripts/tail.py
secret_hash=$(printf 'SECRET = 42\n' | sha256sum | cut -d' ' -f1)
cat >room/room.yaml <<YAML
# The room as Alice wrote it: comments and all.
version: 1
name: readable
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload notes]
  bob@acme.example: []      # only the defaults: he may read the definition
data:
  notes: {type: file}
  pay:
    type: table
    columns: [{name: amount, type: float64}]
  secret_module: {type: code, sha256: $secret_hash}
compute:
  shout:
    type: python
    script: scripts/shout.py
    mounts: {/input/notes.txt: notes}
  tail:
    type: python
    script: scripts/tail.py
  hidden:
    type: python
    code: secret_module
  total:
    type: sql
    query: SELECT SUM(amount) AS total FROM pay
YAML
cat >room/strict.yaml <<YAML
version: 1
name: strict
enclave: dcrd:sim
authentication: {ca: ca.pem}
default_permissions: false
participants:
  alice@acme.example: [read-definition]
  dave@acme.example: [read-status]
YAML

as() { local who=$1; shift; env XDG_STATE_HOME="$TEST_TMP/$who-state" "$DCR" -q -i "$TEST_TMP/$who" "$@"; }

start_dcrd data || finish

# Who may read a definition.
expect 0 "the strict room" as alice create room/strict.yaml
strict=$out
expect 0 "alice has read-definition" as alice show "$strict"
expect 3 "dave lacks it" as dave show "$strict"
has "$err" "dave@acme.example lacks permission 'read-definition'" "named"

# The rest shows python scripts: where dcrd's sandbox cannot work it refuses to create such a room.
need_sandbox
expect 0 "create" as alice create room/room.yaml || finish
id=$out

# Everything, as created.
expect 0 "alice shows the room" as alice show "$id"
all=$out
has "$all" "^==> room.yaml \(room ${id:0:12}, as created\) <==$" "the definition's header"
python3 - "$all" room/room.yaml <<'PY' || fail "the definition is not printed byte for byte"
import sys
out, path = sys.argv[1], sys.argv[2]
want = open(path).read()
body = out.split("<==\n", 1)[1]
sys.exit(0 if body.startswith(want) else 1)
PY
has "$all" '^==> shout.py \(the script of computation shout\) <==$' "the script's header"
has "$all" '^print\(open\("/input/notes.txt"\).read\(\).upper\(\)\)$' "the script's text"
has "$all" '^print\("no final newline"\)$' "a script without a final newline"
has "$all" "^==> secret_module \(secret code: the room holds only its SHA-256 $secret_hash\) <==$" \
	"secret code: its hash only"
lacks "$all" 'SECRET = 42' "never the secret"
expect 0 "bob, with the default permissions, too" as bob show "${id:0:10}"
checks=$((checks + 1))
[ "$out" = "$all" ] || fail "bob sees another text than alice"

# One node or file, byte for byte (stdout is not a terminal here).
as alice show "$id" shout >shout.out; rc=$?
checks=$((checks + 1))
[ "$rc" = 0 ] && cmp -s shout.out room/scripts/shout.py || fail "show NODE: not the script byte for byte (exit $rc)"
as alice show "$id" tail >tail.out
checks=$((checks + 1))
cmp -s tail.out room/scripts/tail.py || fail "show NODE adds or drops bytes"
as alice show "$id" room.yaml >room.out
checks=$((checks + 1))
cmp -s room.out room/room.yaml || fail "show FILE: the definition not byte for byte"
as alice show "$id" ca.pem >ca.out
checks=$((checks + 1))
cmp -s ca.out room/ca.pem || fail "show FILE: a CA file"
expect 0 "an SQL computation" as alice show "$id" total
has "$out" '^SELECT SUM\(amount\) AS total FROM pay$' "its query"
expect 3 "secret code" as alice show "$id" secret_module
has "$err" "node 'secret_module' is secret code: the room holds only its SHA-256 $secret_hash" "refused, with its hash"
expect 3 "a computation running secret code" as alice show "$id" hidden
has "$err" "computation 'hidden' runs the secret code of node 'secret_module'" "refused"
expect 2 "a data node" as alice show "$id" pay
has "$err" "node 'pay' is a data node" "explained"
expect 4 "no such node" as alice show "$id" nothing
has "$err" "room $id has no computation, node or source file 'nothing'" "named"
expect 2 "no room" as alice show
expect 2 "too many" as alice show "$id" shout tail

# --json.
expect 0 "--json" as alice --json show "$id"
python3 - "$out" room/room.yaml room/scripts/shout.py "$secret_hash" <<'PY' || fail "--json show"
import json, sys
j = json.loads(sys.argv[1])
assert j["definition"] == open(sys.argv[2]).read(), "definition"
assert j["file_name"] == "room.yaml", j["file_name"]
s = {x["computation"]: x for x in j["scripts"]}
assert sorted(s) == ["shout", "tail"], sorted(s)
assert s["shout"]["text"] == open(sys.argv[3]).read() and s["shout"]["file"] == "shout.py", s["shout"]
assert j["secret_code"] == [{"node": "secret_module", "sha256": sys.argv[4]}], j["secret_code"]
PY
expect 0 "--json NODE" as alice --json show "$id" total
has "$(python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["kind"], j["text"])' <<<"$out")" \
	'^query SELECT SUM' "--json NODE"

# Who may read it.
expect 4 "an outsider" as carol show "$id"

# The call is logged like any other.
expect 0 "audit" as alice audit "$id"
has "$out" "bob@acme.example +[0-9a-f]{12} +room.source +${id:0:12} +allowed" "room.source logged"

finish
