"""The protobuf wire format, as much as tests/cli/audit.sh needs to take exports apart and put them together.

A message is a list of fields [number, wire type, value, raw]: the value of
a length-delimited field is its bytes without the length, raw is the whole
field as it was encoded (tag included). Only wire types 0 and 2 occur in
dcr's messages.
"""


def varint(b, i):
    """The varint at b[i:] and the offset after it."""
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def enc_varint(v):
    out = bytearray()
    while True:
        if v < 0x80:
            out.append(v)
            return bytes(out)
        out.append(v & 0x7F | 0x80)
        v >>= 7


def parse(b):
    out, i = [], 0
    while i < len(b):
        start = i
        tag, i = varint(b, i)
        if tag & 7 == 0:
            j = varint(b, i)[1]
            out.append([tag >> 3, 0, b[i:j], b[start:j]])
            i = j
        elif tag & 7 == 2:
            n, j = varint(b, i)
            out.append([tag >> 3, 2, b[j:j + n], b[start:j + n]])
            i = j + n
        else:
            raise ValueError("wire type %d" % (tag & 7))
    return out


def offsets(b):
    """(field number, offset of the tag, offset of the value, its length) of each length-delimited field."""
    out, i = [], 0
    for f, w, v, raw in parse(b):
        if w == 2:
            out.append((f, i, i + len(raw) - len(v), len(v)))
        i += len(raw)
    return out


def build(fields):
    out = bytearray()
    for f, w, v, *_ in fields:
        out += enc_varint(f << 3 | w)
        out += enc_varint(len(v)) + v if w == 2 else v
    return bytes(out)
