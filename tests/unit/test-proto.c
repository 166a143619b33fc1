/* Unit tests for the generated protobuf code and lib/proto.c: the call envelope round-trips, canonical decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit.pb-c.h"
#include "call.pb-c.h"
#include "proto.h"

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

/* dcr_proto_unpack_canonical on bytes written by hand: the code and, when refused, a piece of the message. */
static void expect_tree_head(const uint8_t *b, size_t len, int code, const char *why)
{
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	struct dcr_err err = { 0 };

	assert_int_equal(dcr_proto_unpack_canonical(&dcr__v1__tree_head__descriptor, b, len, "the head", &m, &err), code);
	if (code == 0) {
		assert_non_null(m);
		protobuf_c_message_free_unpacked(m, NULL);
		return;
	}
	assert_null(m);
	if (!strstr(err.msg, why))
		fail_msg("'%s' lacks '%s'", err.msg, why);
	assert_int_equal(dcr_proto_check_canonical(&dcr__v1__tree_head__descriptor, b, len, "the head", &err), code);
}

/* TreeHead: room_id = 1 (string), size = 2 (uint64), root = 3 (bytes), time_ms = 4 (int64). */
static void test_canonical_scalars(void **state)
{
	/* room_id "ab", size 2, root "x", time_ms 1 */
	static const uint8_t good[] = { 0x0a, 2, 'a', 'b', 0x10, 2, 0x1a, 1, 'x', 0x20, 1 };
	static const uint8_t long_varint[] = { 0x0a, 2, 'a', 'b', 0x10, 0x82, 0x00, 0x1a, 1, 'x', 0x20, 1 };
	static const uint8_t long_length[] = { 0x0a, 0x82, 0x00, 'a', 'b', 0x10, 2, 0x1a, 1, 'x', 0x20, 1 };
	static const uint8_t reordered[] = { 0x10, 2, 0x0a, 2, 'a', 'b', 0x1a, 1, 'x', 0x20, 1 };
	static const uint8_t twice[] = { 0x0a, 2, 'a', 'b', 0x10, 7, 0x10, 2, 0x1a, 1, 'x', 0x20, 1 };
	static const uint8_t a_default[] = { 0x0a, 2, 'a', 'b', 0x10, 2, 0x1a, 1, 'x', 0x20, 0 };
	static const uint8_t unknown_last[] = { 0x0a, 2, 'a', 'b', 0x10, 2, 0x1a, 1, 'x', 0x20, 1, 0x7a, 1, 0 };
	static const uint8_t unknown_first[] = { 0x78, 5, 0x0a, 2, 'a', 'b', 0x10, 2, 0x1a, 1, 'x', 0x20, 1 };
	static const uint8_t truncated[] = { 0x0a, 2, 'a', 'b', 0x10, 2, 0x1a, 3, 'x' };
	static const uint8_t wrong_type[] = { 0x0a, 2, 'a', 'b', 0x12, 1, 2, 0x1a, 1, 'x', 0x20, 1 };

	(void)state;
	expect_tree_head(good, sizeof(good), 0, NULL);
	expect_tree_head(NULL, 0, 0, NULL); /* every field at its default */
	expect_tree_head(long_varint, sizeof(long_varint), DCR_EINTEGRITY, "gives 11 bytes, not 12");
	expect_tree_head(long_length, sizeof(long_length), DCR_EINTEGRITY, "gives 11 bytes, not 12");
	expect_tree_head(reordered, sizeof(reordered), DCR_EINTEGRITY, "the head is not in its canonical encoding: "
									   "encoding it again differs at byte 0");
	expect_tree_head(twice, sizeof(twice), DCR_EINTEGRITY, "gives 11 bytes, not 13");
	expect_tree_head(a_default, sizeof(a_default), DCR_EINTEGRITY, "gives 9 bytes, not 11");
	expect_tree_head(unknown_last, sizeof(unknown_last), DCR_EINTEGRITY, "an unknown field 15 in the TreeHead");
	expect_tree_head(unknown_first, sizeof(unknown_first), DCR_EINTEGRITY, "an unknown field 15 in the TreeHead");
	expect_tree_head(truncated, sizeof(truncated), DCR_EINVALID, "the head does not decode as a TreeHead message");
	expect_tree_head(wrong_type, sizeof(wrong_type), DCR_EINVALID, "does not decode");
}

/* An unknown field in a message inside another, singular or repeated, is found and named. */
static void test_canonical_nested(void **state)
{
	Dcr__V1__AuditExport ex = DCR__V1__AUDIT_EXPORT__INIT, *back = NULL;
	Dcr__V1__SignedTreeHead sth = DCR__V1__SIGNED_TREE_HEAD__INIT;
	Dcr__V1__InclusionProof p0 = DCR__V1__INCLUSION_PROOF__INIT, p1 = DCR__V1__INCLUSION_PROOF__INIT;
	Dcr__V1__InclusionProof *proofs[] = { &p0, &p1 };
	ProtobufCMessageUnknownField extra = { 15, PROTOBUF_C_WIRE_TYPE_VARINT, 1, (uint8_t *)"\x05" };
	uint8_t sig[64] = { 1 }, hash[32] = { 2 }, buf[512];
	ProtobufCBinaryData hashes[] = { { 32, hash } };
	struct dcr_err err;
	size_t len;

	(void)state;
	sth.head = (ProtobufCBinaryData){ 3, (uint8_t *)"abc" };
	sth.signature = (ProtobufCBinaryData){ 64, sig };
	p1.hashes = hashes;
	p1.n_hashes = 1;
	ex.version = 1;
	ex.room_id = "r";
	ex.head = &sth;
	ex.proofs = proofs;
	ex.n_proofs = 2;
	len = dcr__v1__audit_export__pack(&ex, buf);
	assert_int_equal(dcr_proto_unpack_canonical(&dcr__v1__audit_export__descriptor, buf, len, "the export",
				 (ProtobufCMessage **)&back, &err), 0);
	assert_int_equal(back->n_proofs, 2);
	assert_int_equal(back->head->signature.len, 64);
	dcr__v1__audit_export__free_unpacked(back, NULL);

	/* protobuf-c keeps these and writes them back: unpacking and packing again alone would pass them. */
	sth.base.n_unknown_fields = 1;
	sth.base.unknown_fields = &extra;
	len = dcr__v1__audit_export__pack(&ex, buf);
	back = dcr__v1__audit_export__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(dcr__v1__audit_export__get_packed_size(back), len);
	dcr__v1__audit_export__free_unpacked(back, NULL);
	assert_int_equal(dcr_proto_check_canonical(&dcr__v1__audit_export__descriptor, buf, len, "the export", &err),
		DCR_EINTEGRITY);
	assert_string_equal(err.msg, "the export is not in its canonical encoding: an unknown field 15 in a nested "
				     "SignedTreeHead");
	sth.base.n_unknown_fields = 0;
	p1.base.n_unknown_fields = 1;
	p1.base.unknown_fields = &extra;
	len = dcr__v1__audit_export__pack(&ex, buf);
	assert_int_equal(dcr_proto_check_canonical(&dcr__v1__audit_export__descriptor, buf, len, "the export", &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "an unknown field 15 in a nested InclusionProof"));
	p1.base.n_unknown_fields = 0;
	ex.base.n_unknown_fields = 1;
	ex.base.unknown_fields = &extra;
	len = dcr__v1__audit_export__pack(&ex, buf);
	assert_int_equal(dcr_proto_check_canonical(&dcr__v1__audit_export__descriptor, buf, len, "the export", &err),
		DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "an unknown field 15 in the AuditExport"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_roundtrip),
		cmocka_unit_test(test_canonical_scalars),
		cmocka_unit_test(test_canonical_nested),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
