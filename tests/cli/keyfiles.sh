#!/bin/bash
# Local key files: dcr refuses every key file that group or others may
# access (dataset keys, key.pem, an organisation CA's ca.key), on every path
# that reads one; and the dataset key file is what dcr-formats(5) says.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs
acme_room alice
cat >room/room.yaml <<'YAML'
version: 1
name: key files
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload doc]
data:
  doc: {type: file}
YAML

as() { "$DCR" -q -i "$TEST_TMP/alice" "$@"; }
keystore=$XDG_DATA_HOME/dcr/datasets
mode() { stat -c %a "$1"; }

start_dcrd data || finish
expect 0 "create" as create room/room.yaml || finish
room=$out
echo "some text" >doc.txt
expect 0 "upload" as upload doc.txt
id=$out
checks=$((checks + 1))
[ "$(mode "$keystore/$id.json")" = 600 ] || fail "dcr wrote a key file of mode $(mode "$keystore/$id.json")"

# ---- a dataset key file others may read or write is not used ----
for m in 644 640 604 620 602 660 700; do
	chmod "$m" "$keystore/$id.json"
	if [ "$m" = 700 ]; then
		expect 0 "publish with a key file of mode $m" as publish "$room" doc "$id"
		continue
	fi
	expect 6 "publish with a key file of mode $m" as publish "$room" doc "$id"
	has "$err" "^dcr: publish: '$keystore/$id.json' is accessible to other users \(mode 0$m\); run chmod 600 on it$" \
		"mode $m is refused with the file and its mode named"
	expect 6 "upload --resume with a key file of mode $m" as upload --resume "$id"
	has "$err" "accessible to other users \(mode 0$m\)" "--resume refuses mode $m too"
done
chmod 600 "$keystore/$id.json"
expect 0 "publish with a key file of mode 600" as publish "$room" doc "$id"
chmod 400 "$keystore/$id.json"
expect 0 "publish with a key file of mode 400" as publish "$room" doc "$id"
chmod 600 "$keystore/$id.json"

# ---- the key file is as dcr-formats(5) shows it ----
# The JSON example of the page's DATASET KEY FILE section.
python3 - "$SRCDIR/man/dcr-formats.5.scd" >example.json <<'EOF' || fail "no key file example in dcr-formats(5)"
import sys
text = open(sys.argv[1]).read()
section = text[text.index("\n# DATASET KEY FILE\n"):]
section = section[:section.index("\n# ", 1)]
sys.stdout.write(section.split("```\n")[1])
EOF
python3 - "$keystore/$id.json" example.json <<'EOF' || fail "the key file dcr writes is not shaped like the page's example"
import json, sys
real_text, example_text = (open(p).read() for p in sys.argv[1:])
real, example = json.loads(real_text), json.loads(example_text)
assert list(real) == list(example), (list(real), list(example))
for k in real:
    assert type(real[k]) is type(example[k]), k
# Two-space indentation, members in the documented order, no newline at the end.
assert real_text == json.dumps(real, indent=2, ensure_ascii=False), real_text
assert example_text == json.dumps(example, indent=2, ensure_ascii=False) + "\n"
assert len(real["key"]) == 64 and len(real["sha256"]) == 64 and real["dataset"] == sys.argv[1][-37:-5]
# The stream's length from the plaintext's (76 + 16 n + P, chunks of 1 MiB).
for d in (real, example):
    n = max(1, -(-d["size"] // 1048576))
    assert d["ciphertext_size"] == 76 + 16 * n + d["size"], d
EOF
# The page's example, put in the keystore, is read by dcr (it says the upload is complete).
ex=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["dataset"])' example.json)
head -c -1 example.json >"$keystore/$ex.json"
chmod 600 "$keystore/$ex.json"
expect 1 "the page's example is a complete upload" as upload --resume "$ex"
has "$err" "^dcr: upload: dataset $ex is uploaded completely already$" "dcr reads the page's example"
chmod 644 "$keystore/$ex.json"
expect 6 "the page's example with mode 644" as upload --resume "$ex"
chmod 600 "$keystore/$ex.json"
# A key file under another dataset's name is not that dataset's key.
other=0123456789abcdef0123456789abcdef
cp "$keystore/$ex.json" "$keystore/$other.json"
expect 6 "a key file named after another dataset" as upload --resume "$other"
has "$err" "'$keystore/$other.json' is not a dataset key file" "the misnamed key file is refused"
# Malformed members.
for bad in '"key": "0d68"' '"size": -1' '"complete": "yes"' '"name": null'; do
	python3 - "$keystore/$ex.json" "$bad" "$other" >"$keystore/$other.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
k, v = sys.argv[2].split(": ", 1)
d[json.loads(k)] = json.loads(v)
d["dataset"] = sys.argv[3]
print(json.dumps(d, indent=2))
EOF
	expect 6 "a key file with $bad" as upload --resume "$other"
	has "$err" "is not a dataset key file" "$bad is refused"
done
# More than 64 KiB: refused with its own message, as dcr-formats(5) gives it.
python3 - "$keystore/$ex.json" "$other" >"$keystore/$other.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["dataset"] = sys.argv[2]
d["padding"] = "x" * 70000
print(json.dumps(d))
EOF
expect 6 "a key file of more than 64 KiB" as upload --resume "$other"
has "$err" "'$keystore/$other.json' is larger than 65536 bytes" "the size is named"
rm -f "$keystore/$ex.json" "$keystore/$other.json"

# ---- dcr stopped before each change it makes to the keystore: what it leaves resumes ----
# dcr upload used to take a new dataset's ID.json by creating it empty (O_EXCL) and to fill it
# afterwards: stopped in between (kill -9, a crash, or a loaded machine where the fsyncs between
# the two took long enough for a test to kill it there), it left a key file nothing could read,
# "is not a dataset key file". Stopped before every change in turn (tests/tools/kill-at.c), it
# leaves no key file, or one that --resume finishes; ID.sums without a key file (dcr stopped
# before the key was saved) names an upload that --delete with the whole ID removes, from dcrd too.
head -c 3000 /dev/urandom >steps.bin
kills=0 resumed=0 orphans=0
for n in $(seq 1 100); do
	before=$(ls "$keystore")
	run env DCR_KILL_DIR="$keystore" DCR_KILL_AT="$n" LD_PRELOAD="$KILL_AT" "$DCR" -q -i "$TEST_TMP/alice" upload steps.bin
	[ "$rc" = 137 ] || break
	kills=$((kills + 1))
	for f in $(ls "$keystore" | grep -vxF -- "$before"); do
		case $f in
		*.json)
			if grep -q '"complete": true' "$keystore/$f"; then
				expect 1 "the upload stopped before change $n, once complete, is complete" \
					as upload --resume "${f%.json}"
				has "$err" "is uploaded completely already" "said so"
			else
				expect 0 "the upload stopped before change $n resumes" as upload --resume "${f%.json}" ||
					echo "its key file has $(wc -c <"$keystore/$f") bytes"
				resumed=$((resumed + 1))
			fi
			;;
		*.sums)
			[ -e "$keystore/${f%.sums}.json" ] && continue
			expect 0 "the upload stopped before change $n, whose key was not saved, is deleted" \
				as upload --delete "${f%.sums}"
			checks=$((checks + 1))
			[ -z "$(ls "$keystore" | grep -F "${f%.sums}")" ] || fail "--delete left $(ls "$keystore" | grep -F "${f%.sums}")"
			orphans=$((orphans + 1))
			;;
		esac
	done
done
checks=$((checks + 1))
[ -z "$(ls "$keystore" | grep '\.tmp$')" ] || fail "temporary key files are left: $(ls "$keystore" | grep '\.tmp$')"
checks=$((checks + 1))
[ "$rc" = 0 ] && [ "$kills" -ge 8 ] && [ "$resumed" -ge 3 ] && [ "$orphans" -ge 1 ] ||
	fail "the upload was stopped $kills times ($resumed resumed, $orphans without a key), then exit $rc: $err"

# The empty key file earlier versions left that way: refused, and --delete with the whole ID clears it.
p=$(partial_upload "$TEST_TMP/alice" steps.bin)
: >"$keystore/$p.json"
expect 6 "an empty key file" as upload --resume "$p"
has "$err" "'$keystore/$p.json' is not a dataset key file" "the empty key file is refused"
expect 0 "--delete of the upload with the empty key file" as upload --delete "$p"
checks=$((checks + 1))
[ ! -e "$keystore/$p.json" ] && [ ! -e "$keystore/$p.sums" ] || fail "--delete left the upload's files"
expect 4 "it is gone from dcrd too" as upload --delete "$p"

# ---- the identity's key.pem, on every command that reads it ----
checks=$((checks + 1))
[ "$(mode alice/key.pem)" = 600 ] || fail "openssl wrote key.pem with mode $(mode alice/key.pem)"
chmod 644 alice/key.pem
expect 6 "a call with an open key.pem" as rooms
has "$err" "^dcr: rooms: '$TEST_TMP/alice/key.pem' is accessible to other users \(mode 0644\); run chmod 600 on it$" \
	"key.pem is refused before any call"
expect 6 "whoami with an open key.pem" as auth whoami
expect 6 "import with an open key.pem" as auth import alice/cert.pem
has "$err" "accessible to other users \(mode 0644\)" "import names the mode"
expect 6 "login with an open key.pem" as auth login --email alice@acme.example --token dcrpt_x
has "$err" "accessible to other users \(mode 0644\)" "login names the mode"
chmod 600 alice/key.pem
expect 0 "a call with a private key.pem" as rooms
expect 0 "whoami with a private key.pem" as auth whoami

# ---- an organisation CA's key ----
expect 0 "ca init" as auth ca init --name "Beta" --dir beta-ca
checks=$((checks + 1))
[ "$(mode beta-ca/ca.key)" = 600 ] || fail "ca init wrote ca.key with mode $(mode beta-ca/ca.key)"
expect 0 "keygen for bob" "$DCR" -q -i bob auth keygen --email bob@beta.example
chmod 604 beta-ca/ca.key
expect 6 "ca issue with an open ca.key" as auth ca issue --dir beta-ca -o bob.crt bob/request.csr
has "$err" "'beta-ca/ca.key' is accessible to other users \(mode 0604\)" "ca.key is refused"
checks=$((checks + 1))
[ ! -e bob.crt ] || fail "a certificate was issued with an open CA key"
chmod 600 beta-ca/ca.key
expect 0 "ca issue with a private ca.key" as auth ca issue --dir beta-ca -o bob.crt bob/request.csr

finish
