/* libFuzzer target: SGX DCAP quotes and collateral JSON (parsed, and checked for its canonical form) from arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sgx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dcr_sgx_collateral *c = NULL;
	struct dcr_sgx_quote q;
	struct dcr_err err;

	/* Both parsers see every input: quotes are binary, collateral is JSON. */
	if (dcr_sgx_quote_parse(data, size, &q, &err) == 0) {
		/* Everything the parser points at lies inside the input. */
		if (q.signed_data != data || q.qe_report_raw < data || q.qe_report_raw + DCR_SGX_REPORT_LEN > data + size ||
		    q.qe_auth < data || q.qe_auth + q.qe_auth_len > data + size ||
		    q.cert_data < data || q.cert_data + q.cert_len != data + size || q.cert_len == 0)
			__builtin_trap();
	} else if (err.code != DCR_EATTEST) {
		__builtin_trap();
	}
	if (dcr_sgx_collateral_parse(data, size, &c, &err) == 0) {
		if (!c)
			__builtin_trap();
		dcr_sgx_collateral_free(c);
	} else if (c || (err.code != DCR_EATTEST && err.code != DCR_ENOMEM)) {
		__builtin_trap();
	}
	/* The canonical form audit exports require: compact, in order, as dcrd writes it. */
	if (dcr_sgx_collateral_canonical(data, size, "the collateral", &err) < 0 && err.code != DCR_EINTEGRITY &&
	    err.code != DCR_ENOMEM)
		__builtin_trap();
	return 0;
}
