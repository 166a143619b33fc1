/* libFuzzer target: SGX DCAP quotes, their PEM certificate chains, and collateral JSON (parsed, and checked for its canonical form) from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sgx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where a quote's certification data starts when its QE authentication data is empty. */
#define CERT_OFF (DCR_SGX_HEADER_LEN + DCR_SGX_REPORT_LEN + 4 + 64 + 64 + DCR_SGX_REPORT_LEN + 64 + 2 + 6)

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
 * The input as the certification data of a quote whose other fields are
 * well formed, so that every input reaches the PEM chain parser and the
 * PCK certificate's SGX extension.
 */
static void chain(const uint8_t *data, size_t size)
{
	uint8_t *q, fmspc[6];
	struct dcr_err err;
	char ca[16];
	int r;

	if (size > DCR_SGX_QUOTE_MAX - CERT_OFF)
		return;
	if (!(q = calloc(1, CERT_OFF + size)))
		abort();
	q[0] = 3, q[2] = 2;
	put32(q + DCR_SGX_HEADER_LEN + DCR_SGX_REPORT_LEN, CERT_OFF + size - (DCR_SGX_HEADER_LEN + DCR_SGX_REPORT_LEN + 4));
	q[CERT_OFF - 6] = 5;
	put32(q + CERT_OFF - 4, size);
	memcpy(q + CERT_OFF, data, size);
	err.msg[0] = '\0';
	r = dcr_sgx_quote_pck_info(q, CERT_OFF + size, fmspc, ca, &err);
	if (r == 0 && strcmp(ca, "processor") != 0 && strcmp(ca, "platform") != 0)
		__builtin_trap();
	if (r < 0)
		refused(r, &err);
	free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcr_sgx_collateral *c = NULL;
	struct dcr_sgx_quote q;
	struct dcr_err err;
	int r;

	/* The parsers see every input: quotes are binary, chains PEM, collateral JSON. */
	err.msg[0] = '\0';
	if ((r = dcr_sgx_quote_parse(data, size, &q, &err)) == 0) {
		/* Everything the parser points at lies inside the input. */
		if (q.signed_data != data || q.qe_report_raw < data || q.qe_report_raw + DCR_SGX_REPORT_LEN > data + size ||
		    q.qe_auth < data || q.qe_auth + q.qe_auth_len > data + size ||
		    q.cert_data < data || q.cert_data + q.cert_len != data + size || q.cert_len == 0)
			__builtin_trap();
	} else if (r != DCR_EATTEST || err.msg[0] == '\0') {
		__builtin_trap();
	}
	chain(data, size);
	err.msg[0] = '\0';
	if ((r = dcr_sgx_collateral_parse(data, size, &c, &err)) == 0) {
		if (!c)
			__builtin_trap();
		dcr_sgx_collateral_free(c);
	} else {
		if (c)
			__builtin_trap();
		refused(r, &err);
	}
	/* The canonical form audit exports require: compact, in order, as dcrd writes it. */
	if (dcr_sgx_collateral_canonical(data, size, "the collateral", &err) < 0 && err.code != DCR_EINTEGRITY &&
	    err.code != DCR_ENOMEM)
		__builtin_trap();
	return 0;
}
