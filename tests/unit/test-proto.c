/* Unit tests for the generated protobuf code: the call envelope round-trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "call.pb-c.h"

static void test_call_roundtrip(void **state)
{
	uint8_t chain0[] = { 0x30, 0x82, 0x01 }, nonce[16] = { 1, 2, 3 };
	ProtobufCBinaryData chain[] = { { sizeof(chain0), chain0 } };
	Dcr__V1__Call call = DCR__V1__CALL__INIT, *back;
	size_t len;
	uint8_t *buf;

	call.n_certificate_chain = 1;
	call.certificate_chain = chain;
	call.timestamp_ms = 1764000000000;
	call.nonce = (ProtobufCBinaryData){ sizeof(nonce), nonce };
	call.method = "rooms.list";
	len = dcr__v1__call__get_packed_size(&call);
	buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(dcr__v1__call__pack(&call, buf), len);

	back = dcr__v1__call__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->n_certificate_chain, 1);
	assert_memory_equal(back->certificate_chain[0].data, chain0, sizeof(chain0));
	assert_int_equal(back->timestamp_ms, 1764000000000);
	assert_string_equal(back->method, "rooms.list");
	dcr__v1__call__free_unpacked(back, NULL);

	/* A truncated encoding is refused, not misread. */
	assert_null(dcr__v1__call__unpack(NULL, len - 1, buf));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
