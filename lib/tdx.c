/* Intel TDX: DCAP quote v4/v5 parsing and offline verification, on the DCAP checks shared with SGX (lib/dcap.h). */
#include "tdx.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#include "banned.h"

#define ATT_KEY_ECDSA_P256 2
#define HEADER_LEN 48
#define BODY_TD10 2
#define BODY_TD15 3
#define CERT_QE_REPORT 6

/* Offsets from the TD report body layout (TDX DCAP Quoting Library API, appendix A.3). */
static void parse_td_report(const uint8_t *p, bool tdx15, struct dcr_tdx_report *r)
{
	memcpy(r->tee_tcb_svn, p, 16);
	memcpy(r->mrseam, p + 16, 48);
	memcpy(r->mrsignerseam, p + 64, 48);
	memcpy(r->seam_attributes, p + 112, 8);
	memcpy(r->td_attributes, p + 120, 8);
	memcpy(r->xfam, p + 128, 8);
	memcpy(r->mrtd, p + 136, 48);
	memcpy(r->mrconfigid, p + 184, 48);
	memcpy(r->mrowner, p + 232, 48);
	memcpy(r->mrownerconfig, p + 280, 48);
	for (int i = 0; i < 4; i++)
		memcpy(r->rtmr[i], p + 328 + 48 * i, 48);
	memcpy(r->report_data, p + 520, 64);
	r->tdx15 = tdx15;
	if (tdx15) {
		memcpy(r->tee_tcb_svn2, p + 584, 16);
		memcpy(r->mrservicetd, p + 600, 48);
	}
}

int dcr_tdx_quote_parse(const uint8_t *buf, size_t len, struct dcr_tdx_quote *q, struct dcr_err *err)
{
	struct dcr_sgx_quote *d = &q->dcap;
	const uint8_t *p, *end = buf + len;
	size_t body_len = DCR_TDX_REPORT10_LEN, off = HEADER_LEN;
	uint32_t n;

	memset(q, 0, sizeof(*q));
	if (len > DCR_TDX_QUOTE_MAX)
		return dcr_err_set(err, DCR_EATTEST, "TDX quote is %zu bytes, more than %d", len, DCR_TDX_QUOTE_MAX);
	if (len < HEADER_LEN + 6)
		return dcr_err_set(err, DCR_EATTEST, "TDX quote is truncated: %zu bytes", len);
	q->version = d->version = dcr_le16(buf);
	d->att_key_type = dcr_le16(buf + 2);
	d->tee_type = dcr_le32(buf + 4);
	d->qe_svn = dcr_le16(buf + 8);
	d->pce_svn = dcr_le16(buf + 10);
	memcpy(d->qe_vendor_id, buf + 12, 16);
	if (q->version != 4 && q->version != 5)
		return dcr_err_set(err, DCR_EATTEST, "TDX quote version %u is not supported (only 4 and 5)", q->version);
	if (d->att_key_type != ATT_KEY_ECDSA_P256)
		return dcr_err_set(err, DCR_EATTEST,
			"TDX quote attestation key type %u is not supported (only 2, ECDSA P-256)", d->att_key_type);
	if (d->tee_type != DCR_TDX_TEE_TYPE)
		return dcr_err_set(err, DCR_EATTEST, "TDX quote TEE type 0x%x is not TDX (0x81)", (unsigned)d->tee_type);
	q->body_type = BODY_TD10;
	if (q->version == 5) {
		q->body_type = dcr_le16(buf + HEADER_LEN);
		n = dcr_le32(buf + HEADER_LEN + 2);
		if (q->body_type != BODY_TD10 && q->body_type != BODY_TD15)
			return dcr_err_set(err, DCR_EATTEST, "TDX quote body type %u is not a TD report (2: TDX 1.0, 3: TDX 1.5)",
				q->body_type);
		body_len = q->body_type == BODY_TD15 ? DCR_TDX_REPORT15_LEN : DCR_TDX_REPORT10_LEN;
		if (n != body_len)
			return dcr_err_set(err, DCR_EATTEST, "TDX quote body size %u is not %zu, the size of body type %u",
				(unsigned)n, body_len, q->body_type);
		off += 6;
	}
	if (len - off < body_len + 4)
		return dcr_err_set(err, DCR_EATTEST, "TDX quote is truncated: %zu bytes", len);
	parse_td_report(buf + off, q->body_type == BODY_TD15, &q->td);
	d->signed_data = buf;
	d->signed_len = off + body_len;

	p = buf + d->signed_len;
	n = dcr_le32(p);
	p += 4;
	if (n != (size_t)(end - p))
		return dcr_err_set(err, DCR_EATTEST,
			"TDX quote signature data length %u does not match the %zu bytes that follow", (unsigned)n,
			(size_t)(end - p));
	if ((size_t)(end - p) < 128 + 6)
		return dcr_err_set(err, DCR_EATTEST, "TDX quote signature data is truncated");
	memcpy(d->signature, p, 64);
	memcpy(d->attest_key, p + 64, 64);
	p += 128;
	/* Version 4 and 5 wrap the QE's part in certification data of type 6. */
	if (dcr_le16(p) != CERT_QE_REPORT)
		return dcr_err_set(err, DCR_EATTEST,
			"TDX quote certification data type %u is not supported (only 6, QE report)", dcr_le16(p));
	n = dcr_le32(p + 2);
	p += 6;
	if (n != (size_t)(end - p))
		return dcr_err_set(err, DCR_EATTEST,
			"TDX quote QE report certification data size %u does not match the %zu bytes that remain",
			(unsigned)n, (size_t)(end - p));
	return dcr_dcap_parse_qe(p, end, d, "TDX quote", err);
}

int dcr_tdx_quote_canonical(const uint8_t *quote, size_t len, struct dcr_err *err)
{
	struct dcr_tdx_quote q;
	int r;

	if ((r = dcr_tdx_quote_parse(quote, len, &q, err)) < 0)
		return r;
	return dcr_dcap_quote_canonical(&q.dcap, "TDX quote", err);
}

int dcr_tdx_quote_normalize(const uint8_t *quote, size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err)
{
	struct dcr_tdx_quote q;
	int r;

	*out = NULL;
	if ((r = dcr_tdx_quote_parse(quote, len, &q, err)) < 0)
		return r;
	/* The QE report certification data's size: after the signature data length, signature and key, type. */
	return dcr_dcap_quote_normalize(quote, len, &q.dcap, q.dcap.signed_len + 4 + 128 + 2, "TDX quote", out, out_len,
		err);
}

int dcr_tdx_collateral_parse(const uint8_t *json, size_t len, struct dcr_sgx_collateral **out, struct dcr_err *err)
{
	return dcr_dcap_collateral_parse(DCR_DCAP_TDX, json, len, out, err);
}

int dcr_tdx_quote_pck_info(const uint8_t *quote, size_t len, uint8_t fmspc[static 6], char ca[static 16],
	struct dcr_err *err)
{
	struct dcr_tdx_quote q;
	int r;

	if ((r = dcr_tdx_quote_parse(quote, len, &q, err)) < 0)
		return r;
	return dcr_dcap_pck_info(&q.dcap, fmspc, ca, err);
}

int dcr_tdx_verify(const uint8_t *quote, size_t quote_len, const struct dcr_sgx_collateral *c,
	const uint8_t *root_der, size_t root_len, time_t now, struct dcr_tdx_result *out, struct dcr_err *err)
{
	struct dcr_dcap_tee tee;
	struct dcr_tdx_quote q;
	struct dcr_dcap_outcome o;
	int r;

	if ((r = dcr_tdx_quote_parse(quote, quote_len, &q, err)) < 0)
		return r;
	memcpy(tee.tee_tcb_svn, q.td.tee_tcb_svn, 16);
	memcpy(tee.mrsignerseam, q.td.mrsignerseam, 48);
	memcpy(tee.seam_attributes, q.td.seam_attributes, 8);
	if ((r = dcr_dcap_verify(&q.dcap, c, root_der, root_len, now, &tee, &o, err)) < 0)
		return r;
	if (out) {
		memset(out, 0, sizeof(*out));
		out->version = q.version;
		out->body_type = q.body_type;
		out->td = q.td;
		out->debug = q.td.td_attributes[0] & DCR_TDX_ATTR_DEBUG;
		out->tcb = o;
	}
	return 0;
}

int dcr_tdx_check_policy(const struct dcr_tdx_result *r, const struct dcr_spec *spec, struct dcr_err *err)
{
	char hex[2 * DCR_TDX_MR_LEN + 1];
	uint64_t attrs;

	if (spec->format != DCR_SPEC_TDX)
		return dcr_err_set(err, DCR_EATTEST, "spec '%s' is not for tdx evidence", spec->name);
	if (!dcr_ct_equal(r->td.mrtd, spec->mrtd, DCR_TDX_MR_LEN)) {
		dcr_hex(r->td.mrtd, DCR_TDX_MR_LEN, hex);
		return dcr_err_set(err, DCR_EATTEST, "MRTD %s is not the one spec '%s' pins", hex, spec->name);
	}
	for (int i = 0; i < 4; i++) {
		if (!(spec->rtmr_pinned & 1u << i) || dcr_ct_equal(r->td.rtmr[i], spec->rtmr[i], DCR_TDX_MR_LEN))
			continue;
		dcr_hex(r->td.rtmr[i], DCR_TDX_MR_LEN, hex);
		return dcr_err_set(err, DCR_EATTEST, "RTMR%d %s is not the one spec '%s' pins", i, hex, spec->name);
	}
	if (r->debug && !spec->debug_allowed)
		return dcr_err_set(err, DCR_EATTEST, "the TD runs in debug mode, which spec '%s' does not allow", spec->name);
	if ((attrs = dcr_le64(r->td.td_attributes)) & ~DCR_TDX_ATTR_KNOWN)
		return dcr_err_set(err, DCR_EATTEST, "TD_ATTRIBUTES 0x%016llx has bits dcr does not know (0x%016llx)",
			(unsigned long long)attrs, (unsigned long long)(attrs & ~DCR_TDX_ATTR_KNOWN));
	if (attrs & DCR_TDX_ATTR_MIGRATABLE)
		return dcr_err_set(err, DCR_EATTEST, "the TD is MIGRATABLE (TD_ATTRIBUTES bit 29): a migration TD no spec "
			"pins could export its memory");
	if (attrs & DCR_TDX_ATTR_PROFILING)
		return dcr_err_set(err, DCR_EATTEST, "the TD lets the host profile it (TD_ATTRIBUTES bits 4-6: 0x%016llx)",
			(unsigned long long)attrs);
	return dcr_dcap_check_tcb_status(r->tcb.tcb_status, spec, err);
}

int dcr_tdx_check_report_data(const struct dcr_tdx_result *r, const uint8_t expected[static DCR_TDX_REPORT_DATA_LEN],
	struct dcr_err *err)
{
	if (!dcr_ct_equal(r->td.report_data, expected, DCR_TDX_REPORT_DATA_LEN))
		return dcr_err_set(err, DCR_EATTEST, "REPORTDATA does not bind the expected enclave keys");
	return 0;
}
