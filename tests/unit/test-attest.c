/* Unit tests for lib/seal.c and lib/attest.c: sealing, report data, sim evidence verification. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "testutil.h"

#include "attest-kind.h"
#include "evidence.pb-c.h"
#include "seal.h"
#include "sgx-synth.h"
#include "sgx.h"
#include "specs.h"

static void test_seal(void **state)
{
	uint8_t key[32], other[32], *blob, *pt;
	const char msg[] = "room definition";
	size_t blob_len, pt_len;
	struct dcr_err err;

	dcr_random(key, sizeof(key), NULL);
	dcr_random(other, sizeof(other), NULL);
	assert_int_equal(dcr_seal(key, "room", (const uint8_t *)msg, sizeof(msg), &blob, &blob_len, &err), 0);
	assert_int_equal(blob_len, sizeof(msg) + DCR_SEAL_OVERHEAD);
	for (size_t i = 0; i + 10 <= blob_len; i++)
		assert_memory_not_equal(blob + i, "definition", 10);
	assert_int_equal(dcr_unseal(key, "room", blob, blob_len, &pt, &pt_len, &err), 0);
	assert_int_equal(pt_len, sizeof(msg));
	assert_memory_equal(pt, msg, sizeof(msg));
	free(pt);
	/* Another key, another label, any flipped bit, truncation: refused. */
	assert_int_equal(dcr_unseal(other, "room", blob, blob_len, &pt, &pt_len, &err), DCR_EINTEGRITY);
	assert_int_equal(dcr_unseal(key, "rooms", blob, blob_len, &pt, &pt_len, &err), DCR_EINTEGRITY);
	for (size_t bit = 0; bit < blob_len * 8; bit++) {
		blob[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(dcr_unseal(key, "room", blob, blob_len, &pt, &pt_len, &err), DCR_EINTEGRITY);
		blob[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	for (size_t n = 0; n < blob_len; n++)
		assert_int_equal(dcr_unseal(key, "room", blob, n, &pt, &pt_len, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "sealed room"));
	free(blob);
	/* Empty plaintexts seal too. */
	assert_int_equal(dcr_seal(key, "x", NULL, 0, &blob, &blob_len, &err), 0);
	assert_int_equal(dcr_unseal(key, "x", blob, blob_len, &pt, &pt_len, &err), 0);
	assert_int_equal(pt_len, 0);
	free(pt);
	free(blob);
}

static const uint8_t measurement[32] = { 0xaa, 1, 2, 3 };

static struct dcr_specs *specs_for(const char *yaml)
{
	struct dcr_specs *s;
	struct dcr_err err;

	if (dcr_specs_parse("specs.yaml", (const uint8_t *)yaml, strlen(yaml), &s, &err) < 0)
		fail_msg("specs: %s", err.msg);
	return s;
}

static void make_evidence(struct dcr_enclave_public *pub, uint8_t **ev, size_t *len)
{
	uint8_t sim_sk[32], sign_sk[32];
	struct dcr_err err;

	dcr_random(sim_sk, sizeof(sim_sk), NULL);
	dcr_random(pub->hpke_pk, 32, NULL);
	assert_int_equal(dcr_ed25519_keygen(sign_sk, pub->sign_pk, NULL), 0);
	pub->ohttp_key_config = NULL;
	pub->ohttp_key_config_len = 0;
	assert_int_equal(dcr_attest_sim_evidence(measurement, sim_sk, pub, ev, len, &err), 0);
}

static void test_report_data(void **state)
{
	uint8_t a[32] = { 1 }, b[32] = { 2 }, rd1[64], rd2[64], zero[32] = { 0 };

	const uint8_t cfg[] = { 1, 0, 0x20 }, other_cfg[] = { 2, 0, 0x20 };

	assert_int_equal(dcr_attest_report_data(a, b, cfg, sizeof(cfg), rd1, NULL), 0);
	assert_memory_equal(rd1 + 32, zero, 32);
	assert_int_equal(dcr_attest_report_data(b, a, cfg, sizeof(cfg), rd2, NULL), 0);
	assert_memory_not_equal(rd1, rd2, 32);
	/* One byte of the key configuration (its key ID) changes the binding. */
	assert_int_equal(dcr_attest_report_data(a, b, other_cfg, sizeof(other_cfg), rd2, NULL), 0);
	assert_memory_not_equal(rd1, rd2, 32);
}

static void test_sim_verify(void **state)
{
	char hex[65], yaml[512];
	struct dcr_enclave_public pub;
	struct dcr_attest_result res;
	struct dcr_specs *specs, *wrong, *sgx_only;
	struct dcr_err err;
	uint8_t *ev;
	size_t len;

	make_evidence(&pub, &ev, &len);
	dcr_hex(measurement, 32, hex);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  dcrd:sim: {format: sim, measurement: %s}\n", hex);
	specs = specs_for(yaml);
	assert_int_equal(dcr_attest_verify(ev, len, specs, NULL, &res, &err), 0);
	assert_string_equal(res.spec, "dcrd:sim");
	assert_string_equal(res.format, "sim");
	assert_true(res.simulated);
	assert_memory_equal(res.keys.sign_pk, pub.sign_pk, 32);
	assert_memory_equal(res.measurement, measurement, 32);
	dcr_attest_result_release(&res);
	assert_int_equal(dcr_attest_verify(ev, len, specs, "dcrd:sim", &res, &err), 0);
	dcr_attest_result_release(&res);
	assert_int_equal(dcr_attest_verify(ev, len, specs, "dcrd:other", &res, &err), DCR_EATTEST);
	assert_int_equal(dcr_attest_verify(ev, len, NULL, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "no trusted specs"));

	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  dcrd:sim: {format: sim, measurement: %064d}\n", 0);
	wrong = specs_for(yaml);
	assert_int_equal(dcr_attest_verify(ev, len, wrong, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "is not pinned"));
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  dcrd:v1: {format: sgx-dcap, mrenclave: %s}\n", hex);
	sgx_only = specs_for(yaml);
	assert_int_equal(dcr_attest_verify(ev, len, sgx_only, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "do not pin"));

	/* Every single-bit change of the evidence is either refused or harmless padding: never accepted with other keys. */
	for (size_t bit = 0; bit < len * 8; bit++) {
		int r;

		ev[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		r = dcr_attest_verify(ev, len, specs, NULL, &res, &err);
		if (r == 0) {
			/* Only bits outside what is verified (none should exist) could pass. */
			fail_msg("bit %zu flipped and still accepted", bit);
		}
		assert_int_equal(r, DCR_EATTEST);
		ev[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	for (size_t n = 0; n < len; n++)
		assert_int_equal(dcr_attest_verify(ev, n, specs, NULL, &res, &err), DCR_EATTEST);
	free(ev);
	dcr_specs_free(specs);
	dcr_specs_free(wrong);
	dcr_specs_free(sgx_only);
}

/* Append 0x7a 0x01 0x00, an unknown field 15 holding one zero byte, to b. */
static void append_unknown(ProtobufCBinaryData *b)
{
	uint8_t *grown = malloc(b->len + 3);

	assert_non_null(grown);
	memcpy(grown, b->data, b->len);
	memcpy(grown + b->len, "\x7a\x01\x00", 3);
	free(b->data);
	*b = (ProtobufCBinaryData){ b->len + 3, grown };
}

/* ev with an unknown field appended to its sim quote, or (report) to the quote's report. */
static uint8_t *with_unknown_field(const uint8_t *ev, size_t len, bool report, size_t *out_len)
{
	Dcr__V1__Evidence *e = dcr__v1__evidence__unpack(NULL, len, ev);
	Dcr__V1__SimQuote *q;
	uint8_t *out;

	assert_non_null(e);
	assert_non_null(q = dcr__v1__sim_quote__unpack(NULL, e->quote.len, e->quote.data));
	if (report) {
		append_unknown(&q->report);
		free(e->quote.data);
		e->quote.len = dcr__v1__sim_quote__get_packed_size(q);
		assert_non_null(e->quote.data = malloc(e->quote.len));
		dcr__v1__sim_quote__pack(q, e->quote.data);
	} else {
		append_unknown(&e->quote);
	}
	*out_len = dcr__v1__evidence__get_packed_size(e);
	assert_non_null(out = malloc(*out_len));
	dcr__v1__evidence__pack(e, out);
	dcr__v1__sim_quote__free_unpacked(q, NULL);
	dcr__v1__evidence__free_unpacked(e, NULL);
	return out;
}

/* Evidence is accepted only as dcrd encodes it, all the way down; what is not is named. */
static void test_evidence_canonical(void **state)
{
	struct dcr_enclave_public pub;
	struct dcr_attest_result res;
	struct dcr_specs *specs;
	struct dcr_err err;
	char hex[65], yaml[256];
	uint8_t *ev, *bad;
	size_t len, bad_len;

	make_evidence(&pub, &ev, &len);
	dcr_hex(measurement, 32, hex);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  dcrd:sim: {format: sim, measurement: %s}\n", hex);
	specs = specs_for(yaml);
	assert_int_equal(dcr_attest_evidence_canonical(ev, len, &err), 0);
	assert_int_equal(dcr_attest_evidence_canonical(ev, len - 1, &err), DCR_EINVALID);

	/* The Evidence itself: an unknown field appended. */
	assert_non_null(bad = malloc(len + 3));
	memcpy(bad, ev, len);
	memcpy(bad + len, "\x7a\x01\x00", 3);
	assert_int_equal(dcr_attest_evidence_canonical(bad, len + 3, &err), DCR_EINTEGRITY);
	assert_string_equal(err.msg, "the evidence is not in its canonical encoding: an unknown field 15 in the Evidence");
	assert_int_equal(dcr_attest_verify(bad, len + 3, specs, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "malformed evidence: the evidence is not in its canonical encoding"));
	free(bad);

	/* Inside the sim quote, which nothing signs, and inside the report, which the quote's signature covers. */
	bad = with_unknown_field(ev, len, false, &bad_len);
	assert_int_equal(dcr_attest_evidence_canonical(bad, bad_len, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "the evidence's sim quote is not in its canonical encoding: an unknown field 15"));
	assert_int_equal(dcr_attest_verify(bad, bad_len, specs, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "malformed evidence: the sim quote is not in its canonical encoding"));
	free(bad);
	bad = with_unknown_field(ev, len, true, &bad_len);
	assert_int_equal(dcr_attest_evidence_canonical(bad, bad_len, &err), DCR_EINTEGRITY);
	assert_non_null(strstr(err.msg, "the evidence's sim report is not in its canonical encoding: an unknown field 15"));
	free(bad);

	/* Collateral, a known field that sim evidence does not use, in its canonical place. */
	{
		Dcr__V1__Evidence *e = dcr__v1__evidence__unpack(NULL, len, ev);

		assert_non_null(e);
		e->collateral = (ProtobufCBinaryData){ 8, (uint8_t *)"anything" };
		bad_len = dcr__v1__evidence__get_packed_size(e);
		assert_non_null(bad = malloc(bad_len));
		dcr__v1__evidence__pack(e, bad);
		e->collateral = (ProtobufCBinaryData){ 0, NULL };
		dcr__v1__evidence__free_unpacked(e, NULL);
	}
	assert_int_equal(dcr_attest_evidence_canonical(bad, bad_len, &err), DCR_EINTEGRITY);
	assert_string_equal(err.msg, "the evidence is not as dcrd writes it: sim evidence with 8 bytes of collateral");
	assert_int_equal(dcr_attest_verify(bad, bad_len, specs, NULL, &res, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "malformed evidence: sim evidence carries no collateral, this has 8 bytes");
	free(bad);
	free(ev);
	dcr_specs_free(specs);
}

/* sgx-dcap evidence as dcrd builds it: a quote binding the keys, with its collateral. */
static void test_sgx_verify(void **state)
{
	struct sgx_synth_keys keys;
	struct sgx_synth_opts o;
	struct sgx_synth sx;
	struct dcr_enclave_public pub = { 0 };
	struct dcr_attest_result res;
	struct dcr_specs *specs;
	struct dcr_err err;
	uint8_t sign_sk[32], *ev = NULL;
	size_t ev_len;
	char root_path[] = "/tmp/dcr-attest-root-XXXXXX", yaml[1024], hex[65];
	time_t now = time(NULL);
	int fd;

	sgx_synth_keys_init(&keys);
	sgx_synth_opts_default(&o, now - SGX_SYNTH_DAY, now + 30 * SGX_SYNTH_DAY);
	memset(o.mrenclave, 0x42, 32);
	dcr_random(pub.hpke_pk, 32, NULL);
	assert_int_equal(dcr_ed25519_keygen(sign_sk, pub.sign_pk, NULL), 0);
	assert_int_equal(dcr_attest_report_data(pub.hpke_pk, pub.sign_pk, NULL, 0, o.report_data, NULL), 0);
	sgx_synth_build(&keys, &o, &sx);
	fd = mkstemp(root_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, sx.root, sx.root_len), (ssize_t)sx.root_len);
	close(fd);
	dcr_hex(o.mrenclave, 32, hex);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  ok:\n    format: sgx-dcap\n    mrenclave: %s\n"
		 "    root_ca: %s\n  noroot:\n    format: sgx-dcap\n    mrenclave: %s\n  other:\n"
		 "    format: sgx-dcap\n    mrenclave: %064d\n    root_ca: %s\n", hex, root_path, hex, 7, root_path);
	specs = specs_for(yaml);

	assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, (const uint8_t *)sx.collateral,
		sx.collateral_len, &pub, &ev, &ev_len, &err), 0);
	if (dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err) < 0)
		fail_msg("verify: %s", err.msg);
	assert_string_equal(res.spec, "ok");
	assert_string_equal(res.format, "sgx-dcap");
	assert_int_equal(res.simulated, 0);
	assert_memory_equal(res.measurement, o.mrenclave, 32);
	assert_string_equal(res.sgx.tcb_status, "UpToDate");
	assert_memory_equal(res.keys.hpke_pk, pub.hpke_pk, 32);
	dcr_attest_result_release(&res);

	/*
	 * Evidence carries the quote in one form: its PCK chain followed by one
	 * NUL, as Intel's quote library writes it. These quotes have none: the
	 * evidence gets one, with both lengths around it one larger.
	 */
	{
		Dcr__V1__Evidence *e;
		json_t *col = json_loads(sx.collateral, 0, NULL);
		char *compact = col ? json_dumps(col, JSON_COMPACT) : NULL;
		uint8_t *norm, *again, *bad;
		size_t norm_len, again_len, bad_len;

		assert_non_null(compact);
		assert_int_equal(dcr_sgx_quote_canonical(sx.quote, sx.quote_len, &err), DCR_EINTEGRITY);
		assert_string_equal(err.msg, "the SGX quote is not as dcrd's evidence carries it: its PCK certificate chain "
					     "does not end with a line feed and one NUL byte");
		assert_int_equal(dcr_sgx_quote_normalize(sx.quote, sx.quote_len, &norm, &norm_len, &err), 0);
		assert_int_equal(norm_len, sx.quote_len + 1);
		assert_int_equal(norm[norm_len - 1], 0);
		assert_int_equal(dcr_sgx_quote_canonical(norm, norm_len, &err), 0);
		assert_int_equal(dcr_sgx_quote_normalize(norm, norm_len, &again, &again_len, &err), 0);
		assert_int_equal(again_len, norm_len);
		assert_memory_equal(again, norm, norm_len);
		free(ev);
		assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, (const uint8_t *)compact, strlen(compact),
			&pub, &ev, &ev_len, &err), 0);
		if (dcr_attest_evidence_canonical(ev, ev_len, &err) < 0)
			fail_msg("canonical: %s", err.msg);
		assert_int_equal(dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err), 0);
		dcr_attest_result_release(&res);
		/* The same evidence with the quote as the device gave it: one NUL fewer, lengths to match. */
		assert_non_null(e = dcr__v1__evidence__unpack(NULL, ev_len, ev));
		assert_int_equal(e->quote.len, norm_len);
		assert_memory_equal(e->quote.data, norm, norm_len);
		memcpy(e->quote.data, sx.quote, sx.quote_len);
		e->quote.len = sx.quote_len;
		bad_len = dcr__v1__evidence__get_packed_size(e);
		assert_non_null(bad = malloc(bad_len));
		dcr__v1__evidence__pack(e, bad);
		dcr__v1__evidence__free_unpacked(e, NULL);
		assert_int_equal(dcr_attest_evidence_canonical(bad, bad_len, &err), DCR_EINTEGRITY);
		assert_non_null(strstr(err.msg, "does not end with a line feed and one NUL byte"));
		free(bad);
		free(norm);
		free(again);
		free(compact);
		json_decref(col);
	}

	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, "noroot", &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "no root_ca"));
	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, "other", &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "spec 'other'"));
	free(ev);

	/* Keys swapped after attestation. */
	pub.hpke_pk[0] ^= 1;
	assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, (const uint8_t *)sx.collateral,
		sx.collateral_len, &pub, &ev, &ev_len, &err), 0);
	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "keys were swapped"));
	free(ev);
	pub.hpke_pk[0] ^= 1;

	/* No collateral, or collateral that is not what Intel signed. */
	assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, NULL, 0, &pub, &ev, &ev_len, &err), 0);
	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err), DCR_EATTEST);
	assert_non_null(strstr(err.msg, "without collateral"));
	free(ev);
	assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, (const uint8_t *)"{}", 2, &pub, &ev, &ev_len,
		&err), 0);
	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err), DCR_EATTEST);
	assert_string_equal(err.msg, "the enclave's evidence: collateral: missing keys 'pck_crl_issuer_chain', "
		"'root_ca_crl', 'pck_crl', 'tcb_info_issuer_chain', 'tcb_info', 'tcb_info_signature', "
		"'qe_identity_issuer_chain', 'qe_identity', 'qe_identity_signature'");
	free(ev);
	sgx_synth_release(&sx);
	o.tamper_tcb_text = true;
	sgx_synth_build(&keys, &o, &sx);
	assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, (const uint8_t *)sx.collateral,
		sx.collateral_len, &pub, &ev, &ev_len, &err), 0);
	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err), DCR_EATTEST);
	free(ev);
	sgx_synth_release(&sx);

	/* A debug enclave is refused unless the spec allows it. */
	o.tamper_tcb_text = false;
	o.debug = true;
	sgx_synth_build(&keys, &o, &sx);
	/* Each build signs a new root certificate (same key, another DER): pin this one, byte for byte. */
	assert_true((fd = open(root_path, O_WRONLY | O_TRUNC)) >= 0);
	assert_int_equal(write(fd, sx.root, sx.root_len), (ssize_t)sx.root_len);
	close(fd);
	dcr_specs_free(specs);
	specs = specs_for(yaml);
	assert_int_equal(dcr_attest_sgx_evidence(sx.quote, sx.quote_len, (const uint8_t *)sx.collateral,
		sx.collateral_len, &pub, &ev, &ev_len, &err), 0);
	assert_int_equal(dcr_attest_verify(ev, ev_len, specs, NULL, &res, &err), DCR_EATTEST);
	if (!strstr(err.msg, "debug"))
		fail_msg("debug enclave: %s", err.msg);
	free(ev);
	sgx_synth_release(&sx);

	dcr_specs_free(specs);
	unlink(root_path);
	sgx_synth_keys_release(&keys);
}

/* A SandboxReport encoded with the given strings and count of packages (each "pN" at "1.N"). */
static uint8_t *sandbox_report(const char *reason, const char *python, size_t n, const char *bad_version, size_t *len)
{
	Dcr__V1__SandboxReport rep = DCR__V1__SANDBOX_REPORT__INIT;
	Dcr__V1__SandboxPackage pkgs[80], *ptrs[80];
	char names[80][8], versions[80][8];
	uint8_t *buf;

	assert_true(n <= 80);
	rep.available = !*reason;
	rep.reason = (char *)reason;
	rep.python = (char *)python;
	for (size_t i = 0; i < n; i++) {
		dcr__v1__sandbox_package__init(&pkgs[i]);
		snprintf(names[i], sizeof(names[i]), "p%zu", i);
		snprintf(versions[i], sizeof(versions[i]), "1.%zu", i);
		pkgs[i].name = names[i];
		pkgs[i].version = i == 1 && bad_version ? (char *)bad_version : versions[i];
		ptrs[i] = &pkgs[i];
	}
	rep.n_packages = n;
	rep.packages = ptrs;
	*len = dcr__v1__sandbox_report__get_packed_size(&rep);
	buf = malloc(*len + 1);
	assert_non_null(buf);
	dcr__v1__sandbox_report__pack(&rep, buf);
	return buf;
}

static void test_sandbox_report(void **state)
{
	static struct dcr_sandbox_info info;
	struct dcr_err err;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = sandbox_report("", "3.11.2", 12, NULL, &len);
	assert_int_equal(dcr_attest_sandbox_parse(buf, len, &info, &err), 0);
	assert_true(info.available);
	assert_string_equal(info.python, "3.11.2");
	assert_int_equal(info.n_packages, 12);
	assert_string_equal(info.packages[11].name, "p11");
	assert_string_equal(info.packages[11].version, "1.11");
	free(buf);
	buf = sandbox_report("bwrap: Can't mount proc", "", 0, NULL, &len);
	assert_int_equal(dcr_attest_sandbox_parse(buf, len, &info, &err), 0);
	assert_false(info.available);
	assert_string_equal(info.reason, "bwrap: Can't mount proc");
	free(buf);
	/* A terminal escape in a version, too many packages, a reason too long, not a message: refused. */
	buf = sandbox_report("", "3.11.2", 3, "1\x1b[2J", &len);
	assert_int_equal(dcr_attest_sandbox_parse(buf, len, &info, &err), DCR_EINVALID);
	assert_int_equal(info.n_packages, 0);
	free(buf);
	buf = sandbox_report("", "3.11.2", DCR_SANDBOX_PACKAGES_MAX + 1, NULL, &len);
	assert_int_equal(dcr_attest_sandbox_parse(buf, len, &info, &err), DCR_EINVALID);
	free(buf);
	{
		char reason[DCR_ERR_MSG_MAX + 1];

		memset(reason, 'x', sizeof(reason) - 1);
		reason[sizeof(reason) - 1] = '\0';
		buf = sandbox_report(reason, "", 0, NULL, &len);
		assert_int_equal(dcr_attest_sandbox_parse(buf, len, &info, &err), DCR_EINVALID);
		free(buf);
	}
	assert_int_equal(dcr_attest_sandbox_parse((const uint8_t *)"\xff\xff", 2, &info, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "malformed sandbox report"));
}

/*
 * The table of kinds: what a new row must satisfy for the rest of the
 * code, which only looks kinds up, to work with it (lib/attest-kind.h).
 */
static void test_kind_table(void **state)
{
	char names[DCR_ATTEST_KIND_NAMES_MAX];
	size_t n = 0;

	(void)state;
	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++, n++) {
		const struct dcr_attest_kind *kind = *k;
		bool has_format = false;

		assert_true(strlen(kind->name) > 0 && strlen(kind->name) <= 15);
		assert_int_equal(strspn(kind->name, "abcdefghijklmnopqrstuvwxyz0123456789-"), strlen(kind->name));
		assert_ptr_equal(dcr_attest_kind_find(kind->name), kind);
		assert_ptr_equal(dcr_attest_kind_of(kind->format), kind);
		assert_non_null(kind->title);
		assert_non_null(kind->verify);
		assert_non_null(kind->canonical);
		assert_non_null(kind->spec_parse);
		assert_non_null(kind->spec_check);
		for (const char *const *key = kind->spec_keys; *key; key++)
			has_format |= strcmp(*key, "format") == 0;
		assert_true(has_format);
		/* Facts come with their JSON; offline verification comes whole. */
		assert_true(!kind->facts || kind->facts_json);
		assert_true(!kind->json_member || kind->facts_json);
		assert_true(!kind->offline_verify == !kind->offline_claims && !kind->offline_verify == !kind->policy);
		assert_true(!kind->offline_verify || (kind->quote_max && kind->collateral_max));
	}
	assert_true(n >= 2);
	assert_null(dcr_attest_kind_find("tpm"));
	assert_null(dcr_attest_kind_find(""));
	/* The list messages show, in table order. */
	dcr_attest_kind_names(names, sizeof(names));
	assert_true(strncmp(names, "sim, ", 5) == 0 || strcmp(names, "sim or sgx-dcap") == 0);
	assert_non_null(strstr(names, "sgx-dcap"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal),
		cmocka_unit_test(test_report_data),
		cmocka_unit_test(test_sim_verify),
		cmocka_unit_test(test_evidence_canonical),
		cmocka_unit_test(test_sgx_verify),
		cmocka_unit_test(test_sandbox_report),
		cmocka_unit_test(test_kind_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
