/*
 * dcrd's tdx kind: in an Intel TDX trust domain, quotes through the
 * kernel's configfs-tsm checked against the TDX module's own report
 * (/dev/tdx_guest), a sealing key from a root released to this
 * measurement, TDX collateral from a PCCS (docs/tdx.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "kind-dcap.h"
#include "pcs.h"
#include "tdx.h"
#include "tsm.h"

#include "banned.h"

#define TSM_PROVIDER "tdx_guest"
#define TDX_SEALING_INFO "dcr-tdx-sealing-key-v1"
#define SEALING_ROOT_LEN 32

/* linux/tdx-guest.h (Linux 6.2), which older distributions' headers lack: TDG.MR.REPORT through the guest kernel. */
struct tdx_report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[1024];
};
#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)

/* TDREPORT_STRUCT (TDX module ABI): REPORTMACSTRUCT, REPORTDATA at 128; TDINFO_STRUCT at 512. */
#define TDREPORT_REPORTDATA 128
#define TDINFO_ATTRIBUTES 512
#define TDINFO_XFAM 520
#define TDINFO_MRTD 528
#define TDINFO_MRCONFIGID 576
#define TDINFO_MROWNER 624
#define TDINFO_MROWNERCONFIG 672
#define TDINFO_RTMR0 720

/* What dcrd asks for when it only wants its own measurements: no keys of its own yet. */
static const uint8_t self_report_data[DCR_TSM_INBLOB_LEN] = "dcr-tdx-self-report-v1";

/* A quote for rd through configfs-tsm: *quote (free()) and its parse q, for exactly rd. */
static int tdx_report(const struct enclave_options *opt, const uint8_t rd[static DCR_TSM_INBLOB_LEN], uint8_t **quote,
	size_t *len, struct dcr_tdx_quote *q, struct dcr_err *err)
{
	struct dcr_tsm_blobs b;
	int r;

	if ((r = dcr_tsm_report(opt->tsm_dir, TSM_PROVIDER, rd, DCR_TDX_QUOTE_MAX, 0, &b, err)) < 0)
		return r;
	*quote = b.out;
	*len = b.out_len;
	if ((r = dcr_tdx_quote_parse(*quote, *len, q, err)) < 0)
		dcr_err_prefix(err, "the quote from configfs-tsm");
	else if (!dcr_ct_equal(q->td.report_data, rd, DCR_TSM_INBLOB_LEN))
		r = dcr_err_set(err, DCR_EATTEST, "the quote from configfs-tsm is not for the report data dcrd wrote");
	if (r < 0) {
		free(*quote);
		*quote = NULL;
	}
	return r;
}

/*
 * This TD's own report from the TDX module (TDG.MR.REPORT through the
 * guest kernel's --tdx-device): its TD_ATTRIBUTES, XFAM, MRTD,
 * MRCONFIGID, MROWNER, MROWNERCONFIG and RTMR0-3 into *td (the other
 * fields zero). Unlike the quote from configfs-tsm, which the host's
 * quoting service hands back, nothing the host does can change them.
 */
static int tdx_own_report(const struct enclave_options *opt, const uint8_t rd[static DCR_TSM_INBLOB_LEN],
	struct dcr_tdx_report *td, struct dcr_err *err)
{
	struct tdx_report_req req;
	int fd, r;

	memset(td, 0, sizeof(*td));
	if ((fd = open(opt->tdx_device, O_RDWR | O_CLOEXEC)) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot open the TDX guest device '%s'", opt->tdx_device);
	memset(&req, 0, sizeof(req));
	memcpy(req.reportdata, rd, sizeof(req.reportdata));
	do
		r = ioctl(fd, TDX_CMD_GET_REPORT0, &req);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		r = dcr_err_errno(err, DCR_EFAIL, errno, "TDX_CMD_GET_REPORT0 on '%s' failed", opt->tdx_device);
	else if (!dcr_ct_equal(req.tdreport + TDREPORT_REPORTDATA, rd, DCR_TSM_INBLOB_LEN))
		r = dcr_err_set(err, DCR_EATTEST, "the TDREPORT from '%s' is not for the report data dcrd gave",
			opt->tdx_device);
	close(fd);
	if (r < 0)
		return r;
	memcpy(td->td_attributes, req.tdreport + TDINFO_ATTRIBUTES, 8);
	memcpy(td->xfam, req.tdreport + TDINFO_XFAM, 8);
	memcpy(td->mrtd, req.tdreport + TDINFO_MRTD, DCR_TDX_MR_LEN);
	memcpy(td->mrconfigid, req.tdreport + TDINFO_MRCONFIGID, DCR_TDX_MR_LEN);
	memcpy(td->mrowner, req.tdreport + TDINFO_MROWNER, DCR_TDX_MR_LEN);
	memcpy(td->mrownerconfig, req.tdreport + TDINFO_MROWNERCONFIG, DCR_TDX_MR_LEN);
	for (int i = 0; i < 4; i++)
		memcpy(td->rtmr[i], req.tdreport + TDINFO_RTMR0 + DCR_TDX_MR_LEN * i, DCR_TDX_MR_LEN);
	memcpy(td->report_data, rd, DCR_TSM_INBLOB_LEN);
	return 0;
}

/* Whether the quote's TD report describes this TD (own, from the TDX module); DCR_EATTEST naming a field if not. */
static int same_td(const struct dcr_tdx_report *quoted, const struct dcr_tdx_report *own, struct dcr_err *err)
{
	static const struct {
		const char *name;
		size_t off, len;
	} fields[] = {
		{ "TD_ATTRIBUTES", offsetof(struct dcr_tdx_report, td_attributes), 8 },
		{ "XFAM", offsetof(struct dcr_tdx_report, xfam), 8 },
		{ "MRTD", offsetof(struct dcr_tdx_report, mrtd), DCR_TDX_MR_LEN },
		{ "MRCONFIGID", offsetof(struct dcr_tdx_report, mrconfigid), DCR_TDX_MR_LEN },
		{ "MROWNER", offsetof(struct dcr_tdx_report, mrowner), DCR_TDX_MR_LEN },
		{ "MROWNERCONFIG", offsetof(struct dcr_tdx_report, mrownerconfig), DCR_TDX_MR_LEN },
		{ "RTMR0-3", offsetof(struct dcr_tdx_report, rtmr), 4 * DCR_TDX_MR_LEN },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (memcmp((const uint8_t *)quoted + fields[i].off, (const uint8_t *)own + fields[i].off, fields[i].len))
			return dcr_err_set(err, DCR_EATTEST, "the quote from configfs-tsm is not of this TD: its %s is not "
				"the one the TDX module reports", fields[i].name);
	return 0;
}

/*
 * HKDF-SHA256 of the sealing root (released by a key broker to this
 * measurement only), with this TD's MRTD and RTMR0-2 in the info: the
 * host never sees the root, and another image derives another key.
 */
static int tdx_sealing_key(struct enclave *e, struct dcr_err *err)
{
	uint8_t info[sizeof(TDX_SEALING_INFO) - 1 + 4 * DCR_TDX_MR_LEN], *root = NULL;
	size_t root_len = 0, o = sizeof(TDX_SEALING_INFO) - 1;
	struct dcr_tdx_report td;
	int r;

	if (!e->opt.sealing_root)
		return dcr_err_set(err, DCR_EUSAGE, "--attestation tdx needs --tdx-sealing-key FILE: the sealing root a "
			"key broker released to this TD (see docs/tdx.md)");
	if ((r = dcr_read_key_file(e->opt.sealing_root, SEALING_ROOT_LEN, &root, &root_len, err)) < 0)
		return dcr_err_prefix(err, "the TDX sealing root (--tdx-sealing-key)");
	if (root_len != SEALING_ROOT_LEN) {
		r = dcr_err_set(err, DCR_EINVALID, "the TDX sealing root '%s' has %zu bytes, not %d", e->opt.sealing_root,
			root_len, SEALING_ROOT_LEN);
		goto out;
	}
	if ((r = tdx_own_report(&e->opt, self_report_data, &td, err)) < 0)
		goto out;
	memcpy(info, TDX_SEALING_INFO, o);
	memcpy(info + o, td.mrtd, DCR_TDX_MR_LEN);
	for (int i = 0; i < 3; i++)
		memcpy(info + o + DCR_TDX_MR_LEN * (size_t)(i + 1), td.rtmr[i], DCR_TDX_MR_LEN);
	r = kind_sealing_key(e, root, root_len, info, sizeof(info), err);
out:
	if (root) {
		dcr_wipe(root, root_len);
		free(root);
	}
	return r;
}

static const struct dcap_collateral tdx_collateral = {
	.title = "TDX",
	.cache_file = "tdx-collateral.json",
	.parse = dcr_tdx_collateral_parse,
	.fetch = dcr_pcs_fetch_tdx,
	.evidence = dcr_attest_tdx_evidence,
};

/* The quote for our keys through configfs-tsm, checked against the TDX module's own report; then collateral. */
static int tdx_open(struct enclave *e, struct dcr_err *err)
{
	uint8_t rd[DCR_REPORT_DATA_LEN];
	struct dcr_tdx_report own;
	struct dcr_tdx_quote q;
	int r;

	if ((r = dcr_attest_report_data(e->pub.hpke_pk, e->pub.sign_pk, e->pub.ohttp_key_config,
		     e->pub.ohttp_key_config_len, rd, err)) < 0 ||
	    (r = tdx_report(&e->opt, rd, &e->quote, &e->quote_len, &q, err)) < 0 ||
	    (r = tdx_own_report(&e->opt, rd, &own, err)) < 0 || (r = same_td(&q.td, &own, err)) < 0)
		return r;
	e->tdx = q.td;
	if ((r = dcr_sha256(q.td.mrtd, DCR_TDX_MR_LEN, e->measurement, err)) < 0)
		return r;
	return dcap_collateral_open(&tdx_collateral, e, err);
}

static void tdx_refresh(struct enclave *e)
{
	dcap_collateral_refresh(&tdx_collateral, e);
}

/* MRTD and each RTMR the spec pins; debug only if allowed. The TCB status is for clients to judge. */
static int tdx_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err)
{
	if (!dcr_ct_equal(spec->mrtd, e->tdx.mrtd, DCR_TDX_MR_LEN))
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' pins another MRTD than this TD's", spec->name);
	for (int i = 0; i < 4; i++)
		if ((spec->rtmr_pinned & 1u << i) && !dcr_ct_equal(spec->rtmr[i], e->tdx.rtmr[i], DCR_TDX_MR_LEN))
			return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' pins another RTMR%d than this TD's",
				spec->name, i);
	if ((e->tdx.td_attributes[0] & DCR_TDX_ATTR_DEBUG) && !spec->debug_allowed)
		return dcr_err_set(err, DCR_EINTEGRITY, "this dcrd runs in a debug TD, which enclave spec '%s' refuses",
			spec->name);
	return 0;
}

static void tdx_describe(const struct enclave *e, char *buf, size_t size)
{
	snprintf(buf, size, "tdx%s", e->tdx.td_attributes[0] & DCR_TDX_ATTR_DEBUG ? ": DEBUG TD, NO protection" : "");
}

/*
 * `dcrd spec`: MRTD and RTMR0-2 of the TDX module's report of this TD
 * (RTMR3 is the guest's to extend at run time, so not pinned); debug
 * only for a debug TD, loudly.
 */
static int tdx_spec(const struct enclave_options *opt, FILE *out, struct dcr_err *err)
{
	char hex[2 * DCR_TDX_MR_LEN + 1];
	struct dcr_tdx_report td;
	bool debug;
	int r;

	if ((r = tdx_own_report(opt, self_report_data, &td, err)) < 0)
		return r;
	debug = td.td_attributes[0] & DCR_TDX_ATTR_DEBUG;
	fprintf(out, "# Trusted spec for dcrd %s in this Intel TDX trust domain, from its TDREPORT.\n"
		     "# Add 'root_ca: FILE' to the entry: the Intel SGX Root CA you checked against\n"
		     "# Intel's fingerprint (docs/tdx.md). RTMR3 is not pinned: the guest extends it.\n%s"
		     "version: 1\n"
		     "specs:\n"
		     "  dcrd:tdx:\n"
		     "    format: tdx\n", DCR_VERSION, debug ? "# WARNING: this is a DEBUG TD: the host can read and change it. Pin it only\n"
							    "# for development and tests.\n" : "");
	dcr_hex(td.mrtd, DCR_TDX_MR_LEN, hex);
	fprintf(out, "    mrtd: %s\n", hex);
	for (int i = 0; i < 3; i++) {
		dcr_hex(td.rtmr[i], DCR_TDX_MR_LEN, hex);
		fprintf(out, "    rtmr%d: %s\n", i, hex);
	}
	if (debug)
		fprintf(out, "    debug: true\n");
	return 0;
}

static const char *const tdx_options[] = { "tsm-dir", "tdx-sealing-key", "tdx-device", "pccs-url", "pccs-ca",
	"sgx-root-crl", NULL };

const struct dcrd_kind dcrd_kind_tdx = {
	.lib = &dcr_attest_kind_tdx,
	/* The whole guest is in the TEE: its namespaces, seccomp and cgroups are the TD's own. */
	.sandbox_refused = NULL,
	.python_refused = NULL,
	.options = tdx_options,
	.sealing_key = tdx_sealing_key,
	.unseal_hint = " (under TDX the sealing key changes with the sealing root and the TD's MRTD and RTMR0-2)",
	.open = tdx_open,
	.refresh = tdx_refresh,
	.matches_spec = tdx_matches_spec,
	.describe = tdx_describe,
	.spec = tdx_spec,
};
