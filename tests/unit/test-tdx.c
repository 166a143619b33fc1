/* Unit tests for lib/tdx.c: a real Intel TDX quote, and synthetic quotes signed by a test root. */
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

#include "testutil.h"

#include "attest-kind.h"
#include "crypto.h"
#include "fileio.h"
#include "pcs.h"
#include "sgx-synth.h"
#include "specs.h"
#include "tdx.h"

/* 2026-03-01, 2026-02-18T00:00:00Z and 2026-03-21: inside, before and after the sample collateral's window. */
#define REAL_INSIDE ((time_t)1772323200)
#define REAL_BEFORE ((time_t)1771372800)
#define REAL_AFTER ((time_t)1774051200)

/* Synthetic collateral is valid from 2025-01-01 to 2025-02-01; the tests verify on 2025-01-15. */
#define T_ISSUE ((time_t)1735689600)
#define T_NEXT ((time_t)1738368000)
#define T_NOW ((time_t)1736899200)

/*
 * Intel's rules refuse the real sample: its PCK certificate's SGX component
 * 8 (SEAMLDR ACM) is at SVN 3, and every level of its TCB info needs 5. That
 * check comes after every signature and identity, so this refusal says the
 * rest of the quote and collateral verified.
 */
#define REAL_VERDICT "platform TCB is below every TCB level in the TCB info (unsupported)"

static struct sgx_synth_keys K;

static int setup(void **state)
{
	(void)state;
	sgx_synth_keys_init(&K);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sgx_synth_keys_release(&K);
	return 0;
}

static int verify_with(const uint8_t *quote, size_t len, const char *json, size_t json_len, const uint8_t *root,
	size_t root_len, time_t now, struct dcr_tdx_result *res, struct dcr_err *err)
{
	struct dcr_sgx_collateral *c;
	int r;

	err->msg[0] = 0;
	if ((r = dcr_tdx_collateral_parse((const uint8_t *)json, json_len, &c, err)) < 0)
		return r;
	r = dcr_tdx_verify(quote, len, c, root, root_len, now, res, err);
	dcr_sgx_collateral_free(c);
	return r;
}

/* The real sample. */

static void test_real_quote(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_tdx_result res;
	struct dcr_tdx_quote q;
	struct dcr_err err;
	struct sgx_sample r;
	uint8_t zero[48] = { 0 };

	(void)state;
	if (!tdx_sample_load(&r)) {
		print_message("SHARED_DIR/testdata/evidence/tdx is absent: skipping the real-quote test\n");
		skip();
	}
	assert_int_equal(dcr_tdx_quote_parse(r.quote, r.quote_len, &q, &err), 0);
	assert_int_equal(q.version, 5);
	assert_int_equal(q.body_type, 3);
	assert_true(q.td.tdx15);
	assert_int_equal(q.dcap.cert_type, 5);
	assert_int_equal(q.dcap.qe_auth_len, 32);
	assert_hex(q.td.mrtd, 48, "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1"
		"ae451d382d5a9b1b4c0ed0e5ae9a3dbd");
	assert_hex(q.td.report_data, 32, "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728");
	assert_memory_equal(q.td.report_data + 32, zero, 32);
	assert_hex(q.td.td_attributes, 8, "0000001000000000");
	assert_hex(q.td.tee_tcb_svn, 4, "07010300");

	assert_int_equal(dcr_tdx_collateral_parse(r.collateral, r.collateral_len, &c, &err), 0);
	assert_int_equal(dcr_tdx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg, REAL_VERDICT);
	assert_int_equal(dcr_tdx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_AFTER, &res, &err),
		DCR_EATTEST);
	assert_non_null(strstr(err.msg, "expired collateral"));
	assert_int_equal(dcr_tdx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_BEFORE, &res, &err),
		DCR_EATTEST);
	assert_non_null(strstr(err.msg, "collateral not yet valid"));
	dcr_sgx_collateral_free(c);

	/* TDX collateral is not SGX collateral. */
	assert_int_equal(dcr_sgx_collateral_parse(r.collateral, r.collateral_len, &c, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "id is \"TDX\", not \"SGX\""));
	sgx_sample_free(&r);
}

static void test_real_wrong_root(void **state)
{
	struct dcr_tdx_result res;
	struct dcr_err err;
	struct sgx_sample r;
	struct sgx_synth f;
	struct sgx_synth_opts o;

	(void)state;
	if (!tdx_sample_load(&r))
		skip();
	sgx_synth_opts_default(&o, T_ISSUE, T_NEXT);
	sgx_synth_build(&K, &o, &f);
	/* A root of the same name and another key. */
	assert_int_equal(verify_with(r.quote, r.quote_len, (const char *)r.collateral, r.collateral_len, f.root,
		f.root_len, REAL_INSIDE, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "is not the pinned Intel SGX Root CA"));
	assert_int_equal(verify_with(r.quote, r.quote_len, (const char *)r.collateral, r.collateral_len, r.quote,
		100, REAL_INSIDE, &res, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "the pinned Intel SGX Root CA is not a DER certificate");
	sgx_synth_release(&f);
	sgx_sample_free(&r);
}

/*
 * Every byte of the real quote flipped (x ^ 0x01, and x ^ 0x80 for the
 * signed part): refused, and for a reason other than the sample's own
 * verdict, so that each byte is seen to be checked, not merely carried.
 */
static void test_real_sweep(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_tdx_result res;
	struct dcr_err err;
	struct sgx_sample r;
	size_t step = 1, refused = 0;

	(void)state;
	if (!tdx_sample_load(&r))
		skip();
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
	step = 3;
#endif
#endif
	assert_int_equal(dcr_tdx_collateral_parse(r.collateral, r.collateral_len, &c, &err), 0);
	for (size_t i = 0; i < r.quote_len; i += step) {
		for (int bit = 0; bit < 8; bit += 7) {
			r.quote[i] ^= (uint8_t)(1u << bit);
			err.msg[0] = 0;
			if (dcr_tdx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err) != DCR_EATTEST &&
			    err.code != DCR_EATTEST)
				fail_msg("byte %zu ^ 0x%x: not refused as an attestation failure (%s)", i, 1u << bit, err.msg);
			if (strcmp(err.msg, REAL_VERDICT) == 0)
				fail_msg("byte %zu ^ 0x%x: refused only as the sample is, so the byte is not checked", i, 1u << bit);
			r.quote[i] ^= (uint8_t)(1u << bit);
			refused++;
		}
	}
	print_message("%zu flips of the real TDX quote refused\n", refused);
	dcr_sgx_collateral_free(c);
	sgx_sample_free(&r);
}

static const char *member(json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));

	assert_non_null(v);
	return v;
}

/* The real sample's collateral as Intel's PCS serves its pieces, assembled again; the PCS facts of its quote. */
static void test_real_pcs(void **state)
{
	struct dcr_pcs_responses in = { 0 };
	struct dcr_sgx_collateral *c;
	struct dcr_tdx_result res;
	struct dcr_err err;
	struct sgx_sample r;
	uint8_t *out, *pck;
	char tcb[16384], qe[4096], ca[16];
	size_t len, pck_len;
	uint8_t fmspc[6];
	json_t *j, *again;

	(void)state;
	if (!tdx_sample_load(&r))
		skip();
	assert_int_equal(dcr_tdx_quote_pck_info(r.quote, r.quote_len, fmspc, ca, &err), 0);
	assert_hex(fmspc, 6, "90c06f000000");
	assert_string_equal(ca, "platform");
	assert_non_null(j = json_loadb((const char *)r.collateral, r.collateral_len, 0, NULL));
	snprintf(tcb, sizeof(tcb), "{\"tcbInfo\":%s,\"signature\":\"%s\"}", member(j, "tcb_info"),
		member(j, "tcb_info_signature"));
	snprintf(qe, sizeof(qe), "{\"enclaveIdentity\":%s,\"signature\":\"%s\"}", member(j, "qe_identity"),
		member(j, "qe_identity_signature"));
	pck_len = strlen(member(j, "pck_crl")) / 2;
	assert_non_null(pck = malloc(pck_len));
	assert_int_equal(dcr_unhex(member(j, "pck_crl"), pck, pck_len), 0);
	in.pck_crl = (struct dcr_pcs_response){ pck, pck_len, member(j, "pck_crl_issuer_chain"), NULL };
	in.tcb_info = (struct dcr_pcs_response){ (uint8_t *)tcb, strlen(tcb), member(j, "tcb_info_issuer_chain"), NULL };
	in.qe_identity = (struct dcr_pcs_response){ (uint8_t *)qe, strlen(qe), member(j, "qe_identity_issuer_chain"),
		NULL };
	in.root_ca_crl = (struct dcr_pcs_response){ (const uint8_t *)member(j, "root_ca_crl"),
		strlen(member(j, "root_ca_crl")), NULL, NULL };
	/* Checked as SGX collateral, it is refused by its TCB info's id. */
	assert_int_equal(dcr_pcs_assemble(&in, &out, &len, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "id is \"TDX\", not \"SGX\""));
	in.tdx = true;
	if (dcr_pcs_assemble(&in, &out, &len, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(again = json_loadb((const char *)out, len, 0, NULL));
	assert_true(json_equal(again, j));
	assert_int_equal(dcr_tdx_collateral_parse(out, len, &c, &err), 0);
	assert_int_equal(dcr_tdx_verify(r.quote, r.quote_len, c, r.root, r.root_len, REAL_INSIDE, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg, REAL_VERDICT);
	dcr_sgx_collateral_free(c);
	json_decref(again);
	json_decref(j);
	free(out);
	free(pck);
	sgx_sample_free(&r);
}

/* Synthetic TD quotes. */

static void tdx_opts(struct sgx_synth_opts *o, int version, uint16_t body_type)
{
	sgx_synth_opts_default(o, T_ISSUE, T_NEXT);
	o->tdx_version = version;
	o->tdx_body_type = body_type;
}

static int run(const struct sgx_synth_opts *o, time_t now, struct dcr_tdx_result *res, struct dcr_err *err)
{
	struct sgx_synth f;
	int r;

	sgx_synth_build(&K, o, &f);
	r = verify_with(f.quote, f.quote_len, f.collateral, f.collateral_len, f.root, f.root_len, now, res, err);
	sgx_synth_release(&f);
	return r;
}

static void expect_fail(const struct sgx_synth_opts *o, const char *want)
{
	struct dcr_tdx_result res;
	struct dcr_err err;

	if (run(o, T_NOW, &res, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("wanted an error with '%s', got '%s'", want, err.msg);
}

static void expect_status(const struct sgx_synth_opts *o, const char *status, const char *module_status)
{
	struct dcr_tdx_result res;
	struct dcr_err err;

	if (run(o, T_NOW, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(res.tcb.tcb_status, status);
	assert_string_equal(res.tcb.module_tcb_status, module_status);
}

static void test_synthetic_ok(void **state)
{
	static const struct {
		int version;
		uint16_t body;
	} forms[] = { { 4, 2 }, { 5, 2 }, { 5, 3 } };
	struct sgx_synth_opts o;
	struct dcr_tdx_result res;
	struct dcr_err err;
	uint8_t rd[64] = "dcr test enclave keys";

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		tdx_opts(&o, forms[i].version, forms[i].body);
		if (run(&o, T_NOW, &res, &err) < 0)
			fail_msg("version %d body %u: %s", forms[i].version, forms[i].body, err.msg);
		assert_int_equal(res.version, forms[i].version);
		assert_int_equal(res.body_type, forms[i].body);
		assert_int_equal(res.td.tdx15, forms[i].body == 3);
		assert_memory_equal(res.td.mrtd, o.mrtd, 48);
		for (int j = 0; j < 4; j++)
			assert_memory_equal(res.td.rtmr[j], o.rtmr[j], 48);
		assert_memory_equal(res.td.report_data, rd, 64);
		assert_false(res.debug);
		assert_string_equal(res.tcb.tcb_status, "UpToDate");
		assert_string_equal(res.tcb.platform_tcb_status, "UpToDate");
		assert_string_equal(res.tcb.module_tcb_status, "UpToDate");
		assert_string_equal(res.tcb.qe_tcb_status, "UpToDate");
		assert_int_equal(res.tcb.n_advisory_ids, 1);
		assert_string_equal(res.tcb.advisory_ids[0], "INTEL-SA-00615");
		assert_int_equal(dcr_tdx_check_report_data(&res, rd, &err), 0);
		rd[63] ^= 1;
		assert_int_equal(dcr_tdx_check_report_data(&res, rd, &err), DCR_EATTEST);
		rd[63] ^= 1;
	}
	/* Inside the window only. */
	tdx_opts(&o, 5, 3);
	assert_int_equal(run(&o, T_NEXT, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "expired collateral"));
	assert_int_equal(run(&o, T_ISSUE - 1, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "not yet valid"));
}

/* The TDX module: tdxModule for major version 0, else its identity, its signer, attributes and SVN. */
static void test_module(void **state)
{
	struct sgx_synth_opts o;
	struct dcr_tdx_result res;
	struct dcr_err err;

	(void)state;
	tdx_opts(&o, 5, 3);
	o.tee_tcb_svn[1] = 0; /* version 0: tdxModule, no module level; bytes 0 and 1 compared with the levels */
	expect_status(&o, "UpToDate", "");
	o.mrsignerseam[5] = 1;
	expect_fail(&o, "MRSIGNERSEAM is not the TDX module signer of the TCB info");
	tdx_opts(&o, 5, 3);
	o.tee_tcb_svn[1] = 0;
	o.seam_attributes[0] = 1;
	expect_fail(&o, "SEAMATTRIBUTES do not match the TDX module of the TCB info");
	tdx_opts(&o, 5, 3);
	o.mrsignerseam[47] = 1;
	expect_fail(&o, "MRSIGNERSEAM is not the TDX module signer");
	tdx_opts(&o, 5, 3);
	o.tee_tcb_svn[1] = 2;
	expect_fail(&o, "TDX module major version 2 has no identity (TDX_02) in the TCB info");
	tdx_opts(&o, 5, 3);
	o.module_id = "TDX_0a";
	o.tee_tcb_svn[1] = 10; /* written in lower case, found all the same */
	expect_status(&o, "UpToDate", "UpToDate");
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb.tcb_date, "2024-03-13T00:00:00Z");
	/* Advisory IDs: the union of the platform's and the module's levels, more than 64 of them together. */
	o.extra_advisories = 40;
	if (run(&o, T_NOW, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.tcb.n_advisory_ids, 81);
	assert_string_equal(res.tcb.advisory_ids[80], "TEST-SA-M039");
	tdx_opts(&o, 4, 2);
	o.tee_tcb_svn[0] = 3; /* the module's OutOfDate level makes the platform OutOfDate */
	expect_status(&o, "OutOfDate", "OutOfDate");
	/* The TCB date is the oldest of the levels converged: the module's here, not the platform's. */
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb.tcb_date, "2023-08-09T00:00:00Z");
	o.tee_tcb_svn[0] = 1;
	expect_fail(&o, "TDX module SVN 1 is below every level of identity TDX_01 (unsupported)");
}

/* The TDX TCB level: TDX components compared from index 2 (module version > 0) or 0. */
static void test_tcb_levels(void **state)
{
	struct dcr_tdx_result res;
	struct dcr_err err;
	struct sgx_synth_opts o;

	(void)state;
	tdx_opts(&o, 5, 3);
	o.tee_tcb_svn[2] = 2; /* below the first level's 3: the second, OutOfDate */
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	assert_string_equal(res.tcb.tcb_status, "OutOfDate");
	assert_string_equal(res.tcb.platform_tcb_status, "OutOfDate");
	assert_int_equal(res.tcb.n_advisory_ids, 2);
	o.tee_tcb_svn[2] = 0;
	expect_fail(&o, "platform TCB is below every TCB level");
	/* The SGX components still count. */
	tdx_opts(&o, 5, 3);
	memset(o.pck_comp, 0, 16);
	expect_fail(&o, "platform TCB is below every TCB level");
	tdx_opts(&o, 5, 3);
	o.tcb_status = "ConfigurationNeeded";
	o.tee_tcb_svn[0] = 3;
	expect_status(&o, "OutOfDateConfigurationNeeded", "OutOfDate");
	tdx_opts(&o, 5, 3);
	o.tcb_status = "Revoked";
	expect_status(&o, "Revoked", "UpToDate");
}

/* The checks TDX shares with SGX, on TD quotes: chains, CRLs, QE identity, binding, signatures. */
static void test_shared_checks(void **state)
{
	struct sgx_synth_opts o;

	(void)state;
	tdx_opts(&o, 5, 3);
	o.pck_other_root = true;
	expect_fail(&o, "certificate chain rejected");
	tdx_opts(&o, 5, 3);
	o.revoke_pck = true;
	expect_fail(&o, "revoked");
	tdx_opts(&o, 5, 3);
	o.tamper_tcb_text = true;
	expect_fail(&o, "tcbInfo signature invalid");
	tdx_opts(&o, 5, 3);
	o.tamper_qe_text = true;
	expect_fail(&o, "enclaveIdentity signature invalid");
	tdx_opts(&o, 5, 3);
	o.bad_binding = true;
	expect_fail(&o, "QE report data does not bind the attestation key");
	tdx_opts(&o, 5, 3);
	memset(o.qe_mrsigner, 0x11, 32);
	expect_fail(&o, "quoting enclave MRSIGNER does not match the QE identity");
	tdx_opts(&o, 5, 3);
	o.qe_isvsvn = 1;
	expect_fail(&o, "quoting enclave ISVSVN 1 is below every QE identity TCB level");
	tdx_opts(&o, 5, 3);
	o.qe_isvsvn = 2; /* the TD_QE's OutOfDate level */
	expect_status(&o, "OutOfDate", "UpToDate");
	tdx_opts(&o, 5, 3);
	memset(o.tcb_fmspc, 0x42, 6);
	expect_fail(&o, "does not match the TCB info's");
}

/* Each kind's collateral with the other kind's quote; the signed TD report. */
static void test_kinds_and_signature(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_tdx_result res;
	struct dcr_sgx_result sres;
	struct sgx_synth tdx, sgx;
	struct sgx_synth_opts o;
	struct dcr_err err;

	(void)state;
	tdx_opts(&o, 5, 3);
	sgx_synth_build(&K, &o, &tdx);
	sgx_synth_opts_default(&o, T_ISSUE, T_NEXT);
	sgx_synth_build(&K, &o, &sgx);
	assert_int_equal(dcr_sgx_collateral_parse((const uint8_t *)sgx.collateral, sgx.collateral_len, &c, &err), 0);
	assert_int_equal(dcr_tdx_verify(tdx.quote, tdx.quote_len, c, tdx.root, tdx.root_len, T_NOW, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg, "the collateral is for SGX, not for this TDX quote");
	dcr_sgx_collateral_free(c);
	assert_int_equal(dcr_tdx_collateral_parse((const uint8_t *)tdx.collateral, tdx.collateral_len, &c, &err), 0);
	assert_int_equal(dcr_sgx_verify(sgx.quote, sgx.quote_len, c, sgx.root, sgx.root_len, T_NOW, &sres, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg, "the collateral is for TDX, not for this SGX quote");
	/* An SGX quote is not a TDX quote, nor the other way round. */
	assert_int_equal(dcr_tdx_verify(sgx.quote, sgx.quote_len, c, sgx.root, sgx.root_len, T_NOW, &res, &err),
		DCR_EATTEST);
	assert_string_equal(err.msg, "TDX quote version 3 is not supported (only 4 and 5)");
	assert_int_equal(dcr_sgx_quote_parse(tdx.quote, tdx.quote_len, &(struct dcr_sgx_quote){ 0 }, &err), DCR_EATTEST);
	/* Every byte of the TD report is signed: MRTD, an RTMR, REPORTDATA, TD_ATTRIBUTES. */
	for (size_t off = TDX_OFF_BODY5; off < TDX_OFF_BODY5 + 648; off += 37) {
		tdx.quote[off] ^= 1;
		assert_int_equal(dcr_tdx_verify(tdx.quote, tdx.quote_len, c, tdx.root, tdx.root_len, T_NOW, &res, &err),
			DCR_EATTEST);
		assert_string_equal(err.msg, "quote signature invalid");
		tdx.quote[off] ^= 1;
	}
	assert_int_equal(dcr_tdx_verify(tdx.quote, tdx.quote_len, c, tdx.root, tdx.root_len, T_NOW, &res, &err), 0);
	/* A quote that signs new report data is the quoting enclave's work, and verifies. */
	{
		uint8_t rd[64] = { 7 };

		assert_int_equal(sgx_synth_tdx_set_report_data(tdx.quote, tdx.quote_len, K.ak, rd), 0);
		assert_int_equal(dcr_tdx_verify(tdx.quote, tdx.quote_len, c, tdx.root, tdx.root_len, T_NOW, &res, &err), 0);
		assert_memory_equal(res.td.report_data, rd, 64);
	}
	dcr_sgx_collateral_free(c);
	sgx_synth_release(&tdx);
	sgx_synth_release(&sgx);
}

/* The form evidence carries: the chain ends with one NUL, added (with three lengths one larger) when missing. */
static void test_canonical(void **state)
{
	struct dcr_sgx_collateral *c;
	struct dcr_tdx_result res;
	struct sgx_synth_opts o;
	struct sgx_synth f;
	struct sgx_sample r;
	struct dcr_err err;
	uint8_t *norm, *again;
	size_t norm_len, again_len;

	(void)state;
	tdx_opts(&o, 4, 2);
	sgx_synth_build(&K, &o, &f);
	assert_int_equal(dcr_tdx_quote_canonical(f.quote, f.quote_len, &err), DCR_EINTEGRITY);
	assert_string_equal(err.msg, "the TDX quote is not as dcrd's evidence carries it: its PCK certificate chain "
		"does not end with a line feed and one NUL byte");
	assert_int_equal(dcr_tdx_quote_normalize(f.quote, f.quote_len, &norm, &norm_len, &err), 0);
	assert_int_equal(norm_len, f.quote_len + 1);
	assert_int_equal(dcr_tdx_quote_canonical(norm, norm_len, &err), 0);
	assert_int_equal(dcr_tdx_collateral_parse((const uint8_t *)f.collateral, f.collateral_len, &c, &err), 0);
	if (dcr_tdx_verify(norm, norm_len, c, f.root, f.root_len, T_NOW, &res, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(dcr_tdx_quote_normalize(norm, norm_len, &again, &again_len, &err), 0);
	assert_int_equal(again_len, norm_len);
	assert_memory_equal(again, norm, norm_len);
	dcr_sgx_collateral_free(c);
	free(again);
	free(norm);
	sgx_synth_release(&f);
	if (!tdx_sample_load(&r))
		return;
	/* Intel's quote library writes the NUL: the real quote is canonical as it is. */
	assert_int_equal(dcr_tdx_quote_canonical(r.quote, r.quote_len, &err), 0);
	sgx_sample_free(&r);
}

static void le16put(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void le32put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void expect_parse(const uint8_t *q, size_t len, const char *want)
{
	struct dcr_tdx_quote tq;
	struct dcr_err err;

	err.msg[0] = 0;
	if (dcr_tdx_quote_parse(q, len, &tq, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("wanted a parse error with '%s', got '%s'", want, err.msg);
}

/* Each field the parser reads, wrong. */
static void test_parse_strict(void **state)
{
	struct sgx_synth_opts o;
	struct sgx_synth f;
	uint8_t *q;
	size_t sig = TDX_OFF_BODY5 + 648, len;

	(void)state;
	tdx_opts(&o, 5, 3);
	sgx_synth_build(&K, &o, &f);
	len = f.quote_len;
	assert_non_null(q = malloc(len + 1));
#define RESET() memcpy(q, f.quote, len)
	RESET();
	le16put(q, 6);
	expect_parse(q, len, "TDX quote version 6 is not supported (only 4 and 5)");
	RESET();
	le16put(q + 2, 3);
	expect_parse(q, len, "attestation key type 3 is not supported");
	RESET();
	le32put(q + 4, 0);
	expect_parse(q, len, "TDX quote TEE type 0x0 is not TDX (0x81)");
	RESET();
	le16put(q + 48, 1);
	expect_parse(q, len, "TDX quote body type 1 is not a TD report");
	RESET();
	le32put(q + 50, 584);
	expect_parse(q, len, "TDX quote body size 584 is not 648, the size of body type 3");
	RESET();
	le32put(q + sig, le32(q + sig) + 1);
	expect_parse(q, len, "TDX quote signature data length");
	RESET();
	le16put(q + sig + 4 + 128, 5);
	expect_parse(q, len, "certification data type 5 is not supported (only 6, QE report)");
	RESET();
	le32put(q + sig + 4 + 130, le32(q + sig + 4 + 130) - 1);
	expect_parse(q, len, "QE report certification data size");
	RESET();
	le16put(q + sig + 4 + 134 + 384 + 64 + 2 + 32, 4);
	expect_parse(q, len, "TDX quote certification data type 4 is not supported (only 5, PCK certificate chain)");
	RESET();
	le16put(q + sig + 4 + 134 + 384 + 64, 0xffff);
	expect_parse(q, len, "TDX quote QE authentication data is truncated");
	RESET();
	expect_parse(q, 100, "TDX quote is truncated: 100 bytes");
	expect_parse(q, 40, "TDX quote is truncated: 40 bytes");
	q[len] = 0;
	expect_parse(q, len + 1, "signature data length");
	expect_parse(q, DCR_TDX_QUOTE_MAX + 1, "more than");
#undef RESET
	free(q);
	sgx_synth_release(&f);
}

/* A TDX collateral's own parts, wrong: each refused by name before any signature is checked. */
static void expect_tcb_edit(const struct sgx_synth *f, const char *from, const char *to, const char *want)
{
	json_t *j = json_loads(f->collateral, 0, NULL);
	const char *text = json_string_value(json_object_get(j, "tcb_info"));
	char *edited, *at, *s;
	struct dcr_sgx_collateral *c = NULL;
	struct dcr_err err;

	assert_non_null(text);
	assert_non_null(at = strstr(text, from));
	assert_non_null(edited = malloc(strlen(text) + strlen(to) + 1));
	memcpy(edited, text, (size_t)(at - text));
	strcpy(edited + (at - text), to);
	strcat(edited, at + strlen(from));
	json_object_set_new(j, "tcb_info", json_string(edited));
	s = json_dumps(j, JSON_COMPACT);
	err.msg[0] = 0;
	if (dcr_tdx_collateral_parse((const uint8_t *)s, strlen(s), &c, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("'%s' -> '%s': wanted '%s', got '%s'", from, to, want, err.msg);
	assert_null(c);
	free(s);
	free(edited);
	json_decref(j);
}

static void test_collateral_parse(void **state)
{
	struct sgx_synth_opts o;
	struct sgx_synth f;

	(void)state;
	tdx_opts(&o, 5, 3);
	sgx_synth_build(&K, &o, &f);
	expect_tcb_edit(&f, "\"tdxModule\":", "\"tdxModul\":", "tdxModule is missing or malformed");
	expect_tcb_edit(&f, "\"attributesMask\":\"FFFFFFFFFFFFFFFF\"}", "\"attributesMask\":\"FFFF\"}",
		"tdxModule is missing or malformed");
	expect_tcb_edit(&f, "\"id\":\"TDX_01\"", "\"id\":\"TDX_1\"", "has an id that is not TDX_ and two hex digits");
	expect_tcb_edit(&f, "\"id\":\"TDX_01\"", "\"id\":\"TDX_0g\"", "has an id that is not TDX_ and two hex digits");
	expect_tcb_edit(&f, "\"isvsvn\":4", "\"isvsvn\":256", "identity TDX_01 level 0 has a malformed isvsvn");
	expect_tcb_edit(&f, "\"tcbLevels\":[{\"tcb\":{\"isvsvn\"", "\"tcbLevels\":[],\"x\":[{\"tcb\":{\"isvsvn\"",
		"identity TDX_01 tcbLevels is not a non-empty array");
	expect_tcb_edit(&f, "\"tdxtcbcomponents\"", "\"tdxcomponents\"", "level 0 does not have 16 tdxtcbcomponents");
	expect_tcb_edit(&f, "\"tdxModuleIdentities\":[", "\"tdxModuleIdentities\":7,\"z\":[",
		"tdxModuleIdentities is not an array");
	expect_tcb_edit(&f, "\"id\":\"TDX\"", "\"id\":\"SGX\"", "id is \"SGX\", not \"TDX\"");
	sgx_synth_release(&f);
}

static void tdx_spec(struct dcr_spec *s, const struct sgx_synth_opts *o)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "td");
	s->format = DCR_SPEC_TDX;
	memcpy(s->mrtd, o->mrtd, 48);
	s->tcb_statuses[0] = "UpToDate";
	s->n_tcb_statuses = 1;
}

static void expect_policy(const struct dcr_tdx_result *res, const struct dcr_spec *s, const char *want)
{
	struct dcr_err err;

	err.msg[0] = 0;
	if (!want) {
		if (dcr_tdx_check_policy(res, s, &err) < 0)
			fail_msg("%s", err.msg);
		return;
	}
	if (dcr_tdx_check_policy(res, s, &err) != DCR_EATTEST || !strstr(err.msg, want))
		fail_msg("wanted a policy error with '%s', got '%s'", want, err.msg);
}

static void test_policy(void **state)
{
	struct sgx_synth_opts o;
	struct dcr_tdx_result res;
	struct dcr_spec s;
	struct dcr_err err;

	(void)state;
	tdx_opts(&o, 5, 3);
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	tdx_spec(&s, &o);
	expect_policy(&res, &s, NULL);
	s.mrtd[0] ^= 1;
	expect_policy(&res, &s, "MRTD 1d1d");
	s.mrtd[0] ^= 1;
	/* RTMRs count only when pinned, and then each one. */
	memset(s.rtmr[3], 0xee, 48);
	expect_policy(&res, &s, NULL);
	s.rtmr_pinned = 1u << 3;
	expect_policy(&res, &s, "RTMR3 3333");
	memcpy(s.rtmr[3], o.rtmr[3], 48);
	memcpy(s.rtmr[0], o.rtmr[0], 48);
	s.rtmr_pinned = 1u << 3 | 1u;
	expect_policy(&res, &s, NULL);
	s.rtmr[0][47] ^= 1;
	expect_policy(&res, &s, "RTMR0 3030");
	s.rtmr[0][47] ^= 1;
	s.format = DCR_SPEC_SGX_DCAP;
	expect_policy(&res, &s, "is not for tdx evidence");
	s.format = DCR_SPEC_TDX;

	/* Debug TDs only when allowed. */
	o.debug = true;
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	assert_true(res.debug);
	expect_policy(&res, &s, "the TD runs in debug mode, which spec 'td' does not allow");
	s.debug_allowed = true;
	expect_policy(&res, &s, NULL);

	/* TD_ATTRIBUTES: the bits that restrict the host pass; migration, host profiling and unknown bits do not. */
	o.debug = false;
	s.debug_allowed = false;
	o.td_attributes = 1ull << 30 | 1ull << 31 | 1ull << 27;
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	expect_policy(&res, &s, NULL);
	o.td_attributes = 1ull << 29;
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	expect_policy(&res, &s, "the TD is MIGRATABLE");
	o.td_attributes = 1ull << 5;
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	expect_policy(&res, &s, "lets the host profile it");
	o.td_attributes = 1ull << 40;
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	expect_policy(&res, &s, "has bits dcr does not know (0x0000010000000000)");
	o.td_attributes = 0;

	/* TCB statuses: those the spec lists; Revoked never. */
	o.tee_tcb_svn[2] = 2;
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	expect_policy(&res, &s, "TCB status OutOfDate is not accepted by spec 'td'");
	s.tcb_statuses[0] = "OutOfDate";
	s.tcb_statuses[1] = "UpToDate";
	s.n_tcb_statuses = 2;
	expect_policy(&res, &s, NULL);
	tdx_opts(&o, 5, 3);
	o.tcb_status = "Revoked";
	assert_int_equal(run(&o, T_NOW, &res, &err), 0);
	expect_policy(&res, &s, "TCB status is Revoked");
}

/* The specs file's tdx format. */
static void test_spec_parse(void **state)
{
	static const char good[] = "version: 1\nspecs:\n  td:\n    format: tdx\n    mrtd: \"%s\"\n"
		"    rtmr0: \"%s\"\n    rtmr1: \"%s\"\n    rtmr2: \"%s\"\n    debug: true\n"
		"    tcb_statuses: [OutOfDate, UpToDate]\n";
	char text[1024], mr[97], r1[97];
	struct dcr_specs *specs;
	struct dcr_err err;
	uint8_t v[48];

	(void)state;
	memset(v, 0xab, 48);
	dcr_hex(v, 48, mr);
	memset(v, 0x01, 48);
	dcr_hex(v, 48, r1);
	snprintf(text, sizeof(text), good, mr, mr, r1, mr);
	if (dcr_specs_parse("s.yaml", (const uint8_t *)text, strlen(text), &specs, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(specs->items[0].format, DCR_SPEC_TDX);
	assert_int_equal(specs->items[0].rtmr_pinned, 7);
	assert_int_equal(specs->items[0].mrtd[0], 0xab);
	assert_int_equal(specs->items[0].rtmr[1][47], 0x01);
	assert_true(specs->items[0].debug_allowed);
	assert_int_equal(specs->items[0].n_tcb_statuses, 2);
	dcr_specs_free(specs);

	snprintf(text, sizeof(text), "version: 1\nspecs:\n  td:\n    format: tdx\n");
	assert_int_equal(dcr_specs_parse("s.yaml", (const uint8_t *)text, strlen(text), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "tdx spec 'td' needs an mrtd"));
	snprintf(text, sizeof(text), "version: 1\nspecs:\n  td:\n    format: tdx\n    mrtd: \"%.64s\"\n", mr);
	assert_int_equal(dcr_specs_parse("s.yaml", (const uint8_t *)text, strlen(text), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "mrtd must be 96 hex digits"));
	/* MRTD alone, or without any one of RTMR0-2, would accept any kernel the firmware boots. */
	for (int skip = -1; skip < 3; skip++) {
		int used = snprintf(text, sizeof(text), "version: 1\nspecs:\n  td:\n    format: tdx\n    mrtd: \"%s\"\n", mr);

		for (int i = 0; skip >= 0 && i < 4; i++)
			if (i != skip)
				used += snprintf(text + used, sizeof(text) - (size_t)used, "    rtmr%d: \"%s\"\n", i, mr);
		assert_int_equal(dcr_specs_parse("s.yaml", (const uint8_t *)text, strlen(text), &specs, &err),
			DCR_EINVALID);
		assert_non_null(strstr(err.msg, "tdx spec 'td' needs rtmr0, rtmr1 and rtmr2"));
	}
	snprintf(text, sizeof(text), "version: 1\nspecs:\n  td:\n    format: tdx\n    mrtd: \"%s\"\n"
		"    rtmr0: \"%s\"\n    rtmr1: \"%s\"\n    rtmr2: \"%s\"\n    mrenclave: \"%.64s\"\n", mr, mr, mr, mr,
		mr);
	assert_int_equal(dcr_specs_parse("s.yaml", (const uint8_t *)text, strlen(text), &specs, &err), DCR_EINVALID);
	snprintf(text, sizeof(text), "version: 1\nspecs:\n  s:\n    format: sgx-dcap\n    mrenclave: \"%.64s\"\n"
		"    rtmr0: \"%s\"\n", mr, mr);
	assert_int_equal(dcr_specs_parse("s.yaml", (const uint8_t *)text, strlen(text), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "unknown key 'rtmr0' in a spec of format sgx-dcap"));
}

/* A room's EnclaveSpec, as decoded: the same RTMRs are required as in a specs file. */
static void test_spec_check(void **state)
{
	struct sgx_synth_opts o;
	struct dcr_spec s;
	struct dcr_err err;

	(void)state;
	tdx_opts(&o, 5, 3);
	tdx_spec(&s, &o);
	s.has_mrtd = true;
	for (unsigned pinned = 0; pinned < 16; pinned++) {
		s.rtmr_pinned = pinned;
		assert_int_equal(dcr_attest_kind_tdx.spec_check(&s, &err),
			(pinned & 7) == 7 ? 0 : DCR_EINVALID);
	}
}

/* "sweep" runs the byte sweep of the real quote alone, as its own meson test with a longer timeout. */
int main(int argc, char **argv)
{
	const struct CMUnitTest sweep[] = {
		cmocka_unit_test(test_real_sweep),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_quote),
		cmocka_unit_test(test_real_wrong_root),
		cmocka_unit_test(test_real_pcs),
		cmocka_unit_test(test_synthetic_ok),
		cmocka_unit_test(test_module),
		cmocka_unit_test(test_tcb_levels),
		cmocka_unit_test(test_shared_checks),
		cmocka_unit_test(test_kinds_and_signature),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_collateral_parse),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_spec_check),
	};

	if (argc > 1 && strcmp(argv[1], "sweep") == 0)
		return cmocka_run_group_tests(sweep, setup, teardown);
	return cmocka_run_group_tests(tests, setup, teardown);
}
