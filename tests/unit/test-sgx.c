/* Unit tests for lib/sgx.c: a real Intel quote, and synthetic quotes signed by a test root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "testutil.h"

#include "fileio.h"
#include "sgx-synth.h"
#include "sgx.h"
#include "specs.h"

/* 2025-07-01T00:00:00Z and 2025-08-01T00:00:00Z: inside and after the sample collateral's window. */
#define REAL_INSIDE ((time_t)1751328000)
#define REAL_AFTER ((time_t)1754006400)

/* Synthetic collateral is valid from 2025-01-01 to 2025-02-01; the tests verify on 2025-01-15. */
#define T_ISSUE ((time_t)1735689600)
#define T_NEXT ((time_t)1738368000)
#define T_NOW ((time_t)1736899200)
#define DAY 86400

/* Offsets in a quote (see docs/sgx-verification.md). */

/* The real sample. */

static void test_real_quote(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_result res;
	struct dcr_sgx_quote q;
	struct dcr_err err;
	struct sgx_sample r;
	uint8_t rd[64] = "Hello, world!";

	if (!sgx_sample_load(&r)) {
		print_message("SHARED_DIR/testdata/evidence/sgx-dcap is absent: skipping the real-quote test\n");
		skip();
	}
	assert_int_equal(dcr_sgx_quote_parse(r.quote, r.quote_len, &q, &err), 0);
	assert_int_equal(q.qe_auth_len, 32);
	assert_int_equal(q.cert_type, 5);
	/* Intel's quote library ends the chain with a NUL: the form evidence carries, kept as it is. */
	assert_int_equal(dcr_sgx_quote_canonical(r.quote, r.quote_len, &err), 0);
	{
		uint8_t *same;
		size_t same_len;

		assert_int_equal(dcr_sgx_quote_normalize(r.quote, r.quote_len, &same, &same_len, &err), 0);
		assert_int_equal(same_len, r.quote_len);
		assert_memory_equal(same, r.quote, same_len);
		free(same);
	}
	assert_int_equal(dcr_sgx_collateral_parse(r.collateral, r.collateral_len, &c, &err), 0);
	if (dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_hex(res.mrenclave, 32, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb");
	assert_hex(res.mrsigner, 32, "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6");
	assert_int_equal(res.isv_prod_id, 0);
	assert_int_equal(res.isv_svn, 0);
	assert_int_equal(res.attributes[0], 0x05);
	assert_false(res.debug);
	assert_hex(res.fmspc, 6, "00a067110000");
	assert_hex(res.pceid, 2, "0000");
	assert_string_equal(res.platform_tcb_status, "ConfigurationAndSWHardeningNeeded");
	assert_string_equal(res.qe_tcb_status, "UpToDate");
	assert_string_equal(res.tcb_status, "ConfigurationAndSWHardeningNeeded");
	assert_int_equal(res.n_advisory_ids, 2);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00289");
	assert_string_equal(res.advisory_ids[1], "INTEL-SA-00615");
	assert_int_equal(dcr_sgx_check_report_data(&res, rd, &err), 0);
	rd[0] ^= 1;
	assert_int_equal(dcr_sgx_check_report_data(&res, rd, &err), DCR_EATTEST);

	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_AFTER, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg,
		"expired collateral: tcbInfo nextUpdate 2025-07-19T10:56:11Z is before 2025-08-01T00:00:00Z");
	/* One second after the QE identity's nextUpdate, which is the earliest. */
	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, (time_t)1752919279,
		&res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "expired collateral: enclaveIdentity nextUpdate 2025-07-19T10:01:18Z"));
	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, (time_t)1750000000,
		&res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "collateral not yet valid"));

	/* The real quote against a root it does not chain to. */
	r.root[r.root_len - 10] ^= 1;
	assert_int_equal(dcr_sgx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err),
		DCR_EATTEST);
	dcr_sgx_collateral_free(c);
	sgx_sample_free(&r);
}

/* Synthetic evidence (tests/tools/sgx-synth.c): keys made once, certificates and documents per test. */

static struct sgx_synth_keys K;

static void default_opts(struct sgx_synth_opts *o)
{
	sgx_synth_opts_default(o, T_ISSUE, T_NEXT);
}

static int setup(void **state)
{
	sgx_synth_keys_init(&K);
	return 0;
}

static int teardown(void **state)
{
	sgx_synth_keys_release(&K);
	return 0;
}

static void le32put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void build(const struct sgx_synth_opts *o, struct sgx_synth *f)
{
	sgx_synth_build(&K, o, f);
}

static void release(struct sgx_synth *f)
{
	sgx_synth_release(f);
}

static int run_at(struct sgx_synth *f, time_t now, struct dcr_sgx_result *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c;
	int r;

	if ((r = dcr_sgx_collateral_parse((const uint8_t *)f->collateral, f->collateral_len, &c, err)) < 0)
		return r;
	r = dcr_sgx_verify(f->quote, f->quote_len, c, f->root, f->root_len, now, res, err);
	dcr_sgx_collateral_free(c);
	return r;
}

/* Build with o, verify now, and expect a DCR_EATTEST whose message contains want. */
static void expect_fail(const struct sgx_synth_opts *o, time_t now, const char *want)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth f;

	build(o, &f);
	err.msg[0] = 0;
	if (run_at(&f, now, &res, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("wanted an error with '%s', got '%s'", want, err.msg);
	release(&f);
}

static void test_synthetic_ok(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;

	default_opts(&o);
	build(&o, &f);
	if (run_at(&f, T_NOW, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_hex(res.mrenclave, 32, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_hex(res.mrsigner, 32, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
	assert_int_equal(res.isv_prod_id, 7);
	assert_int_equal(res.isv_svn, 3);
	assert_false(res.debug);
	assert_hex(res.fmspc, 6, "00906ea10000");
	assert_string_equal(res.tcb_status, "UpToDate");
	assert_string_equal(res.qe_tcb_status, "UpToDate");
	assert_string_equal(res.tcb_date, "2024-03-13T00:00:00Z");
	assert_int_equal(res.n_advisory_ids, 1);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00615");
	assert_int_equal(dcr_sgx_check_report_data(&res, o.report_data, &err), 0);
	/* The edges of the validity window are inside it. */
	if (run_at(&f, T_ISSUE, &res, &err) < 0 || run_at(&f, T_NEXT - 1, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(run_at(&f, T_NEXT, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "expired collateral: tcbInfo nextUpdate 2025-02-01T00:00:00Z is not after"));
	/* NULL result is allowed. */
	assert_int_equal(run_at(&f, T_NOW, NULL, &err), 0);
	release(&f);
}

/* The generator's knobs the test tools use, its collateral pieces, and re-signing with new report data. */
static void test_synthetic_choices(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;
	uint8_t rd[64], before[SGX_SYNTH_QUOTE_MAX];
	json_t *j;

	sgx_synth_opts_default(&o, T_NOW, T_NOW + 2 * DAY);
	memset(o.mrenclave, 0x11, 32);
	memset(o.mrsigner, 0x22, 32);
	o.isv_prod_id = 0x1234;
	o.isv_svn = 0xfffe;
	o.debug = true;
	build(&o, &f);
	if (run_at(&f, T_NOW + DAY, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_hex(res.mrenclave, 32, "1111111111111111111111111111111111111111111111111111111111111111");
	assert_hex(res.mrsigner, 32, "2222222222222222222222222222222222222222222222222222222222222222");
	assert_int_equal(res.isv_prod_id, 0x1234);
	assert_int_equal(res.isv_svn, 0xfffe);
	assert_true(res.debug);
	assert_int_equal(res.attributes[0], 0x07);
	assert_int_equal(run_at(&f, T_NOW - 1, &res, &err), DCR_EATTEST);
	assert_int_equal(run_at(&f, T_NOW + 2 * DAY, &res, &err), DCR_EATTEST);

	/* The pieces are what the assembled collateral holds. */
	assert_non_null(j = json_loads(f.collateral, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "tcb_info")), f.tcb_info);
	assert_string_equal(json_string_value(json_object_get(j, "tcb_info_signature")), f.tcb_info_signature);
	assert_string_equal(json_string_value(json_object_get(j, "tcb_info_issuer_chain")), f.tcb_info_issuer_chain);
	assert_string_equal(json_string_value(json_object_get(j, "qe_identity")), f.qe_identity);
	assert_string_equal(json_string_value(json_object_get(j, "qe_identity_signature")), f.qe_identity_signature);
	assert_string_equal(json_string_value(json_object_get(j, "qe_identity_issuer_chain")),
		f.qe_identity_issuer_chain);
	assert_string_equal(json_string_value(json_object_get(j, "pck_crl_issuer_chain")), f.pck_crl_issuer_chain);
	assert_hex(f.pck_crl, f.pck_crl_len, json_string_value(json_object_get(j, "pck_crl")));
	assert_hex(f.root_ca_crl, f.root_ca_crl_len, json_string_value(json_object_get(j, "root_ca_crl")));
	json_decref(j);

	/* New report data, signed again by the attestation key, verifies and binds. */
	memset(rd, 0x42, sizeof(rd));
	assert_int_equal(sgx_synth_set_report_data(f.quote, f.quote_len, K.ak, rd), 0);
	if (run_at(&f, T_NOW + DAY, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dcr_sgx_check_report_data(&res, rd, &err), 0);
	assert_hex(res.mrenclave, 32, "1111111111111111111111111111111111111111111111111111111111111111");
	/* Another key, or a stub of a quote, is refused and leaves the quote alone. */
	memcpy(before, f.quote, sizeof(before));
	rd[0] = 0;
	assert_int_equal(sgx_synth_set_report_data(f.quote, f.quote_len, K.pck, rd), -1);
	assert_int_equal(sgx_synth_set_report_data(f.quote, 1000, K.ak, rd), -1);
	assert_memory_equal(before, f.quote, sizeof(before));
	release(&f);
}

/* Every region of the quote is covered by a signature or a binding. */
static void test_tamper_regions(void **state)
{
	static const struct {
		size_t off;
		const char *want;
	} cases[] = {
		{ OFF_QE_SVN, "quote signature invalid" },
		{ OFF_VENDOR, "QE vendor ID is not Intel's" },
		{ OFF_USER_DATA + 3, "quote signature invalid" },
		{ OFF_CPUSVN, "quote signature invalid" },
		{ OFF_MISCSELECT, "quote signature invalid" },
		{ OFF_ATTRIBUTES, "quote signature invalid" },
		{ OFF_MRENCLAVE + 31, "quote signature invalid" },
		{ OFF_MRSIGNER, "quote signature invalid" },
		{ OFF_ISVPRODID, "quote signature invalid" },
		{ OFF_ISVSVN, "quote signature invalid" },
		{ OFF_REPORTDATA + 63, "quote signature invalid" },
		{ OFF_SIGLEN, "signature data length" },
		{ OFF_SIG, "quote signature invalid" },
		{ OFF_SIG + 63, "quote signature invalid" },
		{ OFF_AK, "QE report data does not bind the attestation key" },
		{ OFF_AK + 63, "QE report data does not bind the attestation key" },
		{ OFF_QE_REPORT, "QE report signature invalid" },
		{ OFF_QE_REPORT + 128, "QE report signature invalid" },
		{ OFF_QE_REPORT + 383, "QE report signature invalid" },
		{ OFF_QE_SIG + 10, "QE report signature invalid" },
		{ OFF_AUTH_LEN + 1, "QE authentication data is truncated" },
		{ OFF_AUTH + 5, "QE report data does not bind the attestation key" },
		{ OFF_CERT_TYPE, "certification data type" },
		{ OFF_CERT_LEN, "certification data size" },
		{ OFF_CERT + 5, "PCK certificate chain: certificate 1 does not start with a '-----BEGIN CERTIFICATE-----' line" },
	};
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;

	default_opts(&o);
	build(&o, &f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.quote[cases[i].off] ^= cases[i].off == OFF_AUTH_LEN + 1 ? 0x80 : 0x01;
		err.msg[0] = 0;
		if (run_at(&f, T_NOW, &res, &err) != DCR_EATTEST || !strstr(err.msg, cases[i].want))
			fail_msg("offset %zu: wanted '%s', got '%s'", cases[i].off, cases[i].want, err.msg);
		f.quote[cases[i].off] ^= cases[i].off == OFF_AUTH_LEN + 1 ? 0x80 : 0x01;
	}
	/* A flipped bit inside the base64 of the PCK certificate breaks its signature or encoding. */
	f.quote[OFF_CERT + 300] = f.quote[OFF_CERT + 300] == 'A' ? 'B' : 'A';
	assert_int_equal(run_at(&f, T_NOW, &res, &err), DCR_EATTEST);
	release(&f);
}

static void test_parse_strict(void **state)
{
	struct dcr_sgx_quote q;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;
	uint8_t *big;

	default_opts(&o);
	build(&o, &f);
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), 0);
	assert_int_equal(q.qe_auth_len, AUTH_LEN);
	assert_int_equal(q.qe_report.isv_svn, 8);
	/* Every truncation fails cleanly. */
	for (size_t n = 0; n < f.quote_len; n++)
		assert_int_equal(dcr_sgx_quote_parse(f.quote, n, &q, &err), DCR_EATTEST);
	/* A trailing byte is refused, even with the outer length adjusted. */
	f.quote[f.quote_len] = '\n';
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len + 1, &q, &err), DCR_EATTEST);
	le32put(f.quote + OFF_SIGLEN, (uint32_t)(f.quote_len + 1 - OFF_SIG));
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len + 1, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "certification data size"));
	le32put(f.quote + OFF_SIGLEN, (uint32_t)(f.quote_len - OFF_SIG));
	/* Version, key type, TEE type. */
	f.quote[0] = 4;
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "version 4"));
	f.quote[0] = 3, f.quote[2] = 3;
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "attestation key type 3"));
	f.quote[2] = 2, f.quote[4] = 0x81;
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "TEE type"));
	f.quote[4] = 0;
	/* Oversized input is refused before anything is read. */
	assert_non_null(big = calloc(1, DCR_SGX_QUOTE_MAX + 1));
	assert_int_equal(dcr_sgx_quote_parse(big, DCR_SGX_QUOTE_MAX + 1, &q, &err), DCR_EATTEST);
	free(big);
	assert_int_equal(dcr_sgx_quote_parse(f.quote, f.quote_len, &q, &err), 0);
	release(&f);
}

static void test_wrong_root(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;

	default_opts(&o);
	build(&o, &f);
	assert_int_equal(dcr_sgx_collateral_parse((const uint8_t *)f.collateral, f.collateral_len, &c, &err), 0);
	assert_int_equal(dcr_sgx_verify(f.quote, f.quote_len, c, f.other_root, f.other_root_len, T_NOW, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg, "SGX quote PCK certificate chain: certificate 3 is not the pinned Intel SGX Root CA");
	assert_int_equal(dcr_sgx_verify(f.quote, f.quote_len, c, (const uint8_t *)"junk", 4, T_NOW, &res, &err),
		DCR_EATTEST);
	assert_non_null(strstr(err.msg, "not a DER certificate"));
	dcr_sgx_collateral_free(c);
	release(&f);

	default_opts(&o);
	o.pck_other_root = true;
	expect_fail(&o, T_NOW, "PCK CRL issuer certificate chain rejected");
	default_opts(&o);
	o.tcb_other_root = true;
	expect_fail(&o, T_NOW, "tcbInfo certificate chain rejected");
}

static void test_revocation(void **state)
{
	struct sgx_synth_opts o;

	default_opts(&o);
	o.revoke_pck = true;
	expect_fail(&o, T_NOW, "PCK certificate revoked");
	default_opts(&o);
	o.revoke_ca = true;
	expect_fail(&o, T_NOW, "revoked ('Intel SGX PCK Processor CA')");
	default_opts(&o);
	o.pck_crl_wrong_key = true;
	expect_fail(&o, T_NOW, "PCK CRL signature invalid");
	default_opts(&o);
	o.root_crl_wrong_key = true;
	expect_fail(&o, T_NOW, "root CA CRL is not signed by the pinned root CA");
}

static void test_expired(void **state)
{
	struct sgx_synth_opts o;

	default_opts(&o);
	expect_fail(&o, T_NEXT + 1, "expired collateral: tcbInfo nextUpdate 2025-02-01T00:00:00Z is before 2025-02-01T00:00:01Z");
	expect_fail(&o, T_ISSUE - 1, "collateral not yet valid: tcbInfo issueDate 2025-01-01T00:00:00Z");
	default_opts(&o);
	o.qe_next = T_NOW - DAY;
	expect_fail(&o, T_NOW, "expired collateral: enclaveIdentity nextUpdate 2025-01-14T00:00:00Z is before 2025-01-15T00:00:00Z");
	default_opts(&o);
	o.crl_next = T_NOW - DAY;
	expect_fail(&o, T_NOW, "expired collateral: root CA CRL nextUpdate 2025-01-14T00:00:00Z");
	default_opts(&o);
	o.pck_not_after = T_NOW - DAY;
	expect_fail(&o, T_NOW, "PCK certificate chain rejected at 'Intel SGX PCK Certificate': certificate has expired");
}

static void test_collateral_signatures(void **state)
{
	struct sgx_synth_opts o;

	default_opts(&o);
	o.tamper_tcb_text = true;
	expect_fail(&o, T_NOW, "tcbInfo signature invalid");
	default_opts(&o);
	o.tamper_qe_text = true;
	expect_fail(&o, T_NOW, "enclaveIdentity signature invalid");
	default_opts(&o);
	o.tcb_cn = "Intel SGX PCK Certificate";
	expect_fail(&o, T_NOW, "collateral: tcb_info_issuer_chain: certificate 1 is 'Intel SGX PCK Certificate', not "
		"'Intel SGX TCB Signing'");
}

static void test_pck_extension(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;

	default_opts(&o);
	o.tcb_fmspc[5] = 1;
	expect_fail(&o, T_NOW, "PCK certificate FMSPC 00906ea10000 / PCEID 0000 does not match the TCB info's 00906ea10001");
	default_opts(&o);
	o.tcb_pceid[1] = 1;
	expect_fail(&o, T_NOW, "does not match the TCB info's");
	default_opts(&o);
	o.no_ext = true;
	expect_fail(&o, T_NOW, "PCK certificate SGX extension is missing or malformed");
	default_opts(&o);
	o.pck_cn = "Intel SGX TCB Signing";
	expect_fail(&o, T_NOW, "SGX quote PCK certificate chain: certificate 1 is 'Intel SGX TCB Signing', not "
		"'Intel SGX PCK Certificate'");
	/* Below every TCB level. */
	default_opts(&o);
	o.pck_comp[15] = 0;
	expect_fail(&o, T_NOW, "platform TCB is below every TCB level");
	default_opts(&o);
	o.pck_pcesvn = 4;
	expect_fail(&o, T_NOW, "platform TCB is below every TCB level");
	/* One component below the first level selects the second. */
	default_opts(&o);
	o.pck_comp[6] = 4;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb_status, "OutOfDate");
	assert_int_equal(res.n_advisory_ids, 2);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00289");
	assert_string_equal(res.advisory_ids[1], "INTEL-SA-00615");
	release(&f);
	/* pcesvn one below the first level also selects the second. */
	default_opts(&o);
	o.pck_pcesvn = 12;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.platform_tcb_status, "OutOfDate");
	release(&f);
}

static void test_qe_binding(void **state)
{
	struct sgx_synth_opts o;

	default_opts(&o);
	o.bad_binding = true;
	expect_fail(&o, T_NOW, "QE report data does not bind the attestation key");
}

static void test_qe_identity(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	struct sgx_synth f;

	default_opts(&o);
	o.qe_mrsigner[0] ^= 1;
	expect_fail(&o, T_NOW, "quoting enclave MRSIGNER does not match the QE identity");
	default_opts(&o);
	o.qe_prodid = 2;
	expect_fail(&o, T_NOW, "quoting enclave ISVPRODID 2 is not the QE identity's 1");
	default_opts(&o);
	o.qe_misc = 1;
	expect_fail(&o, T_NOW, "quoting enclave MISCSELECT does not match");
	default_opts(&o);
	o.qe_flags = 0x13; /* DEBUG on the quoting enclave: inside the mask */
	expect_fail(&o, T_NOW, "quoting enclave ATTRIBUTES do not match");
	default_opts(&o);
	o.qe_isvsvn = 1;
	expect_fail(&o, T_NOW, "quoting enclave ISVSVN 1 is below every QE identity TCB level");
	/* A bit outside the attributes mask is ignored. */
	default_opts(&o);
	o.qe_flags = 0x15;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	release(&f);
	/* An out-of-date QE makes an up-to-date platform out of date, and adds its advisories. */
	default_opts(&o);
	o.qe_isvsvn = 5;
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.qe_tcb_status, "OutOfDate");
	assert_string_equal(res.platform_tcb_status, "UpToDate");
	assert_string_equal(res.tcb_status, "OutOfDate");
	assert_int_equal(res.n_advisory_ids, 2);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00615");
	assert_string_equal(res.advisory_ids[1], "INTEL-SA-00219");
	release(&f);
	default_opts(&o);
	o.qe_isvsvn = 5;
	o.tcb_status = "ConfigurationNeeded";
	build(&o, &f);
	assert_int_equal(run_at(&f, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb_status, "OutOfDateConfigurationNeeded");
	release(&f);
}

static void sgx_spec(struct dcr_spec *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "dcrd:test");
	s->format = DCR_SPEC_SGX_DCAP;
	s->has_measurement = true;
	memset(s->measurement, 0xaa, 32);
	s->n_tcb_statuses = 2;
	s->tcb_statuses[0] = "SWHardeningNeeded";
	s->tcb_statuses[1] = "UpToDate";
}

static void verified(const struct sgx_synth_opts *o, struct dcr_sgx_result *res)
{
	struct dcr_err err;
	struct sgx_synth f;

	build(o, &f);
	if (run_at(&f, T_NOW, res, &err) < 0)
		fail_msg("%s", err.msg);
	release(&f);
}

static void test_policy(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_spec s;
	struct dcr_err err;
	struct sgx_synth_opts o;

	default_opts(&o);
	verified(&o, &res);
	sgx_spec(&s);
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);
	s.measurement[31] ^= 1;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "MRENCLAVE aaaa"));
	/* MRSIGNER + ISVPRODID + minimum ISVSVN. */
	s.has_measurement = false;
	s.has_signer = true;
	memset(s.mrsigner, 0xbb, 32);
	s.isv_prod_id = 7;
	s.min_isv_svn = 3;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);
	s.min_isv_svn = 4;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "ISVSVN 3 is below"));
	s.min_isv_svn = 3, s.isv_prod_id = 8;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "ISVPRODID 7"));
	s.isv_prod_id = 7, s.mrsigner[0] = 0;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "MRSIGNER bbbb"));
	s.has_signer = false;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "pins neither"));
	sgx_spec(&s);
	s.format = DCR_SPEC_SIM;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);

	/* Debug enclaves verify, but the policy refuses them unless allowed. */
	default_opts(&o);
	o.debug = true;
	verified(&o, &res);
	assert_true(res.debug);
	sgx_spec(&s);
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "debug mode"));
	s.debug_allowed = true;
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);

	/* TCB status outside the accepted list; Revoked never. */
	default_opts(&o);
	o.tcb_status = "ConfigurationNeeded";
	verified(&o, &res);
	sgx_spec(&s);
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "TCB status ConfigurationNeeded is not accepted"));
	s.tcb_statuses[0] = "ConfigurationNeeded";
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), 0);
	default_opts(&o);
	o.tcb_status = "Revoked";
	verified(&o, &res);
	s.tcb_statuses[0] = "Revoked";
	assert_int_equal(dcr_sgx_check_policy(&res, &s, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "Revoked"));
}

static void test_report_data(void **state)
{
	struct dcr_sgx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;
	uint8_t want[64] = { 0 };

	default_opts(&o);
	verified(&o, &res);
	memcpy(want, "dcr test enclave keys", 21);
	assert_int_equal(dcr_sgx_check_report_data(&res, want, &err), 0);
	want[63] = 1;
	assert_int_equal(dcr_sgx_check_report_data(&res, want, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "REPORTDATA does not bind"));
}

static int parse_json(const char *s, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c = NULL;
	int r = dcr_sgx_collateral_parse((const uint8_t *)s, strlen(s), &c, err);

	assert_true(r < 0 ? c == NULL : c != NULL);
	dcr_sgx_collateral_free(c);
	return r;
}

/* Rewrite one key of the good collateral and expect a parse error naming it. */
static void expect_bad_key(const struct sgx_synth *f, const char *key, json_t *value, const char *want)
{
	json_t *j = json_loads(f->collateral, 0, NULL);
	struct dcr_err err;
	char *s;

	assert_non_null(j);
	if (value)
		json_object_set_new(j, key, value);
	else
		json_object_del(j, key);
	s = json_dumps(j, 0);
	err.msg[0] = 0;
	if (parse_json(s, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("%s: wanted '%s', got '%s'", key, want, err.msg);
	free(s);
	json_decref(j);
}

/* Lower-case hex of a DER CRL signed by a new key, with a thisUpdate but no nextUpdate. */
static char *crl_without_next_update(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_TIME *t = ASN1_TIME_new();
	unsigned char *der = NULL;
	char *hex;
	int n;

	assert_true(key && crl && name && t);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"Intel SGX Root CA",
		-1, -1, 0), 1);
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, name), 1);
	assert_non_null(ASN1_TIME_set(t, T_ISSUE));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_CRL(crl, &der)) > 0);
	assert_non_null(hex = malloc(2 * (size_t)n + 1));
	dcr_hex(der, (size_t)n, hex);
	OPENSSL_free(der);
	ASN1_TIME_free(t);
	X509_NAME_free(name);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	return hex;
}

static void test_collateral_parse(void **state)
{
	struct dcr_err err;
	char *hex;
	struct sgx_synth_opts o;
	struct sgx_synth f;

	default_opts(&o);
	build(&o, &f);
	assert_int_equal(parse_json(f.collateral, &err), 0);
	assert_int_equal(parse_json("", &err), DCR_EATTEST);
	assert_int_equal(parse_json("[]", &err), DCR_EATTEST);
	assert_int_equal(parse_json("{\"a\":1,\"a\":2}", &err), DCR_EATTEST);
	expect_bad_key(&f, "tcb_info", NULL, "collateral: missing key 'tcb_info'");
	expect_bad_key(&f, "extra", json_string("x"), "collateral: unknown key 'extra'");
	expect_bad_key(&f, "tcb_info", json_integer(1), "collateral: 'tcb_info' is not a string");
	expect_bad_key(&f, "root_ca_crl", json_string("30"), "collateral: root_ca_crl is not a DER CRL");
	expect_bad_key(&f, "root_ca_crl", json_string("3"), "collateral: root_ca_crl is not lower-case hex");
	expect_bad_key(&f, "pck_crl", json_string("zz"), "collateral: pck_crl is not lower-case hex");
	expect_bad_key(&f, "pck_crl", json_string(""), "collateral: pck_crl is not lower-case hex");
	expect_bad_key(&f, "tcb_info_signature", json_string("00"), "collateral: tcb_info_signature is not 128 lower-case hex");
	/* Without a nextUpdate nothing says when a CRL goes stale. */
	hex = crl_without_next_update();
	expect_bad_key(&f, "root_ca_crl", json_string(hex), "collateral: root_ca_crl has no nextUpdate");
	expect_bad_key(&f, "pck_crl", json_string(hex), "collateral: pck_crl has no nextUpdate");
	free(hex);
	expect_bad_key(&f, "qe_identity_issuer_chain", json_string("nope"),
		"collateral: qe_identity_issuer_chain: certificate 1 does not start with a '-----BEGIN CERTIFICATE-----' line");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":\"QE\"}"), "collateral: tcb_info id is \"QE\", not \"SGX\"");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":\"\\u0001\"}"), "collateral: tcb_info id is \"?\", not \"SGX\"");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":1}"), "collateral: tcb_info has no \"id\" string");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":"), "collateral: tcb_info is not JSON (byte ");
	expect_bad_key(&f, "tcb_info", json_string("[]"), "collateral: tcb_info is not a JSON object");
	expect_bad_key(&f, "tcb_info", json_string("{\"id\":\"SGX\",\"issueDate\":\"2025-01-01\"}"),
		"tcb_info issueDate is missing or malformed");
	expect_bad_key(&f, "qe_identity", json_string("not json"), "collateral: qe_identity is not JSON");
	expect_bad_key(&f, "qe_identity", json_string(
		"{\"id\":\"QE\",\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-30T00:00:00Z\"}"),
		"nextUpdate is missing or malformed");
	expect_bad_key(&f, "qe_identity", json_string(
		"{\"id\":\"QE\",\"issueDate\":\"2025-01-01T00:00:00Z\",\"nextUpdate\":\"2025-02-01T00:00:00Z\","
		"\"tcbLevels\":[]}"), "tcbLevels is not a non-empty array");
	release(&f);
	/* Semantic errors inside signed documents are parse errors too. */
	default_opts(&o);
	o.tcb_status = "Great";
	build(&o, &f);
	assert_int_equal(parse_json(f.collateral, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "missing or unknown tcbStatus"));
	release(&f);
}

/* dcr_sgx_collateral_canonical on collateral text: the code, and a piece of the message when refused. */
static void expect_canonical(const char *text, int code, const char *why)
{
	struct dcr_err err = { 0 };

	assert_int_equal(dcr_sgx_collateral_canonical((const uint8_t *)text, strlen(text), "the collateral", &err), code);
	if (code && !strstr(err.msg, why))
		fail_msg("'%s' lacks '%s'", err.msg, why);
}

/* Collateral in an audit export must be exactly the compact JSON dcrd writes (dcr_pcs_assemble). */
static void test_collateral_canonical(void **state)
{
	static const char *const order[] = { "pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain",
		"tcb_info", "tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature" };
	struct sgx_synth_opts o;
	struct sgx_synth f;
	json_t *j = NULL, *reordered = json_object(), *short_one = json_object();
	char *compact, *text, *slash;

	default_opts(&o);
	build(&o, &f);
	assert_non_null(j = json_loads(f.collateral, 0, NULL));
	assert_non_null(compact = json_dumps(j, JSON_COMPACT));
	expect_canonical(compact, 0, NULL);
	/* The generator indents: the same object, another text. */
	expect_canonical(f.collateral, DCR_EINTEGRITY, "the collateral is not in its canonical encoding: it is not the "
						       "compact text dcrd writes");
	for (size_t i = 0; i < 9; i++) {
		json_object_set(reordered, order[(i + 1) % 9], json_object_get(j, order[(i + 1) % 9]));
		if (i < 8)
			json_object_set(short_one, order[i], json_object_get(j, order[i]));
	}
	assert_non_null(text = json_dumps(reordered, JSON_COMPACT));
	expect_canonical(text, DCR_EINTEGRITY, "'root_ca_crl' where 'pck_crl_issuer_chain' belongs");
	free(text);
	assert_non_null(text = json_dumps(short_one, JSON_COMPACT));
	expect_canonical(text, DCR_EINTEGRITY, "'qe_identity_signature' is missing");
	free(text);
	json_object_set(short_one, order[8], json_object_get(j, order[8]));
	json_object_set_new(short_one, "extra", json_string("x"));
	assert_non_null(text = json_dumps(short_one, JSON_COMPACT));
	expect_canonical(text, DCR_EINTEGRITY, "'extra' where nothing belongs");
	free(text);
	/* The same object in other text: a space after the first colon; "\/" where dcrd writes "/". */
	slash = strchr(compact, '/');
	assert_non_null(slash);
	text = malloc(strlen(compact) + 2);
	assert_non_null(text);
	memcpy(text, compact, 24);
	text[24] = ' ';
	memcpy(text + 25, compact + 24, strlen(compact) - 23);
	expect_canonical(text, DCR_EINTEGRITY, "not the compact text");
	memcpy(text, compact, (size_t)(slash - compact));
	text[slash - compact] = '\\';
	memcpy(text + (slash - compact) + 1, slash, strlen(slash) + 1);
	expect_canonical(text, DCR_EINTEGRITY, "not the compact text");
	free(text);
	/* A key twice. */
	expect_canonical("{\"pck_crl_issuer_chain\":\"a\",\"pck_crl_issuer_chain\":\"b\"}", DCR_EINTEGRITY,
		"not a JSON object");
	expect_canonical("", DCR_EINTEGRITY, "not a JSON object");
	free(compact);
	json_decref(j);
	json_decref(reordered);
	json_decref(short_one);
	release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_quote),
		cmocka_unit_test(test_synthetic_ok),
		cmocka_unit_test(test_synthetic_choices),
		cmocka_unit_test(test_tamper_regions),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_wrong_root),
		cmocka_unit_test(test_revocation),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_collateral_signatures),
		cmocka_unit_test(test_pck_extension),
		cmocka_unit_test(test_qe_binding),
		cmocka_unit_test(test_qe_identity),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_report_data),
		cmocka_unit_test(test_collateral_parse),
		cmocka_unit_test(test_collateral_canonical),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
