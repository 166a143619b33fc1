#!/usr/bin/env bash
# Measures whether a large publish stalls other calls: the latency of
# `dcr status` while dataset.publish decrypts and checks a SIZE_MIB CSV
# table, against the same calls on an idle dcrd, for one or more dcrd
# builds in the same session (run by hand; the lead compares main's dcrd
# with a branch's).
#
# usage: tests/bench/publish-stall-bench.sh DCR DCRD [DCRD...]
#   DCR        the dcr client used for every call
#   DCRD       dcrd binaries to compare, each in its own data directory
#   SIZE_MIB=N size of the CSV table published (default 256)
#   ROUNDS=N   publishes per dcrd (default 3)
#   IDLE=N     status calls per room on the idle dcrd (default 40)
#
# For each dcrd: alice creates room "pub" with a table node t (id int64,
# region string, amount float64) and uploads the CSV once; bob, a
# participant of "pub" with no permission but the default read-status, also
# creates room "other". Idle: IDLE status calls of bob to each room. Then
# ROUNDS times: the blob's change time is touched (so dcrd checks the file
# afresh instead of reusing its earlier check), alice publishes in the
# background, and bob calls status, alternately on "pub" (the room being
# published to) and "other", for as long as the publish runs. Every status
# call's wall time is recorded (client start-up included: that is what a
# user waits for). Reported per dcrd: count, p50, p99 and max in ms for
# idle and during-publish calls, per room, and the publish times.
#
# Needs python3, openssl, curl. Temporary files go under ${TMPDIR:-/tmp}
# (about 2.1 times SIZE_MIB per dcrd, removed as it goes) and dcrd is killed
# on exit.
set -euo pipefail

dcr=$(realpath "${1:?usage: publish-stall-bench.sh DCR DCRD [DCRD...]}")
shift
[ $# -ge 1 ] || { echo "usage: publish-stall-bench.sh DCR DCRD [DCRD...]" >&2; exit 2; }
dcrds=()
for d in "$@"; do
	dcrds+=("$(realpath "$d")")
done
size_mib=${SIZE_MIB:-256}
rounds=${ROUNDS:-3}
idle=${IDLE:-40}
for prog in python3 openssl curl; do
	command -v "$prog" >/dev/null || { echo "publish-stall-bench: $prog not found" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/publish-stall-bench.XXXXXX")
dcrd_pid=
pub_pid=
cleanup() {
	local status=$?
	if [ "$status" != 0 ] && [ -s "$dir/run/dcrd.log" ]; then
		echo "publish-stall-bench: failed; the end of dcrd's log:" >&2
		tail -5 "$dir/run/dcrd.log" >&2
	fi
	for pid in $pub_pid $dcrd_pid; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
export HOME=$dir/home XDG_CONFIG_HOME=$dir/config XDG_DATA_HOME=$dir/data
mkdir -p "$HOME"
unset DCR_ENDPOINT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
	-subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1
for who in alice bob; do
	mkdir -p "$who"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$who/key.pem" \
		-out "$who/req.csr" -subj "/CN=$who" >/dev/null 2>&1
	printf 'subjectAltName=email:%s@bench.example\nbasicConstraints=critical,CA:FALSE\n' "$who" >"$who/ext.cnf"
	openssl x509 -req -in "$who/req.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out "$who/cert.pem" \
		-extfile "$who/ext.cnf" >/dev/null 2>&1
done
mkdir -p room
cp ca.pem room/ca.pem
cat >room/pub.yaml <<'YAML'
version: 1
name: pub
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@bench.example: [upload t]
  bob@bench.example: []
data:
  t:
    type: table
    columns:
      - {name: id, type: int64}
      - {name: region, type: string}
      - {name: amount, type: float64}
YAML
cat >room/other.yaml <<'YAML'
version: 1
name: other
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  bob@bench.example: []
YAML

echo "publish-stall-bench: generating a ${size_mib} MiB CSV" >&2
python3 - "$size_mib" >t.csv <<'PY'
import sys
want = int(sys.argv[1]) << 20
out = sys.stdout
out.write("id,region,amount\n")
n, i = 17, 0
regions = ["north", "south", "east", "west", "centre"]
while n < want:
    chunk = "".join(f"{j},{regions[j % 5]},{(j * 7919) % 100000 / 100:.2f}\n" for j in range(i, i + 10000))
    out.write(chunk)
    n += len(chunk)
    i += 10000
PY

as() { local who=$1; shift; env XDG_STATE_HOME="$dir/$who-state" "$dcr" -q -i "$dir/$who" "$@"; }
# timed FILE CMD...: run CMD (output discarded), append its wall time in ms to FILE; fails if CMD fails.
timed() {
	local file=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000)) | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$file"
}
stats() {
	python3 - "$@" <<'PY'
import sys
for path in sys.argv[1:]:
    try:
        v = sorted(float(x) for x in open(path))
    except FileNotFoundError:
        v = []
    if not v:
        print(f"  {path.split('/')[-1]:<22} n=0")
        continue
    def pct(p):
        k = (len(v) - 1) * p / 100
        f = int(k)
        return v[f] + (v[min(f + 1, len(v) - 1)] - v[f]) * (k - f)
    print(f"  {path.split('/')[-1]:<22} n={len(v):<4} p50={pct(50):8.1f} ms  p99={pct(99):8.1f} ms  max={v[-1]:8.1f} ms")
PY
}

for dcrd in "${dcrds[@]}"; do
	run=$dir/run
	rm -rf "$run" "$dir"/*-state
	mkdir -p "$run"
	"$dcrd" spec >"$run/specs.yaml"
	export DCR_SPECS=$run/specs.yaml
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	"$dcrd" serve --data-dir "$run/data" --listen "127.0.0.1:$port" 2>"$run/dcrd.log" &
	dcrd_pid=$!
	export DCR_ENDPOINT=http://127.0.0.1:$port
	for _ in $(seq 200); do
		curl -fsS -o /dev/null "$DCR_ENDPOINT/healthz" 2>/dev/null && break
		sleep 0.05
	done
	pub=$(as alice create room/pub.yaml)
	other=$(as bob create room/other.yaml)
	echo "publish-stall-bench: $dcrd: uploading" >&2
	ds=$(as alice upload t.csv)
	for _ in $(seq "$idle"); do
		timed "$run/idle-pub" as bob status "$pub"
		timed "$run/idle-other" as bob status "$other"
	done
	for round in $(seq "$rounds"); do
		touch "$run/data/blobs/$ds"
		t0=$(date +%s%N)
		as alice publish "$pub" t "$ds" >/dev/null &
		pub_pid=$!
		while kill -0 "$pub_pid" 2>/dev/null; do
			timed "$run/busy-pub" as bob status "$pub"
			kill -0 "$pub_pid" 2>/dev/null || break
			timed "$run/busy-other" as bob status "$other"
		done
		wait "$pub_pid"
		pub_pid=
		echo $((($(date +%s%N) - t0) / 1000000)) >>"$run/publish"
		echo "publish-stall-bench: $dcrd: publish $round done" >&2
	done
	echo "dcrd: $dcrd (${size_mib} MiB, $rounds publishes)"
	stats "$run/idle-pub" "$run/idle-other" "$run/busy-pub" "$run/busy-other" "$run/publish"
	echo "  publish checks decrypted: $(curl -fsS "$DCR_ENDPOINT/metrics" | sed -n 's/^dcrd_publish_checks_total //p')"
	kill "$dcrd_pid"
	wait "$dcrd_pid" || true
	dcrd_pid=
	rm -rf "$run"
done
