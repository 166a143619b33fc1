/* What call handlers answer with: packed messages, and copies of records that outlive their reads. */
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "dcrd.h"

#include "banned.h"

int pack_answer(const ProtobufCMessage *msg, uint8_t **out, size_t *len, struct dcr_err *err)
{
	*len = protobuf_c_message_get_packed_size(msg);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	protobuf_c_message_pack(msg, *out);
	return 0;
}

int msg_list_add(struct msg_list *l, const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *grown = realloc(l->items, cap * sizeof(*l->items));

		if (!grown)
			return DCR_ENOMEM;
		l->items = grown;
		l->cap = cap;
	}
	if (!(buf = malloc(len ? len : 1)))
		return DCR_ENOMEM;
	len = protobuf_c_message_pack(msg, buf);
	l->items[l->n] = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
	/* Records can hold keys. */
	dcr_wipe(buf, len);
	free(buf);
	if (!l->items[l->n])
		return DCR_ENOMEM;
	l->n++;
	return 0;
}

void msg_list_free(struct msg_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		protobuf_c_message_free_unpacked(l->items[i], NULL);
	free(l->items);
	memset(l, 0, sizeof(*l));
}
