#!/usr/bin/env python3
"""hold-reads.py FILE DIR: hold every read of FILE until DIR/release exists.

Uses fanotify's permission events (FAN_ACCESS_PERM, which needs
CAP_SYS_ADMIN): the kernel makes each read(2) of FILE wait for this
process's answer. Once marked it creates DIR/ready; at the first read,
DIR/reading (with the reader's pid); when DIR/release appears it lets every
read go and exits (closing the fanotify descriptor allows whatever is
still waiting). Exit status 77 when fanotify is not available here.
"""
import ctypes
import os
import struct
import sys
import time

FAN_CLASS_CONTENT = 0x4
FAN_NONBLOCK = 0x2
FAN_ACCESS_PERM = 0x20000
FAN_MARK_ADD = 0x1
FAN_ALLOW = 0x1
AT_FDCWD = -100
EVENT = struct.Struct("IBBHQii")  # struct fanotify_event_metadata
RESPONSE = struct.Struct("iI")    # struct fanotify_response


def touch(path, text=""):
    with open(path, "w") as f:
        f.write(text)


def main():
    path, folder = sys.argv[1], sys.argv[2]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
    fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_NONBLOCK, os.O_RDONLY)
    if fd < 0 or libc.fanotify_mark(fd, FAN_MARK_ADD, FAN_ACCESS_PERM, AT_FDCWD, path.encode()) < 0:
        print(f"hold-reads: fanotify: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 77
    touch(os.path.join(folder, "ready"))
    held = []
    while not os.path.exists(os.path.join(folder, "release")):
        try:
            buf = os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        at = 0
        while at + EVENT.size <= len(buf):
            length, _, _, _, _, event_fd, pid = EVENT.unpack_from(buf, at)
            if not held:
                touch(os.path.join(folder, "reading"), f"{pid}\n")
            held.append(event_fd)
            at += length
    for event_fd in held:
        os.write(fd, RESPONSE.pack(event_fd, FAN_ALLOW))
        os.close(event_fd)
    os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
