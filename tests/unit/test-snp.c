/* lib/snp.c: AMD SEV-SNP reports, the real Milan sample and synthetic ones from a test root, for each check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testutil.h"

#include "snp-synth.h"
#include "room.h"
#include "snp.h"
#include "specs.h"

/* The real sample's VCEK is valid from 2022-09-24 to 2029-09-24 (ARK and ASK 2020-10-22 to 2045-10-22). */
#define REAL_INSIDE ((time_t)1735689600)  /* 2025-01-01 */
#define REAL_AFTER ((time_t)1893456000)   /* 2030-01-01 */
#define REAL_BEFORE ((time_t)1640995200)  /* 2022-01-01 */

/* Synthetic certificates: 2025-01-01 to 2026-01-01, verified on 2025-06-01. */
#define T_NB ((time_t)1735689600)
#define T_NA ((time_t)1767225600)
#define T_NOW ((time_t)1748736000)

#define REAL_MEASUREMENT "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"

/* The real sample: report, chain (VCEK then ASK, PEM) and the ARK (DER). */
struct real {
	uint8_t *report;
	size_t report_len;
	char *chain;
	size_t chain_len;
	uint8_t *ark;
	size_t ark_len;
	X509 *ask_x, *ark_x;
};

static bool real_load(struct real *s)
{
	const char *dir = getenv("SHARED_DIR");
	char path[4096];
	uint8_t *vcek_der, *pem;
	size_t vcek_len, pem_len;
	const unsigned char *p;
	struct dcr_err err;
	X509 *vcek;
	BIO *b;

	memset(s, 0, sizeof(*s));
	if (!dir)
		return false;
	snprintf(path, sizeof(path), "%s/testdata/evidence/sev-snp/report.bin", dir);
	if (dcr_read_file(path, 4096, &s->report, &s->report_len, &err) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/testdata/evidence/sev-snp/vcek.der", dir);
	assert_int_equal(dcr_read_file(path, 65536, &vcek_der, &vcek_len, &err), 0);
	snprintf(path, sizeof(path), "%s/testdata/evidence/sev-snp/ask-ark-milan.pem", dir);
	assert_int_equal(dcr_read_file(path, 65536, &pem, &pem_len, &err), 0);
	p = vcek_der;
	assert_non_null(vcek = d2i_X509(NULL, &p, (long)vcek_len));
	assert_non_null(b = BIO_new_mem_buf(pem, (int)pem_len));
	assert_non_null(s->ask_x = PEM_read_bio_X509(b, NULL, NULL, NULL));
	assert_non_null(s->ark_x = PEM_read_bio_X509(b, NULL, NULL, NULL));
	BIO_free(b);
	snp_synth_pem_cert(vcek, &s->chain, &s->chain_len);
	snp_synth_pem_cert(s->ask_x, &s->chain, &s->chain_len);
	s->ark = snp_synth_der(s->ark_x, &s->ark_len);
	X509_free(vcek);
	free(vcek_der);
	free(pem);
	return true;
}

static void real_release(struct real *s)
{
	free(s->report);
	free(s->chain);
	free(s->ark);
	X509_free(s->ask_x);
	X509_free(s->ark_x);
}

#define REAL_OR_SKIP(s) \
	do { \
		if (!real_load(s)) { \
			print_message("SHARED_DIR/testdata/evidence/sev-snp is absent: skipping the real-report test\n"); \
			skip(); \
		} \
	} while (0)

static void expect_refused(int r, const struct dcr_err *err, const char *want)
{
	if (r != DCR_EATTEST)
		fail_msg("expected a refusal with '%s', got %d (%s)", want, r, r ? err->msg : "accepted");
	if (!strstr(err->msg, want))
		fail_msg("expected '%s' in: %s", want, err->msg);
}

static void test_real_report(void **state)
{
	struct dcr_snp_report rep;
	struct dcr_snp_result res;
	struct dcr_err err;
	struct real s;
	uint8_t rd[64] = { 1, 2, 3, 4, 5 };
	char *with_ark = NULL;
	size_t with_ark_len = 0;

	REAL_OR_SKIP(&s);
	assert_int_equal(dcr_snp_report_parse(s.report, s.report_len, &rep, &err), 0);
	assert_int_equal(rep.version, 2);
	assert_int_equal(rep.signature_algo, 1);
	assert_int_equal(rep.signing_key, 0);
	assert_hex(rep.measurement, 48, REAL_MEASUREMENT);
	assert_true(rep.reported_tcb == 0x4405000000000002ull);
	if (dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, s.ark, s.ark_len, REAL_INSIDE, &res,
	    &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(res.version, 2);
	assert_int_equal(res.product, DCR_SNP_MILAN);
	assert_false(res.vlek);
	assert_false(res.crl_checked);
	assert_hex(res.measurement, 48, REAL_MEASUREMENT);
	assert_memory_equal(res.report_data, rd, 64);
	/* Policy 0xb0000: SMT allowed, the reserved 1, DEBUG. */
	assert_true(res.policy == 0xb0000);
	assert_true(res.debug);
	assert_int_equal(res.vmpl, 0);
	assert_int_equal(res.reported.bootloader, 2);
	assert_int_equal(res.reported.tee, 0);
	assert_int_equal(res.reported.snp, 5);
	assert_int_equal(res.reported.microcode, 68);
	assert_true(res.committed_tcb == res.reported_tcb);
	assert_hex(res.chip_id, 4, "3ac3fe21");
	assert_int_equal(dcr_snp_check_report_data(&res, rd, &err), 0);
	rd[5] = 1;
	expect_refused(dcr_snp_check_report_data(&res, rd, &err), &err, "REPORT_DATA");

	/* The chain may carry the ARK too, when it is the pinned one. */
	with_ark = malloc(s.chain_len + 1);
	memcpy(with_ark, s.chain, s.chain_len);
	with_ark_len = s.chain_len;
	snp_synth_pem_cert(s.ark_x, &with_ark, &with_ark_len);
	assert_int_equal(dcr_snp_verify(s.report, s.report_len, (uint8_t *)with_ark, with_ark_len, s.ark, s.ark_len,
		REAL_INSIDE, NULL, &err), 0);
	expect_refused(dcr_snp_chain_check((uint8_t *)with_ark, with_ark_len, &err), &err, "includes the ARK");
	assert_int_equal(dcr_snp_chain_check((uint8_t *)s.chain, s.chain_len, &err), 0);
	free(with_ark);
	real_release(&s);
}

static void test_real_window(void **state)
{
	struct dcr_err err;
	struct real s;

	REAL_OR_SKIP(&s);
	expect_refused(dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, s.ark, s.ark_len,
		REAL_AFTER, NULL, &err), &err, "expired certificate: VCEK notAfter 2029-09-24");
	expect_refused(dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, s.ark, s.ark_len,
		REAL_BEFORE, NULL, &err), &err, "VCEK certificate not yet valid");
	real_release(&s);
}

/* A root with the ARK's name, extensions and dates and a different key: the real chain does not verify under it. */
static void test_real_wrong_root(void **state)
{
	struct dcr_err err;
	struct real s;
	EVP_PKEY *key;
	X509 *impostor;
	uint8_t *der;
	size_t len;

	REAL_OR_SKIP(&s);
	impostor = snp_synth_impostor(s.ark_x, &key);
	der = snp_synth_der(impostor, &len);
	expect_refused(dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, der, len, REAL_INSIDE,
		NULL, &err), &err, "ASK certificate signature does not verify with the ARK's key");
	free(der);
	X509_free(impostor);
	EVP_PKEY_free(key);
	/* The ASK given as root: not an ARK. */
	der = snp_synth_der(s.ask_x, &len);
	expect_refused(dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, der, len, REAL_INSIDE,
		NULL, &err), &err, "is not an AMD Root Key");
	free(der);
	expect_refused(dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, (const uint8_t *)"x", 1,
		REAL_INSIDE, NULL, &err), &err, "not a DER certificate");
	real_release(&s);
}

/* Every byte of the real report changed, and every byte of its chain: refused each time. */
static void test_real_sweep(void **state)
{
	struct dcr_err err;
	struct real s;
	size_t accepted = 0;

	REAL_OR_SKIP(&s);
	for (size_t i = 0; i < s.report_len; i++) {
		s.report[i] ^= 0xff;
		if (dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, s.ark, s.ark_len, REAL_INSIDE,
		    NULL, &err) != DCR_EATTEST) {
			print_message("report byte 0x%03zx changed: accepted\n", i);
			accepted++;
		}
		s.report[i] ^= 0xff;
	}
	for (size_t i = 0; i < s.chain_len; i++) {
		s.chain[i] ^= 0x01;
		if (dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, s.ark, s.ark_len, REAL_INSIDE,
		    NULL, &err) != DCR_EATTEST) {
			print_message("chain byte %zu changed: accepted\n", i);
			accepted++;
		}
		s.chain[i] ^= 0x01;
	}
	assert_int_equal(accepted, 0);
	/* And unchanged, it still verifies: the sweep restored every byte. */
	assert_int_equal(dcr_snp_verify(s.report, s.report_len, (uint8_t *)s.chain, s.chain_len, s.ark, s.ark_len,
		REAL_INSIDE, NULL, &err), 0);
	real_release(&s);
}

/* Synthetic samples. */

static const uint8_t measurement[48] = { 0x11, 0x22, 0x33 };
static const uint8_t report_data[64] = { 0xaa, 0xbb };

/* One synthetic case: options, a report built from them, a chain, the root's DER. */
struct synth {
	struct snp_synth_opts o;
	struct snp_synth s;
	uint8_t report[SNP_SYNTH_REPORT_LEN];
	char *chain;
	size_t chain_len;
	uint8_t *root;
	size_t root_len;
};

static void synth_chain(struct synth *c)
{
	free(c->chain);
	c->chain = NULL;
	c->chain_len = 0;
	snp_synth_pem_cert(c->s.leaf, &c->chain, &c->chain_len);
	snp_synth_pem_cert(c->s.ask, &c->chain, &c->chain_len);
}

static void synth_make(struct synth *c, uint32_t version)
{
	snp_synth_init(&c->s, &c->o);
	snp_synth_report(c->report, version, &c->o, measurement, report_data);
	snp_synth_sign(c->report, c->s.leaf_key);
	c->chain = NULL;
	synth_chain(c);
	c->root = snp_synth_der(c->s.ark, &c->root_len);
}

static void synth_default(struct synth *c, uint32_t version)
{
	memset(c, 0, sizeof(*c));
	snp_synth_opts_default(&c->o, T_NB, T_NA);
	synth_make(c, version);
}

static void synth_release(struct synth *c)
{
	snp_synth_release(&c->s);
	free(c->chain);
	free(c->root);
}

static int synth_verify(struct synth *c, struct dcr_snp_result *res, struct dcr_err *err)
{
	return dcr_snp_verify(c->report, sizeof(c->report), (uint8_t *)c->chain, c->chain_len, c->root, c->root_len,
		T_NOW, res, err);
}

/* Change the report and sign it again, so that only the check under test can refuse it. */
static void resign(struct synth *c)
{
	snp_synth_sign(c->report, c->s.leaf_key);
}

static void test_synthetic_ok(void **state)
{
	static const char *const products[] = { "Milan", "Genoa", "Turin" };
	struct dcr_snp_result res;
	struct dcr_err err;
	struct synth c;

	for (size_t p = 0; p < 3; p++) {
		for (uint32_t v = 2; v <= 3; v++) {
			for (int vlek = 0; vlek <= 1; vlek++) {
				memset(&c, 0, sizeof(c));
				snp_synth_opts_default(&c.o, T_NB, T_NA);
				c.o.product = products[p];
				c.o.vlek = vlek;
				if (p == 2) /* Turin: FMC 1, boot loader 2, TEE 3, SNP 4, microcode 5 */
					c.o.tcb = 1ull | 2ull << 8 | 3ull << 16 | 4ull << 24 | 5ull << 56;
				synth_make(&c, v);
				if (synth_verify(&c, &res, &err) < 0)
					fail_msg("%s v%u%s: %s", products[p], v, vlek ? " VLEK" : "", err.msg);
				assert_int_equal(res.product, (int)p + 1);
				assert_int_equal(res.version, v);
				assert_int_equal(res.vlek, vlek);
				assert_memory_equal(res.measurement, measurement, 48);
				assert_false(res.debug);
				if (p == 2) {
					assert_int_equal(res.reported.fmc, 1);
					assert_int_equal(res.reported.bootloader, 2);
					assert_int_equal(res.reported.tee, 3);
					assert_int_equal(res.reported.snp, 4);
					assert_int_equal(res.reported.microcode, 5);
				} else {
					assert_int_equal(res.reported.bootloader, 3);
					assert_int_equal(res.reported.snp, 8);
					assert_int_equal(res.reported.microcode, 115);
				}
				synth_release(&c);
			}
		}
	}
}

static void test_parse_strict(void **state)
{
	struct dcr_snp_report rep;
	struct dcr_err err;
	struct synth c;
	uint8_t copy[SNP_SYNTH_REPORT_LEN];

	synth_default(&c, 3);
	assert_int_equal(dcr_snp_report_parse(c.report, sizeof(c.report), &rep, &err), 0);
	expect_refused(dcr_snp_report_parse(c.report, sizeof(c.report) - 1, &rep, &err), &err, "1183 bytes, not 1184");
	for (uint32_t v = 0; v < 8; v++) {
		if (v >= 2 && v <= 5)
			continue;
		memcpy(copy, c.report, sizeof(copy));
		copy[0] = (uint8_t)v;
		expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "not supported (only 2 to 5)");
		assert_non_null(strstr(err.msg, v == 6 ? "version 6 " : "version "));
	}
	/* Version 4 has version 3's layout; version 5 adds the mitigation vectors at 0x1F8 and 0x200. */
	memcpy(copy, c.report, sizeof(copy));
	copy[0] = 4;
	assert_int_equal(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), 0);
	assert_int_equal(rep.cpuid_fam_id, 0x19);
	copy[0x1f8] = 1;
	expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "0x1f8 is reserved before version 5");
	copy[0] = 5;
	snp_synth_le64(copy + 0x1f8, 0x0102030405060708ull);
	snp_synth_le64(copy + 0x200, 0x1112131415161718ull);
	assert_int_equal(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), 0);
	assert_int_equal(rep.launch_mit_vector, 0x0102030405060708ull);
	assert_int_equal(rep.current_mit_vector, 0x1112131415161718ull);
	copy[0x208] = 1;
	expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "0x208 is reserved");
	/* Reserved bytes, signed and unsigned, and the version 2 bytes that version 3 uses for the CPUID. */
	{
		static const size_t reserved[] = { 0x4c, 0x18b, 0x19f, 0x1eb, 0x1ef, 0x1f8, 0x29f, 0x330, 0x49f };

		for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
			memcpy(copy, c.report, sizeof(copy));
			copy[reserved[i]] = 1;
			expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "is reserved");
		}
		synth_release(&c);
		synth_default(&c, 2);
		memcpy(copy, c.report, sizeof(copy));
		copy[0x189] = 1;
		expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "reserved in version 2");
	}
	memcpy(copy, c.report, sizeof(copy));
	copy[SNP_OFF_POLICY + 2] &= (uint8_t)~2;
	expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "bit 17 is 0");
	memcpy(copy, c.report, sizeof(copy));
	copy[SNP_OFF_KEY_BITS] |= 0x20;
	expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "reserved bits");
	memcpy(copy, c.report, sizeof(copy));
	copy[SNP_OFF_SIGNATURE + 48] = 1;
	expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "longer than 48 bytes");
	memcpy(copy, c.report, sizeof(copy));
	copy[SNP_OFF_SIGNATURE + 72 + 71] = 1;
	expect_refused(dcr_snp_report_parse(copy, sizeof(copy), &rep, &err), &err, "longer than 48 bytes");
	synth_release(&c);
}

static void test_report_checks(void **state)
{
	struct dcr_snp_result res;
	struct dcr_err err;
	struct synth c;

	synth_default(&c, 3);
	/* The signature. */
	c.report[SNP_OFF_MEASUREMENT] ^= 1;
	expect_refused(synth_verify(&c, NULL, &err), &err, "report signature invalid");
	resign(&c);
	assert_int_equal(synth_verify(&c, NULL, &err), 0);
	c.report[SNP_OFF_SIGNATURE] ^= 1;
	expect_refused(synth_verify(&c, NULL, &err), &err, "report signature invalid");
	resign(&c);
	/* Signature algorithm, VMPL, signing key. */
	c.report[SNP_OFF_SIG_ALGO] = 2;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "signature algorithm 2 is not supported");
	c.report[SNP_OFF_SIG_ALGO] = 1;
	c.report[SNP_OFF_VMPL] = 4;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "VMPL 4 is not 0 to 3");
	c.report[SNP_OFF_VMPL] = 3;
	resign(&c);
	assert_int_equal(synth_verify(&c, &res, &err), 0);
	assert_int_equal(res.vmpl, 3);
	c.report[SNP_OFF_VMPL] = 0;
	c.report[SNP_OFF_KEY_BITS] = 1 << 2;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "SIGNING_KEY 1 says VLEK, but the chain is for a VCEK");
	c.report[SNP_OFF_KEY_BITS] = 7 << 2;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "says unsigned");
	c.report[SNP_OFF_KEY_BITS] = 0;
	/* The CPUID of another product (version 3). */
	c.report[SNP_OFF_CPUID] = 0x1a;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "CPUID family 0x1a model 0x01 is not a Milan processor");
	c.report[SNP_OFF_CPUID] = 0x19;
	c.report[SNP_OFF_CPUID + 1] = 0x11;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "is not a Milan processor");
	c.report[SNP_OFF_CPUID + 1] = 0x01;
	/* The TCB the VCEK is for. */
	c.report[SNP_OFF_REPORTED_TCB + 7] = 116;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "but the report's REPORTED_TCB is 7408");
	c.report[SNP_OFF_REPORTED_TCB + 7] = 115;
	/* Another chip. */
	c.report[SNP_OFF_CHIP_ID + 63] ^= 1;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "another chip");
	/* MASK_CHIP_ID (a platform setting): CHIP_ID is all zero, so not compared; the signature binds the chip. */
	memset(c.report + SNP_OFF_CHIP_ID, 0, 64);
	resign(&c);
	assert_int_equal(synth_verify(&c, &res, &err), 0);
	assert_true(res.mask_chip_id);
	/* Bit 1 is MASK_CHIP_KEY: the firmware signs nothing then. Even with a signature, refused. */
	c.report[SNP_OFF_CHIP_ID + 63] ^= 1;
	c.report[SNP_OFF_KEY_BITS] = 2;
	resign(&c);
	expect_refused(synth_verify(&c, NULL, &err), &err, "MASK_CHIP_KEY");
	synth_release(&c);
	/* Versions 4 and 5 verify like 3. */
	for (uint32_t v = 4; v <= 5; v++) {
		synth_default(&c, 3);
		c.report[SNP_OFF_VERSION] = (uint8_t)v;
		resign(&c);
		if (synth_verify(&c, &res, &err) < 0)
			fail_msg("version %u: %s", v, err.msg);
		assert_int_equal(res.version, v);
		synth_release(&c);
	}
}

#define TURIN_TCB (1ull | 2ull << 8 | 3ull << 16 | 4ull << 24 | 5ull << 56)

/* Siena (EPYC 8004) VCEKs chain to Genoa's ARK: their productName may say Siena; never under another ARK. */
static void test_siena(void **state)
{
	struct dcr_snp_result res;
	struct dcr_err err;
	struct synth c;

	for (int genoa = 0; genoa <= 1; genoa++) {
		memset(&c, 0, sizeof(c));
		snp_synth_opts_default(&c.o, T_NB, T_NA);
		c.o.product = genoa ? "Genoa" : "Milan";
		c.o.product_ext = "Siena-A0";
		synth_make(&c, 2);
		if (genoa)
			assert_int_equal(synth_verify(&c, &res, &err), 0);
		else
			expect_refused(synth_verify(&c, NULL, &err), &err, "productName is not Milan");
		synth_release(&c);
	}
	memset(&c, 0, sizeof(c));
	snp_synth_opts_default(&c.o, T_NB, T_NA);
	c.o.product = "Genoa";
	c.o.product_ext = "SienaX";
	synth_make(&c, 2);
	expect_refused(synth_verify(&c, NULL, &err), &err, "productName is not Genoa");
	synth_release(&c);
}

/* The hwID extension: the bare bytes (VCEKs before 2023) or a DER OCTET STRING of them (the KDS since). */
static void test_hwid_forms(void **state)
{
	static const char *const products[] = { "Milan", "Turin" };
	struct dcr_snp_result res;
	struct dcr_err err;
	struct synth c;

	for (size_t p = 0; p < 2; p++) {
		size_t n = p ? 8 : 64;
		uint8_t bad[2 + 64 + 1];

		for (int der = 0; der <= 1; der++) {
			memset(&c, 0, sizeof(c));
			snp_synth_opts_default(&c.o, T_NB, T_NA);
			c.o.product = products[p];
			if (p == 1)
				c.o.tcb = TURIN_TCB;
			c.o.hwid_der = der;
			synth_make(&c, 2);
			if (synth_verify(&c, &res, &err) < 0)
				fail_msg("%s %s hwID: %s", products[p], der ? "DER" : "raw", err.msg);
			/* Another chip, in either form. */
			c.report[SNP_OFF_CHIP_ID] ^= 1;
			resign(&c);
			expect_refused(synth_verify(&c, NULL, &err), &err, "another chip");
			synth_release(&c);
		}
		/* Wrong length byte, another tag, a trailing byte, one byte short: refused. */
		for (int k = 0; k < 4; k++) {
			size_t len = 2 + n;

			memset(&c, 0, sizeof(c));
			snp_synth_opts_default(&c.o, T_NB, T_NA);
			c.o.product = products[p];
			if (p == 1)
				c.o.tcb = TURIN_TCB;
			bad[0] = 0x04, bad[1] = (uint8_t)n;
			memcpy(bad + 2, c.o.chip_id, n);
			if (k == 0)
				bad[1] = (uint8_t)(n + 1), bad[2 + n] = 0, len++;
			else if (k == 1)
				bad[0] = 0x0c;
			else if (k == 2)
				bad[2 + n] = 0, len++;
			else
				len--;
			c.o.hwid_raw = bad;
			c.o.hwid_raw_len = len;
			synth_make(&c, 2);
			expect_refused(synth_verify(&c, NULL, &err), &err, "hwID extension is neither");
			synth_release(&c);
		}
	}
}

/* Options that break one check of the chain; the report is built for the default ones. */
struct chain_case {
	const char *name, *want;
	void (*set)(struct snp_synth_opts *o);
};

static void set_leaf_cn(struct snp_synth_opts *o) { o->leaf_cn = "SEV-VLEK"; }
static void set_ask_cn(struct snp_synth_opts *o) { o->ask_cn = "SEV-Genoa"; }
static void set_ark_cn(struct snp_synth_opts *o) { o->ark_cn = "ARK-Naples"; }
static void set_ask_not_ca(struct snp_synth_opts *o) { o->ask_not_ca = true; }
static void set_sha256(struct snp_synth_opts *o) { o->leaf_sha256_pss = true; }
static void set_no_hwid(struct snp_synth_opts *o) { o->no_hwid = true; }
static void set_product_ext(struct snp_synth_opts *o) { o->product_ext = "Genoa-B0"; }
static void set_product_prefix(struct snp_synth_opts *o) { o->product_ext = "MilanX"; }
static void set_no_snp(struct snp_synth_opts *o) { o->drop_spl = 3; }
static void set_no_ucode(struct snp_synth_opts *o) { o->drop_spl = 8; }
static void set_big_spl(struct snp_synth_opts *o) { o->drop_spl = 1, o->spl_value = 256; }
static void set_neg_spl(struct snp_synth_opts *o) { o->drop_spl = 2, o->spl_value = -1 - 1; }
static void set_spl4(struct snp_synth_opts *o) { o->drop_spl = 4, o->spl_value = 1; }
static void set_expired(struct snp_synth_opts *o) { o->not_after = T_NOW - 1; }
static void set_future(struct snp_synth_opts *o) { o->not_before = T_NOW + 1; }

static void test_chain_checks(void **state)
{
	static const struct chain_case cases[] = {
		{ "leaf name", "the first certificate is 'SEV-VLEK', not 'SEV-VCEK'", set_leaf_cn },
		{ "ASK name", "the second certificate is 'SEV-Genoa', not the ASK 'SEV-Milan'", set_ask_cn },
		{ "ARK name", "'ARK-Naples' is not an AMD Root Key", set_ark_cn },
		{ "ASK not a CA", "the ASK is not a CA certificate", set_ask_not_ca },
		{ "leaf SHA-256", "VCEK certificate is not signed with RSASSA-PSS and SHA-384", set_sha256 },
		{ "no hwID", "has no hwID extension", set_no_hwid },
		{ "product name", "productName is not Milan", set_product_ext },
		{ "product prefix", "productName is not Milan", set_product_prefix },
		{ "no SNP SPL", "lacks TCB extension 1.3.6.1.4.1.3704.1.3.3", set_no_snp },
		{ "no microcode SPL", "lacks TCB extension 1.3.6.1.4.1.3704.1.3.8", set_no_ucode },
		{ "SPL 256", "1.3.6.1.4.1.3704.1.3.1 is malformed", set_big_spl },
		{ "SPL -2", "1.3.6.1.4.1.3704.1.3.2 is malformed", set_neg_spl },
		{ "reserved SPL set", "but the report's REPORTED_TCB", set_spl4 },
		{ "expired", "expired certificate: ARK notAfter", set_expired },
		{ "not yet valid", "ARK certificate not yet valid", set_future },
	};
	struct dcr_err err;
	struct synth c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snp_synth_opts want;

		memset(&c, 0, sizeof(c));
		snp_synth_opts_default(&c.o, T_NB, T_NA);
		want = c.o;
		cases[i].set(&c.o);
		snp_synth_init(&c.s, &c.o);
		snp_synth_report(c.report, 3, &want, measurement, report_data);
		snp_synth_sign(c.report, c.s.leaf_key);
		synth_chain(&c);
		c.root = snp_synth_der(c.s.ark, &c.root_len);
		print_message("%s\n", cases[i].name);
		expect_refused(synth_verify(&c, NULL, &err), &err, cases[i].want);
		synth_release(&c);
	}
}

/* An RSA leaf: refused before the signature matters. */
static void test_leaf_key(void **state)
{
	struct snp_synth_opts o;
	struct synth c;
	struct dcr_err err;
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	memset(&c, 0, sizeof(c));
	snp_synth_opts_default(&c.o, T_NB, T_NA);
	o = c.o;
	c.o.leaf_rsa = true;
	snp_synth_init(&c.s, &c.o);
	snp_synth_report(c.report, 3, &o, measurement, report_data);
	snp_synth_sign(c.report, other);
	synth_chain(&c);
	c.root = snp_synth_der(c.s.ark, &c.root_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "the VCEK key is not ECDSA P-384");
	synth_release(&c);
	/* A report signed by another P-384 key than the VCEK's. */
	synth_default(&c, 3);
	snp_synth_sign(c.report, other);
	expect_refused(synth_verify(&c, NULL, &err), &err, "report signature invalid");
	synth_release(&c);
	EVP_PKEY_free(other);
}

/* Certificates from another hierarchy with the same names: each link is checked. */
static void test_chain_links(void **state)
{
	struct snp_synth_opts o;
	struct snp_synth other;
	struct dcr_err err;
	struct synth c;
	uint8_t *der;
	size_t len;

	snp_synth_opts_default(&o, T_NB, T_NA);
	snp_synth_init(&other, &o);
	synth_default(&c, 3);
	/* Another ARK pinned. */
	der = snp_synth_der(other.ark, &len);
	expect_refused(dcr_snp_verify(c.report, sizeof(c.report), (uint8_t *)c.chain, c.chain_len, der, len, T_NOW, NULL,
		&err), &err, "ASK certificate signature does not verify with the ARK's key");
	/* The right ARK pinned, another one in the chain. */
	snp_synth_pem_cert(other.ark, &c.chain, &c.chain_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "its third certificate is not the pinned ARK");
	free(der);
	/* Another ASK, same name. */
	free(c.chain);
	c.chain = NULL, c.chain_len = 0;
	snp_synth_pem_cert(c.s.leaf, &c.chain, &c.chain_len);
	snp_synth_pem_cert(other.ask, &c.chain, &c.chain_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "ASK certificate signature does not verify");
	/* Another VCEK, same name, under the right ASK's name but not its key. */
	free(c.chain);
	c.chain = NULL, c.chain_len = 0;
	snp_synth_pem_cert(other.leaf, &c.chain, &c.chain_len);
	snp_synth_pem_cert(c.s.ask, &c.chain, &c.chain_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "VCEK certificate signature does not verify with the ASK's key");
	/* The leaf issued by a different name. */
	free(c.chain);
	c.chain = NULL, c.chain_len = 0;
	snp_synth_pem_cert(c.s.leaf, &c.chain, &c.chain_len);
	snp_synth_pem_cert(c.s.ark, &c.chain, &c.chain_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "the second certificate is 'ARK-Milan'");
	snp_synth_release(&other);
	synth_release(&c);
}

static void test_chain_form(void **state)
{
	struct dcr_err err;
	struct synth c;
	char *bad;
	size_t n;

	synth_default(&c, 3);
	/* Only the leaf. */
	free(c.chain);
	c.chain = NULL, c.chain_len = 0;
	snp_synth_pem_cert(c.s.leaf, &c.chain, &c.chain_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "holds 1 certificate: it needs");
	/* Four certificates. */
	synth_chain(&c);
	snp_synth_pem_cert(c.s.ark, &c.chain, &c.chain_len);
	snp_synth_pem_cert(c.s.ark, &c.chain, &c.chain_len);
	expect_refused(synth_verify(&c, NULL, &err), &err, "starts neither a certificate (at most 3)");
	/* Bytes after, bytes before, CRLF, a long line. */
	synth_chain(&c);
	bad = malloc(c.chain_len + 2);
	memcpy(bad, c.chain, c.chain_len);
	bad[c.chain_len] = '\n';
	expect_refused(dcr_snp_chain_check((uint8_t *)bad, c.chain_len + 1, &err), &err, "starts neither");
	bad[0] = '\n';
	memcpy(bad + 1, c.chain, c.chain_len);
	expect_refused(dcr_snp_chain_check((uint8_t *)bad, c.chain_len + 1, &err), &err, "holds 0 certificates");
	free(bad);
	n = strlen("-----BEGIN CERTIFICATE-----");
	bad = malloc(c.chain_len + 2);
	memcpy(bad, c.chain, n);
	bad[n] = '\r';
	memcpy(bad + n + 1, c.chain + n, c.chain_len - n);
	expect_refused(dcr_snp_chain_check((uint8_t *)bad, c.chain_len + 1, &err), &err, "holds 0 certificates");
	/* Line 1 of the base64 joined to line 2: the same DER, another text. */
	memcpy(bad, c.chain, c.chain_len);
	{
		char *nl = memchr(bad + n + 1, '\n', c.chain_len - n - 1);

		memmove(nl, nl + 1, c.chain_len - (size_t)(nl + 1 - bad));
		expect_refused(dcr_snp_chain_check((uint8_t *)bad, c.chain_len - 1, &err), &err,
			"not written as OpenSSL writes it");
	}
	free(bad);
	expect_refused(dcr_snp_chain_check((const uint8_t *)"", 0, &err), &err, "0 bytes");
	synth_release(&c);
}

static void test_crl(void **state)
{
	struct dcr_snp_result res;
	struct snp_synth_opts o;
	struct snp_synth other;
	struct dcr_err err;
	struct synth c;
	X509_CRL *crl;
	X509 *rev[2] = { NULL, NULL };
	size_t base;

	synth_default(&c, 3);
	base = c.chain_len;
	crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NB, T_NA, NULL);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	assert_int_equal(synth_verify(&c, &res, &err), 0);
	assert_true(res.crl_checked);
	assert_int_equal(dcr_snp_chain_check((uint8_t *)c.chain, c.chain_len, &err), 0);

	rev[0] = c.s.ask;
	c.chain_len = base;
	crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NB, T_NA, rev);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	expect_refused(synth_verify(&c, NULL, &err), &err, "the ASK is revoked");

	/*
	 * The ARK's CRL lists serial numbers of what the ARK issued; the VCEK is
	 * the ASK's, so the same serial in the ARK's CRL is another certificate.
	 */
	rev[0] = c.s.leaf;
	c.chain_len = base;
	crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NB, T_NA, rev);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	assert_int_equal(synth_verify(&c, &res, &err), 0);
	assert_true(res.crl_checked);

	c.chain_len = base;
	crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NB, T_NOW, NULL);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	expect_refused(synth_verify(&c, NULL, &err), &err, "expired CRL");

	c.chain_len = base;
	crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NOW + 1, T_NA, NULL);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	expect_refused(synth_verify(&c, NULL, &err), &err, "CRL not yet valid");

	/* Signed by another key under the ARK's name; issued by the ASK. */
	snp_synth_opts_default(&o, T_NB, T_NA);
	snp_synth_init(&other, &o);
	c.chain_len = base;
	crl = snp_synth_crl(c.s.ark, other.ark_key, T_NB, T_NA, NULL);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	expect_refused(synth_verify(&c, NULL, &err), &err, "CRL signature does not verify");
	c.chain_len = base;
	crl = snp_synth_crl(c.s.ask, c.s.ask_key, T_NB, T_NA, NULL);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	expect_refused(synth_verify(&c, NULL, &err), &err, "CRL is not issued by the pinned ARK");
	/* Two CRLs. */
	crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NB, T_NA, NULL);
	snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
	X509_CRL_free(crl);
	expect_refused(synth_verify(&c, NULL, &err), &err, "starts neither");
	snp_synth_release(&other);
	synth_release(&c);
}

/* Policy: a spec built in memory, then changed one field at a time. */
static void test_policy(void **state)
{
	struct dcr_snp_result res;
	struct dcr_spec spec;
	struct dcr_err err;
	struct synth c;

	synth_default(&c, 3);
	assert_int_equal(synth_verify(&c, &res, &err), 0);
	memset(&spec, 0, sizeof(spec));
	snprintf(spec.name, sizeof(spec.name), "snp");
	spec.format = DCR_SPEC_SEV_SNP;
	memcpy(spec.snp_measurement, measurement, 48);
	spec.snp_policy_allow = DCR_SNP_POLICY_SMT;
	/* Revocation is not the evidence's choice: a chain without AMD's CRL only when the spec says so. */
	assert_false(res.crl_checked);
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "carries no AMD CRL");
	spec.snp_crl_optional = true;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);

	spec.snp_measurement[47] ^= 1;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "MEASUREMENT 112233");
	spec.snp_measurement[47] ^= 1;
	spec.snp_has_host_data = true;
	spec.snp_host_data[0] = 1;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "HOST_DATA 0000");
	spec.snp_host_data[0] = 0;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	spec.snp_has_id_key = true;
	spec.snp_id_key_digest[0] = 1;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "ID_KEY_DIGEST");
	spec.snp_id_key_digest[0] = 0;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);

	spec.snp_policy_allow = 0;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "allows smt, which spec 'snp' does not allow");
	spec.snp_policy_allow = DCR_SNP_POLICY_SMT;
	res.policy |= DCR_SNP_POLICY_DEBUG;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "allows debug");
	res.policy ^= DCR_SNP_POLICY_DEBUG | DCR_SNP_POLICY_MIGRATE_MA;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "allows migrate_ma");
	res.policy ^= DCR_SNP_POLICY_MIGRATE_MA | DCR_SNP_POLICY_CXL_ALLOW;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "allows cxl_allow");
	spec.snp_policy_allow |= DCR_SNP_POLICY_CXL_ALLOW;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	/* Restricting bits are always fine; unknown ones never. */
	res.policy |= DCR_SNP_POLICY_SINGLE_SOCKET | DCR_SNP_POLICY_PAGE_SWAP_DISABLE;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	res.policy |= 1ull << 26;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "bits dcr does not know");
	res.policy &= ~(1ull << 26);

	res.vmpl = 1;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "VMPL 1 is above spec 'snp''s max_vmpl 0");
	spec.snp_max_vmpl = 1;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);

	spec.snp_min_tcb.bootloader = 3, spec.snp_min_tcb.snp = 8, spec.snp_min_tcb.microcode = 115;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	spec.snp_min_tcb.bootloader = 4;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "boot loader SPL 3 is below spec 'snp''s minimum 4");
	spec.snp_min_tcb.bootloader = 3, spec.snp_min_tcb.tee = 1;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "TEE SPL 0 is below");
	spec.snp_min_tcb.tee = 0, spec.snp_min_tcb.snp = 9;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "SNP firmware SPL 8 is below");
	spec.snp_min_tcb.snp = 8, spec.snp_min_tcb.microcode = 200;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "microcode SPL 115 is below");
	spec.snp_min_tcb.microcode = 0, spec.snp_min_tcb.fmc = 1;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "FMC SPL 0 is below");
	spec.snp_min_tcb.fmc = 0;

	/* The spec's ARK: the one the report was verified under, or refused. */
	spec.root_ca = c.root;
	spec.root_ca_len = c.root_len;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	spec.root_ca_len--;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "verified under another ARK than spec 'snp' pins");
	spec.root_ca = NULL;

	/* Signing keys: a VLEK report when the spec takes the VCEK only. */
	res.vlek = true;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	spec.snp_vcek_only = true;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "signed by a VLEK");
	res.vlek = false;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);

	/* PLATFORM_INFO bits the spec requires (the BadRAM alias check, AMD-SB-3015). */
	spec.snp_platform_require = DCR_SNP_PLATFORM_ALIAS_CHECK;
	res.platform_info = DCR_SNP_PLATFORM_TSME;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "lacks alias_check");
	res.platform_info |= DCR_SNP_PLATFORM_ALIAS_CHECK;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	spec.snp_platform_require |= DCR_SNP_PLATFORM_CIPHERTEXT_HIDING;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "lacks ciphertext_hiding");
	spec.snp_platform_require = 0;

	spec.format = DCR_SPEC_SGX_DCAP;
	expect_refused(dcr_snp_check_policy(&res, &spec, &err), &err, "not for sev-snp evidence");
	synth_release(&c);

	/* A chain with a current CRL is what a spec requires by default. */
	synth_default(&c, 3);
	{
		X509_CRL *crl = snp_synth_crl(c.s.ark, c.s.ark_key, T_NB, T_NA, NULL);

		snp_synth_pem_crl(crl, &c.chain, &c.chain_len);
		X509_CRL_free(crl);
	}
	assert_int_equal(synth_verify(&c, &res, &err), 0);
	spec.format = DCR_SPEC_SEV_SNP;
	spec.snp_crl_optional = false;
	assert_int_equal(dcr_snp_check_policy(&res, &spec, &err), 0);
	synth_release(&c);
}

/* The sev-snp entries of a specs file. */
static void test_specs(void **state)
{
	char dir[] = "/tmp/dcr-test-snp-XXXXXX", path[4096], yaml[2048], mhex[97];
	struct dcr_specs *specs;
	struct dcr_err err;
	struct synth c;
	FILE *f;
	const struct dcr_spec *s;
	static const char *const bad[][2] = {
		{ "    measurement: 00\n", "measurement must be 96 hex digits" },
		{ "    policy_allow: [smt, turbo]\n", "unknown policy bit 'turbo'" },
		{ "    policy_allow: [smt, smt]\n", "listed twice" },
		{ "    max_vmpl: 4\n", "max_vmpl" },
		{ "    min_tcb: {bootloader: 0, tee: 0, snp: 256, microcode: 0}\n", "snp" },
		{ "    min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0, cpu: 1}\n", "cpu" },
		{ "    min_tcb: {bootloader: 0, tee: 0, snp: 0}\n", "min_tcb needs microcode" },
		{ "    min_tcb: {tee: 0, snp: 0, microcode: 0}\n", "min_tcb needs bootloader" },
		{ "    require_crl: maybe\n", "require_crl" },
		{ "    signing_keys: [vlek]\n", "must list vcek" },
		{ "    signing_keys: [vcek, ask]\n", "unknown signing key 'ask'" },
		{ "    signing_keys: [vcek, vcek]\n", "listed twice" },
		{ "    platform_require: [alias_check, smt]\n", "unknown platform bit 'smt'" },
		{ "    platform_require: [ecc, ecc]\n", "listed twice" },
		{ "    mrenclave: 00\n", "mrenclave" },
		{ "    host_data: 0011\n", "host_data must be 64 hex digits" },
	};

	synth_default(&c, 3);
	dcr_hex(measurement, 48, mhex);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ark.der", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(c.root, 1, c.root_len, f), c.root_len);
	fclose(f);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    measurement: %s\n"
		"    host_data: %s\n    policy_allow: [smt, debug]\n    max_vmpl: 2\n"
		"    min_tcb: {bootloader: 3, tee: 0, snp: 8, microcode: 115, fmc: 0}\n    root_ca: ark.der\n",
		mhex,
		"00000000000000000000000000000000000000000000000000000000000000ff");
	snprintf(path, sizeof(path), "%s/specs.yaml", dir);
	if (dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(s = dcr_specs_find(specs, "snp"));
	assert_int_equal(s->format, DCR_SPEC_SEV_SNP);
	assert_memory_equal(s->snp_measurement, measurement, 48);
	assert_true(s->snp_has_host_data);
	assert_int_equal(s->snp_host_data[31], 0xff);
	assert_false(s->snp_has_id_key);
	assert_true(s->snp_policy_allow == (DCR_SNP_POLICY_SMT | DCR_SNP_POLICY_DEBUG));
	assert_int_equal(s->snp_max_vmpl, 2);
	assert_int_equal(s->snp_min_tcb.bootloader, 3);
	assert_int_equal(s->snp_min_tcb.microcode, 115);
	assert_int_equal(s->root_ca_len, c.root_len);
	dcr_specs_free(specs);

	/* Defaults: SMT allowed, nothing else; VMPL 0; the CRL required; VCEK and VLEK; no PLATFORM_INFO bit. */
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    measurement: %0*d\n"
		"    min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}\n    root_ca: ark.der\n", 96, 0);
	assert_int_equal(dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err), 0);
	s = dcr_specs_find(specs, "snp");
	assert_true(s->snp_policy_allow == DCR_SNP_POLICY_SMT);
	assert_int_equal(s->snp_max_vmpl, 0);
	assert_int_equal(s->snp_min_tcb.snp, 0);
	assert_false(s->snp_crl_optional);
	assert_false(s->snp_vcek_only);
	assert_true(s->snp_platform_require == 0);
	dcr_specs_free(specs);
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    measurement: %0*d\n"
		"    min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}\n    root_ca: ark.der\n    require_crl: false\n"
		"    signing_keys: [vcek]\n    platform_require: [alias_check, tsme]\n", 96, 0);
	if (dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err) < 0)
		fail_msg("%s", err.msg);
	s = dcr_specs_find(specs, "snp");
	assert_true(s->snp_crl_optional);
	assert_true(s->snp_vcek_only);
	assert_true(s->snp_platform_require == (DCR_SNP_PLATFORM_ALIAS_CHECK | DCR_SNP_PLATFORM_TSME));
	dcr_specs_free(specs);
	/* No minimum TCB: refused, not "any firmware". */
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    measurement: %0*d\n"
		"    root_ca: ark.der\n", 96, 0);
	assert_int_equal(dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "needs min_tcb"));

	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    measurement: %0*d\n"
		"    min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}\n", 96, 0);
	assert_int_equal(dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "needs root_ca"));
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    root_ca: ark.der\n");
	assert_int_equal(dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "needs a measurement"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  snp:\n    format: sev-snp\n    root_ca: ark.der\n%s%s",
			strstr(bad[i][0], "measurement:") ? "" : "    measurement: ", strstr(bad[i][0], "measurement:") ? "" :
			"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\n");
		if (!strstr(bad[i][0], "min_tcb:"))
			snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s",
				"    min_tcb: {bootloader: 0, tee: 0, snp: 0, microcode: 0}\n");
		snprintf(yaml + strlen(yaml), sizeof(yaml) - strlen(yaml), "%s", bad[i][0]);
		if (dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err) != DCR_EINVALID)
			fail_msg("accepted: %s", bad[i][0]);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("'%s' not in: %s", bad[i][1], err.msg);
	}
	/* Each kind takes only its own keys: a sev-snp key in an sgx-dcap spec is refused. */
	snprintf(yaml, sizeof(yaml), "version: 1\nspecs:\n  sgx:\n    format: sgx-dcap\n    mrenclave: %0*d\n"
		"    max_vmpl: 1\n", 64, 0);
	assert_int_equal(dcr_specs_parse(path, (uint8_t *)yaml, strlen(yaml), &specs, &err), DCR_EINVALID);
	assert_non_null(strstr(err.msg, "max_vmpl"));
	snprintf(path, sizeof(path), "%s/ark.der", dir);
	unlink(path);
	rmdir(dir);
	synth_release(&c);
}

/* A room's EnclaveSpec carries require_crl, signing_keys and platform_require (fields 40-42), sev-snp only. */
static void test_room_spec_fields(void **state)
{
	Dcr__V1__EnclaveSpec e = DCR__V1__ENCLAVE_SPEC__INIT;
	uint8_t m[48] = { 1 };
	struct dcr_spec out;
	struct dcr_err err;

	e.name = "snp";
	e.format = "sev-snp";
	e.measurement.data = m;
	e.measurement.len = 48;
	assert_int_equal(dcr_room_spec_from_proto(&e, &out, &err), 0);
	assert_false(out.snp_crl_optional);
	assert_false(out.snp_vcek_only);
	assert_true(out.snp_platform_require == 0);
	e.snp_crl_optional = true;
	e.snp_vcek_only = true;
	e.snp_platform_require = DCR_SNP_PLATFORM_ALIAS_CHECK;
	if (dcr_room_spec_from_proto(&e, &out, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(out.snp_crl_optional);
	assert_true(out.snp_vcek_only);
	assert_true(out.snp_platform_require == DCR_SNP_PLATFORM_ALIAS_CHECK);
	/* A bit that platform_require cannot name. */
	e.snp_platform_require = 1;
	assert_int_equal(dcr_room_spec_from_proto(&e, &out, &err), DCR_EINVALID);
	/* On another kind's spec, the sev-snp fields are malformed. */
	e.snp_platform_require = 0;
	e.snp_crl_optional = false;
	e.format = "sgx-dcap";
	e.measurement.len = 32;
	assert_int_equal(dcr_room_spec_from_proto(&e, &out, &err), DCR_EINVALID);
}

static void put_entry(uint8_t *e, const char *guid_hex, uint32_t off, uint32_t len)
{
	unhex_exact(guid_hex, e, 16);
	for (int i = 0; i < 4; i++)
		e[16 + i] = (uint8_t)(off >> (8 * i)), e[20 + i] = (uint8_t)(len >> (8 * i));
}

/* The host's certificate table (auxblob): GUIDs in binary form, offsets from its start. */
static void test_certs_table(void **state)
{
	static const char vcek[] = "8d75da6364e66445adc5f4b93be8accd", ask[] = "79b3b74aacbbe44fa02f05aef327c782";
	static const char other[] = "00112233445566778899aabbccddeeff";
	struct dcr_snp_certs c;
	struct dcr_err err;
	uint8_t t[24 * 70 + 64];

	memset(t, 0, sizeof(t));
	put_entry(t, vcek, 24 * 4, 10);
	put_entry(t + 24, other, 24 * 4 + 10, 5);
	put_entry(t + 48, ask, 24 * 4 + 15, 20);
	assert_int_equal(dcr_snp_certs_table(t, 24 * 4 + 35, &c, &err), 0);
	assert_ptr_equal(c.vcek.der, t + 96);
	assert_int_equal(c.vcek.len, 10);
	assert_ptr_equal(c.ask.der, t + 111);
	assert_int_equal(c.ask.len, 20);
	assert_null(c.ark.der);
	assert_null(c.vlek.der);
	/* Bytes past the end, no end entry, an entry twice, too many. */
	expect_refused(dcr_snp_certs_table(t, 24 * 4 + 34, &c, &err), &err, "entry 3 (offset 111, length 20) is not inside");
	put_entry(t + 24, vcek, 24 * 4 + 10, 5);
	expect_refused(dcr_snp_certs_table(t, 24 * 4 + 35, &c, &err), &err, "has the VCEK twice");
	for (int i = 0; i < 65; i++)
		put_entry(t + 24 * i, other, 1, 1);
	expect_refused(dcr_snp_certs_table(t, sizeof(t), &c, &err), &err, "more than 64 entries");
	expect_refused(dcr_snp_certs_table(t, 24 * 2 + 23, &c, &err), &err, "no end entry");
	put_entry(t, other, 1, 0);
	expect_refused(dcr_snp_certs_table(t, sizeof(t), &c, &err), &err, "is not inside");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_report),
		cmocka_unit_test(test_real_window),
		cmocka_unit_test(test_real_wrong_root),
		cmocka_unit_test(test_real_sweep),
		cmocka_unit_test(test_synthetic_ok),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_report_checks),
		cmocka_unit_test(test_hwid_forms),
		cmocka_unit_test(test_siena),
		cmocka_unit_test(test_chain_checks),
		cmocka_unit_test(test_leaf_key),
		cmocka_unit_test(test_chain_links),
		cmocka_unit_test(test_chain_form),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_specs),
		cmocka_unit_test(test_certs_table),
		cmocka_unit_test(test_room_spec_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
