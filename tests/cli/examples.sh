#!/bin/bash
# The rooms in examples/ are valid: each passes 'dcr create --dry-run' with the
# spec dcrd prints, has the nodes its README describes, ships sample data that
# matches its tables, and pins the real hash of the code it names.
. "$(dirname "$0")/lib.sh"

expect 0 "dcrd spec" "$DCRD" spec || finish
printf '%s\n' "$out" >"$TEST_TMP/specs.yaml"
specs=$TEST_TMP/specs.yaml

have_python=false
command -v python3 >/dev/null && have_python=true

# check_json NAME DATA COMPUTE: the JSON in $out describes room NAME with
# exactly the data nodes DATA and computations COMPUTE (space-separated), and
# every table node has a sample NODE.csv next to room.yaml whose header is the
# table's column names.
check_json() {
	checks=$((checks + 1))
	if ! printf '%s' "$out" | python3 -c '
import csv, json, os, re, sys
name, data, compute, folder = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
d = json.load(sys.stdin)
problems = []
if not re.fullmatch(r"[0-9a-f]{64}", d.get("id", "")):
    problems.append("id is not 64 hex digits: %r" % d.get("id"))
if d.get("name") != name:
    problems.append("name %r, want %r" % (d.get("name"), name))
got_data = sorted(n["name"] for n in d.get("data", []))
if got_data != sorted(data):
    problems.append("data nodes %s, want %s" % (got_data, sorted(data)))
got_compute = sorted(c["name"] for c in d.get("compute", []))
if got_compute != sorted(compute):
    problems.append("computations %s, want %s" % (got_compute, sorted(compute)))
for n in d.get("data", []):
    if n["type"] != "table":
        continue
    path = os.path.join(folder, n["name"] + ".csv")
    if not os.path.isfile(path):
        problems.append("no sample data %s for table %s" % (path, n["name"]))
        continue
    with open(path, newline="") as f:
        header = next(csv.reader(f, delimiter=n["delimiter"]))
    want = [c.get("csv_header", c["name"]) for c in n["columns"]]
    if header != want:
        problems.append("%s: header %s, want %s" % (path, header, want))
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
' "$1" "$2" "$3" "$SRCDIR/examples/$1" 2>"$TEST_TMP/py-err"; then
		fail "$1 --json: $(cat "$TEST_TMP/py-err")"
	fi
}

# example NAME DATA COMPUTE
example() {
	local name=$1 room=$SRCDIR/examples/$1/room.yaml

	checks=$((checks + 1))
	[ -f "$SRCDIR/examples/$name/README.md" ] || fail "examples/$name has no README.md"
	expect 0 "$name: create --dry-run" "$DCR" --specs "$specs" create --dry-run "$room" || return
	has "$out" '^room id +[0-9a-f]{64}$' "$name: room id is 64 hex digits"
	has "$out" "^name +$name\$" "$name: name"
	expect 0 "$name: --json create --dry-run" "$DCR" --specs "$specs" --json create --dry-run "$room" || return
	if $have_python; then
		check_json "$@"
	fi
}

example salary-sum "acme_pay beta_pay" "total"
example uppercase "notes" "shout"
example secret-code "secret_model applicants" "score"
example overlap "acme_customers beta_customers" "overlap"
example secret-module "secret_module sales" "chart summary"

# The code node pins the SHA-256 of the provider's file, exactly.
for secret in secret-code/provider/secret.py secret-module/provider/secret_module.py; do
	name=${secret%%/*}
	checks=$((checks + 1))
	if [ ! -f "$SRCDIR/examples/$secret" ]; then
		fail "examples/$secret is missing"
		continue
	fi
	want=$(sha256sum "$SRCDIR/examples/$secret" | cut -d' ' -f1)
	pinned=$(sed -n 's/^ *sha256: *\([0-9a-fA-F]*\).*/\1/p' "$SRCDIR/examples/$name/room.yaml")
	[ "$pinned" = "$want" ] || fail "$name pins sha256 '$pinned', but $secret hashes to $want"
	expect 0 "$name --json" "$DCR" --specs "$specs" --json create --dry-run "$SRCDIR/examples/$name/room.yaml"
	has "$out" "\"sha256\": \"$want\"" "$name: the compiled room pins ${secret##*/}'s hash"
done

# Embedded scripts are the files next to room.yaml, whatever the current directory.
script=$SRCDIR/examples/uppercase/uppercase.py
expect 0 "uppercase from another directory" \
	bash -c 'cd / && "$1" --specs "$2" --json create --dry-run "$3"' _ "$DCR" "$specs" \
	"$SRCDIR/examples/uppercase/room.yaml"
has "$out" "\"script_sha256\": \"$(sha256sum "$script" | cut -d' ' -f1)\"" \
	"uppercase: uppercase.py is embedded"

# The same file gives the same ID; a salt gives another.
expect 0 "salary-sum again" "$DCR" --specs "$specs" create --dry-run "$SRCDIR/examples/salary-sum/room.yaml"
id1=$(sed -n 's/^room id *//p' <<<"$out")
expect 0 "salary-sum again" "$DCR" --specs "$specs" create --dry-run "$SRCDIR/examples/salary-sum/room.yaml"
id2=$(sed -n 's/^room id *//p' <<<"$out")
expect 0 "salary-sum with a salt" "$DCR" --specs "$specs" create --dry-run --salt 2024-q1 \
	"$SRCDIR/examples/salary-sum/room.yaml"
id3=$(sed -n 's/^room id *//p' <<<"$out")
checks=$((checks + 1))
[ -n "$id1" ] && [ "$id1" = "$id2" ] || fail "salary-sum: room ID not stable: '$id1' vs '$id2'"
checks=$((checks + 1))
[ -n "$id3" ] && [ "$id3" != "$id1" ] || fail "salary-sum: the salt did not change the room ID"

# The python scripts at least compile (running them needs /input and /output).
if $have_python; then
	for f in uppercase/uppercase.py secret-code/main.py secret-code/provider/secret.py secret-module/run.py \
		secret-module/chart.py secret-module/provider/secret_module.py; do
		expect 0 "$f compiles" python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' \
			"$SRCDIR/examples/$f"
	done
fi

finish
