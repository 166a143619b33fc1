#!/usr/bin/env python3
"""The host tampering with an encrypted blob in dcrd's data directory (for tests/cli/tamper.sh).

tamper.py apply KIND BLOB [OTHER]
    Alter the blob file BLOB in place the way KIND says (OTHER: the blob
    that "replace" copies in). The stream layout is dcr-formats(5): a
    76-byte header whose bytes 8..11 are the chunk size C, then chunks of
    C + 16 bytes, the last one shorter or equal.

tamper.py proxy PORT UPSTREAM DATADIR KIND [OTHER]
    An HTTP proxy on 127.0.0.1:PORT in front of dcrd at UPSTREAM that
    applies KIND to DATADIR/blobs/ID just before it forwards the first
    GET /v1/blobs/ID, so a command that runs a job and fetches its result
    in one go meets a blob altered between the two. KIND "withhold" leaves
    the blob alone and passes on only the first half of the answer, with
    the full length announced. It prints "ready" once it listens.
"""
import http.client
import http.server
import os
import struct
import sys
import urllib.parse

HEADER = 76
TAG = 16


def chunks(data):
    """The header and the list of chunks of a stream."""
    size = struct.unpack(">I", data[8:12])[0] + TAG
    body = data[HEADER:]
    return data[:HEADER], [body[i:i + size] for i in range(0, len(body), size)]


def alter(kind, data, other=None):
    header, cs = chunks(data)
    assert len(cs) >= 3, "the tamper matrix needs at least three chunks"
    if kind == "reorder":
        cs[0], cs[1] = cs[1], cs[0]
    elif kind == "duplicate":
        cs.insert(1, cs[0])
    elif kind == "flip-chunk":
        c = bytearray(cs[1])
        c[len(c) // 2] ^= 0x04
        cs[1] = bytes(c)
    elif kind == "flip-tag":
        c = bytearray(cs[0])
        c[-1] ^= 0x80
        cs[0] = bytes(c)
    elif kind == "append":
        cs.append(cs[0])
    elif kind == "truncate-boundary":
        cs.pop()
    elif kind == "truncate-inside":
        cs = cs[:2] + [cs[2][: len(cs[2]) // 2]]
    elif kind == "truncate-header":
        return header[:40]
    elif kind.startswith("header-"):
        # header-N: byte N of the header (0 magic, 7 version, 8..11 chunk size, 12..43 salt, 44..75 MAC)
        h = bytearray(header)
        h[int(kind[7:])] ^= 0x01
        header = bytes(h)
    elif kind == "replace":
        return other
    elif kind == "empty":
        return b""
    else:
        raise SystemExit("tamper.py: unknown kind " + kind)
    return header + b"".join(cs)


def apply(kind, path, other_path=None):
    data = open(path, "rb").read()
    other = open(other_path, "rb").read() if other_path else None
    with open(path, "wb") as f:
        f.write(alter(kind, data, other))


def proxy(port, upstream, datadir, kind, other=None):
    up = urllib.parse.urlsplit(upstream)
    done = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            withhold = False
            if self.command == "GET" and self.path.startswith("/v1/blobs/"):
                blob = self.path[len("/v1/blobs/"):]
                if blob not in done and "/" not in blob:
                    done.add(blob)
                    if kind == "withhold":
                        withhold = True
                    else:
                        apply(kind, os.path.join(datadir, "blobs", blob), other)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            try:
                payload = resp.read()
            except http.client.IncompleteRead as e:
                payload = e.partial  # passed on as it came: short
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("connection", "transfer-encoding"):
                    self.send_header(k, v)
            self.send_header("Connection", "close")
            self.end_headers()
            # withhold: the blob is intact, but half of it never arrives after the announced length.
            self.wfile.write(payload[: len(payload) // 2] if withhold else payload)
            self.close_connection = True
            conn.close()

        do_GET = do_POST = do_PUT = do_HEAD = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "apply":
        apply(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None)
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "proxy":
        proxy(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6] if len(sys.argv) == 7 else None)
    else:
        raise SystemExit(__doc__)
