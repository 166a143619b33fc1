/* libFuzzer target: Intel TDX quotes (versions 4 and 5) and TDX collateral JSON from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A version 5 quote with a TDX 1.5 TD report: where its signature data starts. */
#define SIG_OFF (48 + 6 + DCR_TDX_REPORT15_LEN)

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, size_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Every refusal is DCR_EATTEST (or out of memory) and says why. */
static void refused(int r, const struct dcr_err *err)
{
	if ((r != DCR_EATTEST && r != DCR_ENOMEM) || err->msg[0] == '\0')
		__builtin_trap();
}

/*
 * The input as the signature data of a version 5 quote whose header and
 * TD report are well formed, so that every input reaches the parsing of
 * the nested certification data and, through pck_info, the PEM chain.
 */
static void signature_data(const uint8_t *data, size_t size)
{
	uint8_t *q, fmspc[6];
	struct dcr_tdx_quote tq;
	struct dcr_err err;
	char ca[16];
	int r;

	if (size > DCR_TDX_QUOTE_MAX - SIG_OFF - 4)
		return;
	if (!(q = calloc(1, SIG_OFF + 4 + size)))
		abort();
	put16(q, 5), put16(q + 2, 2), put32(q + 4, DCR_TDX_TEE_TYPE);
	put16(q + 48, 3), put32(q + 50, DCR_TDX_REPORT15_LEN);
	put32(q + SIG_OFF, size);
	memcpy(q + SIG_OFF + 4, data, size);
	err.msg[0] = '\0';
	if ((r = dcr_tdx_quote_parse(q, SIG_OFF + 4 + size, &tq, &err)) == 0) {
		const struct dcr_sgx_quote *d = &tq.dcap;

		if (d->signed_len != SIG_OFF || d->qe_report_raw < q + SIG_OFF ||
		    d->qe_auth + d->qe_auth_len > q + SIG_OFF + 4 + size ||
		    d->cert_data + d->cert_len != q + SIG_OFF + 4 + size || d->cert_len == 0)
			__builtin_trap();
		err.msg[0] = '\0';
		r = dcr_tdx_quote_pck_info(q, SIG_OFF + 4 + size, fmspc, ca, &err);
		if (r == 0 && strcmp(ca, "processor") != 0 && strcmp(ca, "platform") != 0)
			__builtin_trap();
		if (r < 0)
			refused(r, &err);
	} else {
		refused(r, &err);
	}
	free(q);
}

/* A quote that parses normalizes to the form evidence carries, which parses, is canonical and stays as it is. */
static void normalized(const uint8_t *data, size_t size)
{
	uint8_t *norm = NULL, *again = NULL;
	size_t norm_len, again_len;
	struct dcr_err err;
	int r = dcr_tdx_quote_normalize(data, size, &norm, &norm_len, &err);

	if (r < 0) {
		/* Only a quote of the largest size, with no room for the NUL. */
		if (r != DCR_EATTEST || size != DCR_TDX_QUOTE_MAX)
			__builtin_trap();
		return;
	}
	if (dcr_tdx_quote_canonical(norm, norm_len, &err) == 0) {
		if (dcr_tdx_quote_normalize(norm, norm_len, &again, &again_len, &err) < 0 || again_len != norm_len ||
		    memcmp(again, norm, norm_len) != 0)
			__builtin_trap();
	} else if (err.code != DCR_EINTEGRITY) {
		__builtin_trap();
	}
	free(again);
	free(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcr_sgx_collateral *c = NULL;
	struct dcr_tdx_quote q;
	struct dcr_err err;
	int r;

	err.msg[0] = '\0';
	if ((r = dcr_tdx_quote_parse(data, size, &q, &err)) == 0) {
		const struct dcr_sgx_quote *d = &q.dcap;

		/* Everything the parser points at lies inside the input, and the forms are the documented ones. */
		if (d->signed_data != data || d->signed_len > size || d->qe_report_raw < data + d->signed_len ||
		    d->qe_report_raw + DCR_SGX_REPORT_LEN > data + size || d->qe_auth + d->qe_auth_len > data + size ||
		    d->cert_data + d->cert_len != data + size || d->cert_len == 0 ||
		    (q.version != 4 && q.version != 5) || (q.body_type != 2 && q.body_type != 3) ||
		    q.td.tdx15 != (q.body_type == 3))
			__builtin_trap();
		normalized(data, size);
	} else {
		refused(r, &err);
	}
	signature_data(data, size);
	err.msg[0] = '\0';
	if ((r = dcr_tdx_collateral_parse(data, size, &c, &err)) == 0) {
		if (!c)
			__builtin_trap();
		dcr_sgx_collateral_free(c);
	} else {
		if (c)
			__builtin_trap();
		refused(r, &err);
	}
	return 0;
}
