#!/usr/bin/env python3
"""Test helper: a fake Intel PCS / PCCS (v4 API) serving the collateral sgx-fake-device init wrote.

usage: fake-pccs.py PCCS_DIR PORTFILE

Binds 127.0.0.1 on a free port, writes the port number to PORTFILE, and
serves until killed. Every request is appended to PCCS_DIR/requests.log as
"METHOD PATH STATUS". While PCCS_DIR/fail exists every answer is 503, so a
test can show what a client does during an outage.
"""

import os
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/sgx/certification/v4/"
# A TDX platform's TCB info and TD_QE identity; its PCK CRL and the root CA CRL stay under PREFIX.
TDX_PREFIX = "/tdx/certification/v4/"


def load(pccs, name):
    with open(os.path.join(pccs, name), "rb") as f:
        return f.read()


def issuer_chain(pccs, name):
    # Intel percent-encodes the PEM chain in the header, newlines and all.
    return urllib.parse.quote(load(pccs, name).decode("ascii"), safe="")


class Handler(BaseHTTPRequestHandler):
    server_version = "fake-pccs"
    protocol_version = "HTTP/1.1"

    def answer(self):
        """(status, body, headers) for this request, never raising for a bad one."""
        pccs = self.server.pccs
        if os.path.exists(os.path.join(pccs, "fail")):
            return 503, b"", {}
        if self.command != "GET":
            return 404, b"", {}
        url = urllib.parse.urlsplit(self.path)
        try:
            query = urllib.parse.parse_qs(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
        except ValueError:
            return 404, b"", {}
        one = {k: v[0] for k, v in query.items() if len(v) == 1}
        # sgx-fake-device init says whose TCB info and QE identity it wrote (pccs/tee: sgx or tdx).
        tee = load(pccs, "tee").decode("ascii").strip() if os.path.exists(os.path.join(pccs, "tee")) else "sgx"
        if url.path.startswith(PREFIX):
            what = url.path[len(PREFIX):]
            if tee == "tdx" and what in ("tcb", "qe/identity"):
                return 404, b"", {}
        elif url.path.startswith(TDX_PREFIX) and tee == "tdx":
            what = url.path[len(TDX_PREFIX):]
            if what not in ("tcb", "qe/identity"):
                return 404, b"", {}
        else:
            return 404, b"", {}
        crl = {"Content-Type": "application/pkix-crl"}
        if what == "pckcrl":
            if one.get("ca") not in ("processor", "platform") or one.get("encoding", "der") != "der":
                return 404, b"", {}
            crl["SGX-PCK-CRL-Issuer-Chain"] = issuer_chain(pccs, "pckcrl-issuer-chain.pem")
            return 200, load(pccs, "pckcrl.der"), crl
        if what == "tcb":
            fmspc = one.get("fmspc", "").lower()
            name = "tcbinfo-%s.json" % fmspc
            if not re.fullmatch(r"[0-9a-f]{12}", fmspc) or not os.path.exists(os.path.join(pccs, name)):
                return 404, b"", {}
            return 200, load(pccs, name), {
                "Content-Type": "application/json",
                "TCB-Info-Issuer-Chain": issuer_chain(pccs, "tcbinfo-issuer-chain.pem"),
            }
        if what == "qe/identity":
            return 200, load(pccs, "qeidentity.json"), {
                "Content-Type": "application/json",
                "SGX-Enclave-Identity-Issuer-Chain": issuer_chain(pccs, "qeidentity-issuer-chain.pem"),
            }
        if what == "rootcacrl":
            return 200, load(pccs, "rootcacrl.der"), crl
        return 404, b"", {}

    def handle_any(self):
        try:
            status, body, headers = self.answer()
        except OSError as e:
            sys.stderr.write("fake-pccs.py: %s\n" % e)
            status, body, headers = 500, b"", {}
        # Logged before answering, so a client that got its answer finds its line already there.
        with self.server.log_lock, open(os.path.join(self.server.pccs, "requests.log"), "a") as log:
            log.write("%s %s %d\n" % (self.command, self.path, status))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

    def log_message(self, format, *args):
        # requests.log is the record; stderr stays for real trouble.
        pass


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: fake-pccs.py PCCS_DIR PORTFILE\n")
        return 2
    pccs, portfile = sys.argv[1], sys.argv[2]
    if not os.path.isfile(os.path.join(pccs, "qeidentity.json")):
        sys.stderr.write("fake-pccs.py: '%s' holds no collateral (run sgx-fake-device init first)\n" % pccs)
        return 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.pccs = pccs
    server.log_lock = threading.Lock()
    # Written whole, then renamed, so a test polling for the file never reads half a number.
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(portfile + ".tmp", portfile)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
