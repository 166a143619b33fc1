#!/bin/bash
# Slow clients: a connection must send its request headers before a
# deadline and its body at a minimum pace, or dcrd closes it; one address
# holds a bounded number of connections, so hundreds of slow connections
# from one address leave /healthz and calls from others answered.
. "$(dirname "$0")/lib.sh"

cd "$TEST_TMP" || exit 1
"$DCRD" spec >specs.yaml || fail "dcrd spec"
export DCR_SPECS=$TEST_TMP/specs.yaml

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
        s.send(b"POST /v1/call HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
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
checks=$((checks + 1))
[ ! -e data2 ] || fail "a refused start created a data directory"
finish
