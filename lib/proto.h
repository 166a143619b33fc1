/* Strict protobuf decoding: a message is accepted only in its one canonical encoding. */
#ifndef DCR_PROTO_H
#define DCR_PROTO_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Decode the len bytes at data as a message of type d and accept it only
 * if they are its canonical encoding: no unknown field in it or in any
 * message it contains, and encoding the decoded message again gives
 * exactly these bytes. That refuses fields out of field-number order,
 * a singular field given twice, a default value written out, a varint or
 * length longer than it needs to be, a repeated scalar not packed, and
 * anything after the message. What protobuf-c's unpack and pack alone do
 * not refuse is an unknown field: it is kept and written back.
 *
 * Bytes fields that hold messages of their own are opaque here: check
 * them with another call. what names the message in errors ("the tree
 * head"). Returns 0 with *out set (free with protobuf_c_message_free_unpacked),
 * or DCR_EINVALID when the bytes do not decode at all, DCR_EINTEGRITY when
 * they decode but are not canonical (the message names the unknown field
 * and the message type that holds it, or the first byte that differs),
 * DCR_ENOMEM; *out is NULL then.
 */
int dcr_proto_unpack_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
	const char *what, ProtobufCMessage **out, struct dcr_err *err);

/* The same check when the decoded message is not needed. */
int dcr_proto_check_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
	const char *what, struct dcr_err *err);

#endif
