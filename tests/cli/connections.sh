#!/bin/bash
# Slow clients: a connection must send its request headers before a
# deadline and its body at a minimum pace, or dcrd closes it; one address
# holds a bounded number of connections, so hundreds of slow connections
# from one address leave /healthz and calls from others answered.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
use_sim_specs

# slow.py PORT MODE N SECONDS: N connections from 127.0.0.2 that send MODE
# ("headers": a request line and headers, a byte every half second;
# "body": complete headers of a POST, then its body the same way) for at
# most SECONDS; prints how many the server closed and how many it left open.
cat >slow.py <<'PY'
import socket, sys, time
port, mode, n, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    if mode == "headers":
        s.send(b"GET /healthz HTTP/1.1\r\n")
    else:
        s.send(b"POST /v1/call HTTP/1.1\r\nHost: x\r\nContent-Type: message/ohttp-req\r\n"
               b"Content-Length: 100000\r\n\r\n")
    socks.append(s)
print("opened", len(socks), flush=True)
open_ = set(range(n))
start = time.time()
while open_ and time.time() - start < limit:
    for i in list(open_):
        s = socks[i]
        try:
            if s.recv(4096) == b"":
                open_.discard(i)
                continue
        except BlockingIOError:
            pass
        except OSError:
            open_.discard(i)
            continue
        try:
            s.send(b"X-Slow: y\r\n" if mode == "headers" else b"xxxxxxxxxx")
        except OSError:
            open_.discard(i)
    time.sleep(0.5)
print("closed", n - len(open_), "open", len(open_), flush=True)
PY

start_dcrd data --header-timeout 3s --max-connections-per-address 16 --min-body-rate 1K/2s || finish

# ---- 300 slow connections from one address: others are still served ----
python3 slow.py "$DCRD_PORT" headers 300 60 >slow.out 2>&1 &
slow_pid=$!
DCRD_PIDS+=("$slow_pid")
for _ in $(seq 200); do grep -q '^opened' slow.out && break; sleep 0.05; done
has "$(cat slow.out)" '^opened 300$' "the attacker opened its connections"
expect 0 "healthz from another address during the attack" curl -fsS --max-time 20 "$DCR_ENDPOINT/healthz"
has "$out" '^ok$' "healthz answers"
expect 0 "a call from another address during the attack" "$DCR" attest
wait "$slow_pid"
has "$(cat slow.out)" '^closed 300 open 0$' "dcrd closed every slow connection"
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
dropped=$(sed -n 's/^dcrd_connections_dropped_total{reason="header-timeout"} //p' <<<"$out")
checks=$((checks + 1))
# Those over the per-address limit were refused at once; the watchdog closed the rest at the deadline.
[ "${dropped:-0}" -ge 1 ] && [ "${dropped:-0}" -le 16 ] ||
	fail "$dropped connections were closed at the header deadline; want 1 to 16 (the per-address limit)"
has "$(cat dcrd.log)" 'closed a connection that sent no complete request headers within 3 s' "the drop is logged"
has "$(cat dcrd.log)" '^dcrd: libmicrohttpd: ' "libmicrohttpd's messages are logged"
# Said at the end of the 10 s window that left them out.
for _ in $(seq 600); do grep -q 'more lines from libmicrohttpd were left out' dcrd.log && break; sleep 0.05; done
has "$(cat dcrd.log)" '^dcrd: [0-9]+ more lines from libmicrohttpd were left out$' "but not one for each refusal"
checks=$((checks + 1))
[ "$(grep -c '^dcrd: libmicrohttpd: ' dcrd.log)" -le 100 ] || fail "the attack flooded dcrd's log"

# ---- a body that trickles is dropped; a healthy call is not ----
python3 slow.py "$DCRD_PORT" body 4 60 >body.out 2>&1
has "$(cat body.out)" '^closed 4 open 0$' "dcrd closed the slow bodies"
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
has "$out" '^dcrd_connections_dropped_total\{reason="slow-body"\} 4$' "metrics count them"
has "$(cat dcrd.log)" 'closed a connection whose request body sent [0-9]+ bytes in 2 s \(at least 1024 wanted\)' \
	"the drop is logged"
make_ca ca
make_user alice alice@acme.example ca
expect 0 "a call still works" "$DCR" -i alice attest

# ---- a kept-alive connection that sends nothing more is closed at the deadline too ----
expect 0 "an idle kept-alive connection" python3 - "$DCRD_PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
s.settimeout(60)
data = b""
while b"ok\n" not in data:
    data += s.recv(4096)
start = time.time()
rest = s.recv(4096)
print("answered", data.split(b"\r\n")[0].decode(), "then closed" if rest == b"" else "then more data",
      "after at least 2 s" if time.time() - start >= 2 else "too early")
PY
has "$out" '^answered HTTP/1.1 200 OK then closed after at least 2 s$' "the idle connection was closed after the deadline"

# ---- the deadlines hold whatever the wall clock does ----
# The watchdog waited on the wall clock: set back an hour (here: read an
# hour ahead, as the host of an enclave can make it), it slept that hour,
# and no connection was held to its deadline; libmicrohttpd's idle timeout
# (30 s) closed this one instead, without a word in the log.
stop_dcrd TERM
echo 3600000 >clock-offset
DCR_TEST_CLOCK_FILE=$TEST_TMP/clock-offset DCRD_PRELOAD=$FAKE_CLOCK DCRD_PORT_WANTED=$DCRD_PORT \
	start_dcrd data --header-timeout 1s || finish
expect 0 "a connection that sends half a request line" python3 - "$DCRD_PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HT")
s.settimeout(120)
print("closed" if s.recv(4096) == b"" else "answered")
PY
has "$out" '^closed$' "it was closed"
has "$(cat dcrd.log)" 'closed a connection that sent no complete request headers within 1 s' \
	"by the watchdog, at its deadline"
rm clock-offset

# ---- upload slots: slow PUTs of one uploader, or from one address, leave room for others ----
stop_dcrd TERM
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --max-puts-per-uploader 2 --max-puts-per-address 2 || finish
make_user mallory mallory@acme.example ca
make_user eve eve@acme.example ca
mkdir -p room
cp ca.pem room/ca.pem
cat >room/room.yaml <<'YAML'
version: 1
name: uploads
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [upload blob]
  mallory@acme.example: [upload blob]
  eve@acme.example: [upload blob]
data:
  blob: {type: file}
YAML
expect 0 "create a room" "$DCR" -q -i alice create room/room.yaml || finish
head -c $((300 << 10)) /dev/urandom >file.bin
m1=$(partial_upload mallory file.bin)
m2=$(partial_upload mallory file.bin)
m3=$(partial_upload mallory file.bin)
e1=$(partial_upload eve file.bin)
e2=$(partial_upload eve file.bin)

# put.py PORT SECONDS [ADDRESS:DATASET:WANT]...: PUT each upload's real
# ciphertext from ADDRESS a byte every half second; WANT is "held" (dcrd
# takes it and waits for the rest) or the status of an immediate refusal.
# Then holds the connections for SECONDS and reports what it saw.
cat >put.py <<'PY'
import json, os, socket, subprocess, sys, time, urllib.request
port, hold = int(sys.argv[1]), float(sys.argv[2])
keystore = os.path.join(os.environ["XDG_DATA_HOME"], "dcr", "datasets")
base = "http://127.0.0.1:%d" % port

def writing():
    for line in urllib.request.urlopen(base + "/metrics").read().decode().splitlines():
        if line.startswith("dcrd_uploads_writing "):
            return int(line.split()[1])

held = []
for arg in sys.argv[3:]:
    addr, ds, want = arg.split(":")
    entry = json.load(open(os.path.join(keystore, ds + ".json")))
    token = entry["upload_token"]
    # The file's stream, as dcr encrypts it while sending (the same key and salt).
    keyfile = os.path.join(keystore, ds + ".key")
    fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, bytes.fromhex(entry["key"]))
    os.close(fd)
    src = entry["source"]
    data = subprocess.run([os.environ["STREAM_TOOL"], "enc", keyfile, str(src["chunk_size"]), src["salt"]],
                          stdin=open(src["path"], "rb"), capture_output=True, check=True).stdout
    os.unlink(keyfile)
    req = urllib.request.Request(base + "/v1/blobs/" + ds, method="HEAD", headers={"Authorization": "Bearer " + token})
    offset = int(urllib.request.urlopen(req).headers["Upload-Offset"])
    before = writing()
    s = socket.socket()
    s.bind((addr, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(("PUT /v1/blobs/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nUpload-Offset: %d\r\n"
               "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n"
               % (ds, token, offset, len(data) - offset)).encode())
    if want == "held":
        # dcrd has taken it once it counts one more writer.
        for _ in range(600):
            if writing() == before + 1:
                break
            time.sleep(0.05)
        print(ds, "held" if writing() == before + 1 else "not taken", flush=True)
        held.append((s, data, offset))
    else:
        s.settimeout(60)
        print(ds, s.recv(4096).split(b"\r\n")[0].decode(), flush=True)
        s.close()
print("ready", flush=True)
start = time.time()
while held and time.time() - start < hold:
    for h in list(held):
        s, data, offset = h
        try:
            s.sendall(data[offset:offset + 1])
            held[held.index(h)] = (s, data, offset + 1)
        except OSError:
            print("dropped", flush=True)
            held.remove(h)
    time.sleep(0.5)
for s, _, _ in held:
    s.setblocking(False)
    try:
        print("answered early" if s.recv(4096) else "closed early", flush=True)
    except BlockingIOError:
        print("still held", flush=True)
PY
python3 put.py "$DCRD_PORT" 60 "127.0.0.2:$m1:held" "127.0.0.2:$m2:held" "127.0.0.3:$m3:429" \
	"127.0.0.2:$e1:429" "127.0.0.3:$e2:held" >put.out 2>&1 &
put_pid=$!
DCRD_PIDS+=("$put_pid")
for _ in $(seq 1200); do grep -q '^ready' put.out && break; sleep 0.05; done
has "$(cat put.out)" "^$m1 held$" "mallory's first PUT is taken"
has "$(cat put.out)" "^$m2 held$" "mallory's second PUT is taken"
has "$(cat put.out)" "^$m3 HTTP/1.1 429" "mallory's third PUT is refused: two of the uploader's are under way"
has "$(cat put.out)" "^$e1 HTTP/1.1 429" "eve's PUT from mallory's address is refused: two from there are under way"
has "$(cat put.out)" "^$e2 held$" "eve's PUT from another address is taken"
expect 0 "an honest upload meanwhile" "$DCR" -q -i alice upload file.bin
expect 0 "the refusal says why" curl -sS -X PUT -H "Authorization: Bearer $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["upload_token"])' "$XDG_DATA_HOME/dcr/datasets/$m3.json")" \
	-H 'Upload-Offset: 0' -H 'Content-Type: application/octet-stream' --data-binary @/dev/null "$DCR_ENDPOINT/v1/blobs/$m3"
has "$out" 'uploads of this uploader are under way, the most dcrd takes at once \(--max-puts-per-uploader\)' \
	"the per-uploader limit is named"
kill "$put_pid"
wait "$put_pid" 2>/dev/null

# ---- a PUT that trickles is dropped; what it sent is kept and the upload resumes ----
stop_dcrd TERM
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --min-body-rate 1K/2s || finish
expect 0 "a trickling PUT" python3 put.py "$DCRD_PORT" 30 "127.0.0.2:$m1:held"
has "$out" '^dropped$' "dcrd dropped it"
head_offset() {
	curl -fsSI -H "Authorization: Bearer $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["upload_token"])' \
		"$XDG_DATA_HOME/dcr/datasets/$1.json")" "$DCR_ENDPOINT/v1/blobs/$1" | tr -d '\r' | sed -n 's/^Upload-Offset: //p'
}
checks=$((checks + 1))
[ "$(head_offset "$m1")" -gt 0 ] || fail "what the dropped PUT sent was not kept"
expect 0 "the upload resumes" "$DCR" -q -i mallory upload --resume "$m1"
for ds in "$m2" "$m3"; do
	expect 0 "mallory's other uploads resume" "$DCR" -q -i mallory upload --resume "$ds"
done
for ds in "$e1" "$e2"; do
	expect 0 "eve's uploads resume" "$DCR" -q -i eve upload --resume "$ds"
done

# ---- an answer must be taken at the same pace ----
# A client that takes a large answer a few bytes at a time (a tiny receive
# window) kept its connection for ever: libmicrohttpd's idle timeout starts
# again at every byte sent. Now it must take --min-body-rate too.
stop_dcrd TERM
DCRD_PORT_WANTED=$DCRD_PORT start_dcrd data --min-body-rate 1K/2s || finish
cat >room/answers.yaml <<'YAML'
version: 1
name: answers
enclave: dcrd:sim
authentication: {ca: ca.pem}
participants:
  alice@acme.example: [run big, fetch big]
compute:
  big:
    type: sql
    query: WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) SELECT x, printf('%060d', x) AS pad FROM c
YAML
expect 0 "a room with a large result" "$DCR" -q -i alice create room/answers.yaml || finish
answers=$out
expect 0 "the large result" "$DCR" -q -i alice run "$answers" big --wait || finish
job=$out
expect 0 "where its ciphertext is" "$REPLAY_CALL" "$DCR_ENDPOINT" specs.yaml alice 1 0 job.fetch "$answers" "$job"
read -r _ blob token <<<"$(grep '^blob ' <<<"$out")"
expect 0 "a client that takes the answer 100 bytes a second" python3 - "$DCRD_PORT" "$blob" "$token" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /v1/blobs/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode())
s.settimeout(1)
start, got, end = time.time(), b"", False
while not end and time.time() - start < 20:
    try:
        data = s.recv(100)
        got += data
        end = not data
        time.sleep(1)
    except socket.timeout:
        pass
# Then as fast as it comes: what dcrd had sent before it closed the connection, or the whole answer.
s.settimeout(30)
while not end:
    data = s.recv(1 << 16)
    got += data
    end = not data
head, _, body = got.partition(b"\r\n\r\n")
length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
print("cut off" if len(body) < length else "taken whole", "at", len(body), "of", length)
PY
has "$out" '^cut off at [0-9]+ of [0-9]+$' "dcrd closed it before the answer was taken"
has "$(cat dcrd.log)" 'closed a connection that took [0-9]+ bytes of its answer in 2 s \(at least 1024 wanted\)' \
	"the drop is logged"
expect 0 "metrics" curl -fsS "$DCR_ENDPOINT/metrics"
has "$out" '^dcrd_connections_dropped_total\{reason="slow-answer"\} 1$' "metrics count it"
expect 0 "a client that takes it at once is served" "$DCR" -q -i alice fetch "$job" -o big.csv
checks=$((checks + 1))
[ "$(wc -l <big.csv)" = 400001 ] || fail "the large result has $(wc -l <big.csv) lines"

# ---- options ----
for bad in 0s 10 2h 5x; do
	expect 2 "--header-timeout $bad" "$DCRD" serve --data-dir data2 --header-timeout "$bad"
	has "$err" "invalid --header-timeout '$bad'" "the bad value is named"
done
for bad in 64K 0/30s 64K/0s 64K/2h x/1s /1s; do
	expect 2 "--min-body-rate $bad" "$DCRD" serve --data-dir data2 --min-body-rate "$bad"
	has "$err" "invalid --min-body-rate '$bad'" "the bad value is named"
done
expect 2 "--max-connections-per-address 0" "$DCRD" serve --data-dir data2 --max-connections-per-address 0
expect 2 "--max-puts-per-uploader x" "$DCRD" serve --data-dir data2 --max-puts-per-uploader x
expect 2 "--max-puts-per-address 0" "$DCRD" serve --data-dir data2 --max-puts-per-address 0
checks=$((checks + 1))
[ ! -e data2 ] || fail "a refused start created a data directory"
finish
