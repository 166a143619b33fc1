/* dcrd on an AMD SEV-SNP guest: reports through configfs-tsm or /dev/sev-guest, the derived sealing key, AMD's KDS. */
#include "snp-guest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sev-guest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "pki.h"
#include "transport.h"
#include "tsm.h"
#include "util.h"

#include "banned.h"

#define TSM_PROVIDER "sev_guest"
#define KDS_TIMEOUT 30                /* seconds per KDS request */
#define CERT_MAX (16 * 1024)          /* a VCEK is about 1.4 KiB, a cert_chain about 4.5 KiB */
#define EXT_CERTS_MAX (4 * 4096)      /* the certificate buffer of SNP_GET_EXT_REPORT: the kernel's SEV_FW_BLOB_MAX_SIZE */
#define CRL_MAX (64 * 1024)           /* AMD's CRLs are about 1 KiB */

/* Derived-key request fields (SEV-SNP ABI, MSG_KEY_REQ GUEST_FIELD_SELECT). */
#define FIELD_POLICY (1u << 0)
#define FIELD_MEASUREMENT (1u << 3)
#define FIELD_TCB_VERSION (1u << 5)

/* MSG_REPORT_RSP and MSG_KEY_RSP: a status, then the payload at byte 32. */
#define RSP_PAYLOAD 32

/* Through configfs-tsm (lib/tsm.c): the report and the host's certificate table, if any. */
static int tsm_report(const char *tsm_dir, const uint8_t rd[static 64], uint8_t report[static DCR_SNP_REPORT_LEN],
	uint8_t **aux, size_t *aux_len, struct dcr_err *err)
{
	struct dcr_tsm_blobs b;
	int r;

	if ((r = dcr_tsm_report(tsm_dir, TSM_PROVIDER, rd, DCR_SNP_REPORT_LEN, DCR_SNP_CERTS_MAX, &b, err)) < 0)
		return r;
	if (b.out_len != DCR_SNP_REPORT_LEN) {
		r = dcr_err_set(err, DCR_EATTEST, "configfs-tsm gave a %zu-byte outblob, not a %d-byte report", b.out_len,
			DCR_SNP_REPORT_LEN);
		dcr_tsm_blobs_free(&b);
		return r;
	}
	memcpy(report, b.out, DCR_SNP_REPORT_LEN);
	free(b.out);
	*aux = b.aux;
	*aux_len = b.aux_len;
	return 0;
}

static int guest_request(int fd, unsigned long op, void *req, void *resp, struct snp_guest_request_ioctl *g)
{
	int r;

	memset(g, 0, sizeof(*g));
	g->msg_version = 1;
	g->req_data = (uint64_t)(uintptr_t)req;
	g->resp_data = (uint64_t)(uintptr_t)resp;
	do
		r = ioctl(fd, op, g);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * Through the guest device: SNP_GET_EXT_REPORT with a buffer of
 * EXT_CERTS_MAX for the host's certificate table (the guest driver
 * refuses more, and a table that does not fit is an error: it says how
 * much the host wanted).
 */
static int device_report(const char *device, const uint8_t rd[static 64], uint8_t report[static DCR_SNP_REPORT_LEN],
	uint8_t **aux, size_t *aux_len, struct dcr_err *err)
{
	struct snp_ext_report_req req;
	struct snp_report_resp resp;
	struct snp_guest_request_ioctl g;
	int fd, r = 0;

	*aux_len = 0;
	if ((fd = open(device, O_RDWR | O_CLOEXEC)) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot open the SEV-SNP guest device '%s'", device);
	if (!(*aux = calloc(1, EXT_CERTS_MAX))) {
		close(fd);
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	}
	memset(&req, 0, sizeof(req));
	memcpy(req.data.user_data, rd, 64);
	req.certs_address = (uint64_t)(uintptr_t)*aux;
	req.certs_len = EXT_CERTS_MAX;
	memset(&resp, 0, sizeof(resp));
	if (guest_request(fd, SNP_GET_EXT_REPORT, &req, &resp, &g) < 0) {
		if (g.vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN)
			r = dcr_err_set(err, DCR_EFAIL, "SNP_GET_EXT_REPORT on '%s': the host's certificate table needs %u "
				"bytes, more than the %d the guest driver takes", device, (unsigned)req.certs_len, EXT_CERTS_MAX);
		else
			r = dcr_err_set(err, DCR_EFAIL, "SNP_GET_EXT_REPORT on '%s' failed: %s (firmware error 0x%x, VMM "
				"error 0x%x)", device, strerror(errno), (unsigned)g.fw_error, (unsigned)g.vmm_error);
	} else if (dcr_le32(resp.data) != 0 || dcr_le32(resp.data + 4) != DCR_SNP_REPORT_LEN) {
		r = dcr_err_set(err, DCR_EATTEST, "SEV-SNP firmware answered status 0x%x with a %u-byte report",
			(unsigned)dcr_le32(resp.data), (unsigned)dcr_le32(resp.data + 4));
	} else {
		memcpy(report, resp.data + RSP_PAYLOAD, DCR_SNP_REPORT_LEN);
		*aux_len = EXT_CERTS_MAX;
	}
	close(fd);
	if (r < 0) {
		free(*aux);
		*aux = NULL;
	}
	return r;
}

int snp_guest_report(const char *tsm_dir, const char *device, const uint8_t rd[static 64],
	uint8_t report[static DCR_SNP_REPORT_LEN], uint8_t **aux, size_t *aux_len, struct dcr_err *err)
{
	struct dcr_snp_report rep;
	struct stat st;
	int r;

	*aux = NULL;
	*aux_len = 0;
	if (tsm_dir && stat(tsm_dir, &st) == 0 && S_ISDIR(st.st_mode))
		r = tsm_report(tsm_dir, rd, report, aux, aux_len, err);
	else
		r = device_report(device, rd, report, aux, aux_len, err);
	if (r == 0 && (r = dcr_snp_report_parse(report, DCR_SNP_REPORT_LEN, &rep, err)) < 0)
		dcr_err_prefix(err, "the report from the guest");
	else if (r == 0 && !dcr_ct_equal(rep.report_data, rd, 64))
		r = dcr_err_set(err, DCR_EATTEST, "the report from the guest is not for the report data dcrd gave");
	if (r < 0) {
		free(*aux);
		*aux = NULL;
		*aux_len = 0;
	}
	return r;
}

int snp_guest_derived_key(const char *device, uint64_t tcb_version, uint8_t key[static 32], struct dcr_err *err)
{
	struct snp_derived_key_req req;
	struct snp_derived_key_resp resp;
	struct snp_guest_request_ioctl g;
	int fd, r = 0;

	if ((fd = open(device, O_RDWR | O_CLOEXEC)) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot open the SEV-SNP guest device '%s'", device);
	memset(&req, 0, sizeof(req));
	req.root_key_select = 0; /* the VCEK: this chip's, not a migration agent's VMRK */
	req.guest_field_select = FIELD_POLICY | FIELD_MEASUREMENT | FIELD_TCB_VERSION;
	req.tcb_version = tcb_version;
	memset(&resp, 0, sizeof(resp));
	if (guest_request(fd, SNP_GET_DERIVED_KEY, &req, &resp, &g) < 0)
		r = dcr_err_set(err, DCR_EFAIL, "SNP_GET_DERIVED_KEY on '%s' failed: %s (firmware error 0x%x, VMM error "
			"0x%x)", device, strerror(errno), (unsigned)g.fw_error, (unsigned)g.vmm_error);
	else if (dcr_le32(resp.data) != 0)
		r = dcr_err_set(err, DCR_EFAIL, "SEV-SNP firmware refused the derived key: status 0x%x",
			(unsigned)dcr_le32(resp.data));
	else
		memcpy(key, resp.data + RSP_PAYLOAD, 32);
	close(fd);
	dcr_wipe(&resp, sizeof(resp));
	return r;
}

/* A cached file in dir, or fetched from url and cached; *out: free(). */
static int cached_fetch(const char *dir, const char *name, const char *url, uint8_t **out, size_t *len,
	struct dcr_err *err)
{
	char path[4096];
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return dcr_err_set(err, DCR_EFAIL, "data directory path too long");
	if ((r = dcr_read_file(path, CERT_MAX, out, len, err)) != DCR_ENOTFOUND)
		return r;
	if ((r = dcr_http_get(url, NULL, KDS_TIMEOUT, CERT_MAX, NULL, 0, out, len, err)) < 0)
		return dcr_err_prefix(err, "AMD KDS");
	if ((r = dcr_write_atomic(path, *out, *len, err)) < 0) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/* DER certificate der as PEM appended to b; DCR_EATTEST naming what when it is not one. */
static int put_pem(BIO *b, const uint8_t *der, size_t len, const char *what, struct dcr_err *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int ok = x && p == der + len && PEM_write_bio_X509(b, x) == 1;

	X509_free(x);
	ERR_clear_error();
	return ok ? 0 : dcr_err_set(err, DCR_EATTEST, "the %s is not a DER certificate", what);
}

/* A DER CRL, whole, and its nextUpdate; NULL when it is not one or has none. */
static X509_CRL *crl_parse(const uint8_t *der, size_t len, time_t *next)
{
	const unsigned char *p = der;
	X509_CRL *crl = len <= CRL_MAX ? d2i_X509_CRL(NULL, &p, (long)len) : NULL;

	if (crl && (p != der + len || dcr_pki_asn1_time(X509_CRL_get0_nextUpdate(crl), next) < 0)) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	ERR_clear_error();
	return crl;
}

/* What BIO b holds, in a new buffer (free()). */
static int bio_take(BIO *b, uint8_t **out, size_t *len, struct dcr_err *err)
{
	const char *data;
	long n = BIO_get_mem_data(b, &data);

	if (n <= 0 || !(*out = malloc((size_t)n)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(*out, data, (size_t)n);
	*len = (size_t)n;
	return 0;
}

int snp_guest_crl(const char *kds_url, const char *cache_dir, enum dcr_snp_product product, bool vlek, uint8_t **pem,
	size_t *pem_len, time_t *next_update, struct dcr_err *err)
{
	const char *pname = dcr_snp_product_name(product);
	char path[4096], url[1024];
	uint8_t *buf = NULL;
	size_t len = 0;
	time_t now = time(NULL), next = 0, cached_next = 0;
	X509_CRL *cached = NULL, *crl = NULL;
	BIO *b = NULL;
	int r;

	*pem = NULL;
	if (snprintf(path, sizeof(path), "%s/snp-crl-%s-%s.der", cache_dir, vlek ? "vlek" : "vcek", pname) >=
	    (int)sizeof(path))
		return dcr_err_set(err, DCR_EFAIL, "data directory path too long");
	if ((r = dcr_read_file(path, CRL_MAX, &buf, &len, err)) < 0 && r != DCR_ENOTFOUND)
		return r;
	if (r == 0 && (cached = crl_parse(buf, len, &cached_next)) && cached_next - SNP_CRL_MARGIN > now) {
		crl = cached;
		cached = NULL;
		next = cached_next;
	}
	free(buf);
	buf = NULL;
	if (!crl) {
		snprintf(url, sizeof(url), "%s/%s/v1/%s/crl", kds_url, vlek ? "vlek" : "vcek", pname);
		r = dcr_http_get(url, NULL, KDS_TIMEOUT, CRL_MAX, NULL, 0, &buf, &len, err);
		if (r == 0 && (!(crl = crl_parse(buf, len, &next)) || next <= now))
			r = dcr_err_set(err, DCR_EATTEST, "the CRL from %s is not a current DER CRL", url);
		else if (r < 0)
			dcr_err_prefix(err, "AMD KDS");
		else if (cached && next < cached_next)
			r = dcr_err_set(err, DCR_EATTEST, "the CRL from %s is older than the cached one", url);
		if (r == 0)
			r = dcr_write_atomic(path, buf, len, err);
		if (r < 0 && cached && cached_next > now) {
			fprintf(stderr, "dcrd: cannot renew AMD's CRL, serving the cached one: %s\n", err->msg);
			X509_CRL_free(crl);
			crl = cached;
			cached = NULL;
			next = cached_next;
			r = 0;
		}
		free(buf);
	}
	if (r == 0 && (!(b = BIO_new(BIO_s_mem())) || PEM_write_bio_X509_CRL(b, crl) != 1))
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (r == 0 && (r = bio_take(b, pem, pem_len, err)) == 0)
		*next_update = next;
	if (r < 0)
		dcr_err_prefix(err, "AMD's CRL");
	BIO_free(b);
	X509_CRL_free(crl);
	X509_CRL_free(cached);
	ERR_clear_error();
	return r;
}

int snp_guest_certs(const char *kds_url, const char *cache_dir, const struct dcr_snp_report *rep,
	enum dcr_snp_product product, const uint8_t *aux, size_t aux_len, uint8_t **pem, size_t *pem_len,
	struct dcr_err *err)
{
	struct dcr_snp_certs certs = { 0 };
	struct dcr_snp_tcb t;
	const char *pname = dcr_snp_product_name(product);
	bool vlek = rep->signing_key == 1, turin = product == DCR_SNP_TURIN;
	uint8_t *vcek = NULL, *chain = NULL;
	size_t vcek_len = 0, chain_len = 0;
	char hwid[129], name[128], url[1024];
	BIO *b = BIO_new(BIO_s_mem()), *cb = NULL;
	X509 *ask = NULL;
	int r;

	*pem = NULL;
	if (!b)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	if (aux && (r = dcr_snp_certs_table(aux, aux_len, &certs, err)) < 0) {
		dcr_err_prefix(err, "the host's certificates");
		goto out;
	}
	if (vlek ? certs.vlek.der && certs.ask.der : certs.vcek.der && certs.ask.der) {
		/* The host gave both: a VLEK's chain can come from nowhere else. */
		const struct dcr_snp_cert *leaf = vlek ? &certs.vlek : &certs.vcek;

		if ((r = put_pem(b, leaf->der, leaf->len, vlek ? "host's VLEK" : "host's VCEK", err)) < 0 ||
		    (r = put_pem(b, certs.ask.der, certs.ask.len, "host's ASK", err)) < 0)
			goto out;
	} else if (vlek) {
		r = dcr_err_set(err, DCR_EATTEST, "the report is signed by a VLEK, and the host gave no VLEK and ASVK with it");
		goto out;
	} else {
		/* From the KDS, by chip and TCB: the VCEK of this very report. */
		dcr_snp_tcb_decode(rep->reported_tcb, product, &t);
		dcr_hex(rep->chip_id, turin ? 8 : 64, hwid);
		snprintf(name, sizeof(name), "snp-vcek-%.16s-%016" PRIx64 ".der", hwid, rep->reported_tcb);
		if (turin)
			snprintf(url, sizeof(url), "%s/vcek/v1/%s/%s?fmcSPL=%u&blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u",
				kds_url, pname, hwid, t.fmc, t.bootloader, t.tee, t.snp, t.microcode);
		else
			snprintf(url, sizeof(url), "%s/vcek/v1/%s/%s?blSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", kds_url, pname,
				hwid, t.bootloader, t.tee, t.snp, t.microcode);
		if (rep->chip_id_masked) {
			r = dcr_err_set(err, DCR_EATTEST, "the guest masks its chip ID, so its VCEK cannot be fetched: the host "
				"must give it");
			goto out;
		}
		if ((r = cached_fetch(cache_dir, name, url, &vcek, &vcek_len, err)) < 0 ||
		    (r = put_pem(b, vcek, vcek_len, "VCEK from AMD's KDS", err)) < 0)
			goto out;
		snprintf(name, sizeof(name), "snp-ask-%s.pem", pname);
		snprintf(url, sizeof(url), "%s/vcek/v1/%s/cert_chain", kds_url, pname);
		if ((r = cached_fetch(cache_dir, name, url, &chain, &chain_len, err)) < 0)
			goto out;
		/* cert_chain: the ASK, then the ARK; the evidence carries the ASK only. */
		if (!(cb = BIO_new_mem_buf(chain, (int)chain_len)) || !(ask = PEM_read_bio_X509(cb, NULL, NULL, NULL)) ||
		    PEM_write_bio_X509(b, ask) != 1) {
			ERR_clear_error();
			r = dcr_err_set(err, DCR_EATTEST, "AMD KDS cert_chain for %s has no certificate", pname);
			goto out;
		}
	}
	r = bio_take(b, pem, pem_len, err);
out:
	X509_free(ask);
	BIO_free(cb);
	BIO_free(b);
	free(vcek);
	free(chain);
	return r;
}
