/* Strict protobuf decoding: a message is accepted only in its one canonical encoding. */
#include "proto.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

/* The first message at or under m that holds an unknown field, and that field; NULL if none. */
static const ProtobufCMessage *with_unknown(const ProtobufCMessage *m, const ProtobufCMessageUnknownField **field)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields) {
		*field = &m->unknown_fields[0];
		return m;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m;
		const ProtobufCMessage *found;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF &&
		    *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
			ProtobufCMessage *const *items = *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);

			for (size_t k = 0; k < n; k++)
				if (items[k] && (found = with_unknown(items[k], field)))
					return found;
		} else {
			const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(const void *)(base + f->offset);

			if (sub && (found = with_unknown(sub, field)))
				return found;
		}
	}
	return NULL;
}

int dcr_proto_unpack_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
	const char *what, ProtobufCMessage **out, struct dcr_err *err)
{
	const ProtobufCMessageUnknownField *field = NULL;
	const ProtobufCMessage *holder;
	ProtobufCMessage *m;
	uint8_t *again = NULL;
	size_t n, at = 0;
	int r = 0;

	*out = NULL;
	if (!(m = protobuf_c_message_unpack(d, NULL, len, data)))
		return dcr_err_set(err, DCR_EINVALID, "%s does not decode as a %s message", what, d->short_name);
	if ((holder = with_unknown(m, &field))) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "%s is not in its canonical encoding: an unknown field %u in %s %s",
			what, (unsigned)field->tag, holder == m ? "the" : "a nested", holder->descriptor->short_name);
		goto out;
	}
	n = protobuf_c_message_get_packed_size(m);
	if (n == len && !(again = malloc(n ? n : 1))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	if (n != len) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "%s is not in its canonical encoding: encoding it again gives %zu "
						    "bytes, not %zu", what, n, len);
	} else if (len > 0 && (protobuf_c_message_pack(m, again) != len || memcmp(again, data, len) != 0)) {
		while (at < len && again[at] == data[at])
			at++;
		r = dcr_err_set(err, DCR_EINTEGRITY, "%s is not in its canonical encoding: encoding it again differs at "
						    "byte %zu", what, at);
	}
out:
	free(again);
	if (r < 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return r;
	}
	*out = m;
	return 0;
}

int dcr_proto_check_canonical(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
	const char *what, struct dcr_err *err)
{
	ProtobufCMessage *m;
	int r = dcr_proto_unpack_canonical(d, data, len, what, &m, err);

	if (r == 0)
		protobuf_c_message_free_unpacked(m, NULL);
	return r;
}
