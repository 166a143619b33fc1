/* dcrd's sev-snp kind: reports and the derived sealing key from the guest, the VCEK chain from the host or KDS. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "snp-guest.h"

#include "banned.h"

#define SEALING_TCB_FILE "snp-sealing-tcb"
#define CRL_RETRY 300 /* at most one failed attempt to renew AMD's CRL per five minutes */

/* A report over 64 zero bytes, when dcrd only wants to know what it is. */
static int self_report(const struct enclave_options *opt, struct dcr_snp_report *rep, struct dcr_err *err)
{
	static const uint8_t zero[64];
	uint8_t report[DCR_SNP_REPORT_LEN], *aux = NULL;
	size_t aux_len = 0;
	int r;

	if ((r = snp_guest_report(opt->tsm_dir, opt->snp_device, zero, report, &aux, &aux_len, err)) < 0)
		return r;
	free(aux);
	return dcr_snp_report_parse(report, sizeof(report), rep, err);
}

/* The processor: from a version 3 report's CPUID, else --snp-product; 0 if neither says. */
static enum dcr_snp_product product_of(const struct dcr_snp_report *rep, const struct enclave_options *opt)
{
	return rep->version >= 3 ? dcr_snp_product_of_cpuid(rep->cpuid_fam_id, rep->cpuid_mod_id)
				 : (enum dcr_snp_product)opt->snp_product;
}

/*
 * The TCB the sealing key is derived for: the guest's COMMITTED_TCB at the
 * first start, kept in the data directory (docs/sev-snp.md, Sealing key).
 * Before the first start has sealed anything (no enclave keys yet), a file
 * already there is the host's, not dcrd's: it is replaced, or a host could
 * have everything sealed under TCB 0, which any old firmware derives.
 */
static int sealing_tcb(struct enclave *e, uint64_t *tcb, struct dcr_err *err)
{
	uint8_t *buf = NULL;
	struct dcr_snp_report rep;
	char path[4096], keys[4096], text[18];
	size_t len = 0;
	struct stat st;
	int r;

	if ((r = data_path(path, sizeof(path), e->data_dir, SEALING_TCB_FILE, err)) < 0 ||
	    (r = data_path(keys, sizeof(keys), e->data_dir, ENCLAVE_KEYS_FILE, err)) < 0)
		return r;
	if (lstat(keys, &st) == 0)
		r = dcr_read_file(path, 32, &buf, &len, err);
	else if (errno == ENOENT)
		r = DCR_ENOTFOUND;
	else
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot stat '%s'", keys);
	if (r == 0) {
		bool hex = len == 17 && buf[16] == '\n';

		for (size_t i = 0; hex && i < 16; i++)
			hex = dcr_hex_digit(buf[i]) >= 0;
		*tcb = hex ? strtoull((char *)buf, NULL, 16) : 0;
		free(buf);
		return hex ? 0 : dcr_err_set(err, DCR_EINVALID, "'%s' is not 16 hex digits and a line feed", path);
	}
	if (r != DCR_ENOTFOUND)
		return r;
	if ((r = self_report(&e->opt, &rep, err)) < 0)
		return r;
	*tcb = rep.committed_tcb;
	snprintf(text, sizeof(text), "%016" PRIx64 "\n", *tcb);
	return dcr_write_atomic(path, text, 17, err);
}

/* HKDF of the firmware's derived key: bound to this chip, the launch measurement and policy, and the sealing TCB. */
static int snp_sealing_key(struct enclave *e, struct dcr_err *err)
{
	uint8_t key[32];
	uint64_t tcb;
	int r;

	if ((r = sealing_tcb(e, &tcb, err)) < 0 || (r = snp_guest_derived_key(e->opt.snp_device, tcb, key, err)) < 0)
		return r;
	r = kind_sealing_key(e, key, sizeof(key), (const uint8_t *)KIND_SEALING_INFO, sizeof(KIND_SEALING_INFO) - 1,
		err);
	dcr_wipe(key, sizeof(key));
	return r;
}

/*
 * New evidence: the report and its certificates (e->quote) with AMD's CRL
 * crl, for the enclave's keys. Reads only what is fixed after start.
 */
static int evidence_with(const struct enclave *e, const uint8_t *crl, size_t crl_len, uint8_t **ev, size_t *ev_len,
	struct dcr_err *err)
{
	size_t certs_len = e->quote_len - DCR_SNP_REPORT_LEN;
	uint8_t *chain = malloc(certs_len + crl_len);
	int r;

	if (!chain)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	memcpy(chain, e->quote + DCR_SNP_REPORT_LEN, certs_len);
	memcpy(chain + certs_len, crl, crl_len);
	r = dcr_attest_snp_evidence(e->quote, chain, certs_len + crl_len, &e->pub, ev, ev_len, err);
	free(chain);
	return r;
}

/* The report for our keys, and the chain that verifies it. */
static int snp_open(struct enclave *e, struct dcr_err *err)
{
	uint8_t rd[DCR_REPORT_DATA_LEN], report[DCR_SNP_REPORT_LEN], *aux = NULL, *certs = NULL, *crl = NULL;
	size_t aux_len = 0, certs_len = 0, crl_len = 0;
	enum dcr_snp_product product;
	struct dcr_snp_report rep;
	time_t next = 0;
	int r;

	if ((r = dcr_attest_report_data(e->pub.hpke_pk, e->pub.sign_pk, e->pub.ohttp_key_config,
		     e->pub.ohttp_key_config_len, rd, err)) < 0 ||
	    (r = snp_guest_report(e->opt.tsm_dir, e->opt.snp_device, rd, report, &aux, &aux_len, err)) < 0 ||
	    (r = dcr_snp_report_parse(report, sizeof(report), &rep, err)) < 0)
		goto out;
	if (!(product = product_of(&rep, &e->opt))) {
		r = dcr_err_set(err, DCR_EFAIL, rep.version >= 3 ? "the report's CPUID (family 0x%02x model 0x%02x) is not a "
			"Milan, Genoa or Turin processor" : "a version 2 report does not name the processor (%u, %u): give "
			"--snp-product", rep.cpuid_fam_id, rep.cpuid_mod_id);
		goto out;
	}
	e->snp.report = rep;
	e->snp.product = product;
	if ((r = snp_guest_certs(e->opt.kds_url, e->data_dir, &rep, product, aux, aux_len, &certs, &certs_len, err)) < 0 ||
	    (r = snp_guest_crl(e->opt.kds_url, e->data_dir, product, rep.signing_key == 1, &crl, &crl_len, &next,
		     err)) < 0) {
		dcr_err_prefix(err, "cannot obtain the VCEK chain");
		goto out;
	}
	/* Kept for snp_refresh: the report, then its certificates; the CRL is what is renewed. */
	if (!(e->quote = malloc(DCR_SNP_REPORT_LEN + certs_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(e->quote, report, DCR_SNP_REPORT_LEN);
	memcpy(e->quote + DCR_SNP_REPORT_LEN, certs, certs_len);
	e->quote_len = DCR_SNP_REPORT_LEN + certs_len;
	if ((r = evidence_with(e, crl, crl_len, &e->evidence, &e->evidence_len, err)) < 0)
		goto out;
	e->collateral_fetched = e->last_fetch_attempt = time(NULL);
	e->collateral_next_update = next;
out:
	free(aux);
	free(certs);
	free(crl);
	return r;
}

static bool crl_due(const struct enclave *e, time_t now)
{
	return now >= e->collateral_next_update - SNP_CRL_MARGIN;
}

/*
 * AMD's CRL, renewed from SNP_CRL_MARGIN before its nextUpdate: fetched
 * without the lock (at most one thread, at most one failed attempt per
 * CRL_RETRY), the new evidence swapped in under it. A CRL that revokes
 * this platform's ASK is served like any other: the clients refuse it.
 */
static void snp_refresh(struct enclave *e)
{
	time_t now = time(NULL), next = 0;
	struct dcr_err crl_err;
	uint8_t *crl = NULL, *ev = NULL;
	size_t crl_len = 0, ev_len = 0;
	int r;

	if (!kind_renew_begin(e, crl_due, now, CRL_RETRY))
		return;
	if ((r = snp_guest_crl(e->opt.kds_url, e->data_dir, e->snp.product, e->snp.report.signing_key == 1, &crl,
		     &crl_len, &next, &crl_err)) == 0)
		r = evidence_with(e, crl, crl_len, &ev, &ev_len, &crl_err);
	pthread_mutex_lock(&e->lock);
	/*
	 * Only a later CRL replaces the one served. The same one comes back
	 * when AMD has not published another yet, or when the KDS is down
	 * (snp_guest_crl logs that) and the cache is what is served.
	 */
	if (r == 0 && next > e->collateral_next_update) {
		free(e->evidence);
		e->evidence = ev;
		e->evidence_len = ev_len;
		e->collateral_fetched = now;
		e->collateral_next_update = next;
		ev = NULL;
	} else if (r == 0 && next < e->collateral_next_update) {
		r = dcr_err_set(&crl_err, DCR_EATTEST, "the KDS answered with an older CRL than the one served");
	}
	e->fetching = false;
	pthread_mutex_unlock(&e->lock);
	if (r < 0)
		fprintf(stderr, "dcrd: cannot renew AMD's CRL, serving the old one until its nextUpdate: %s\n",
			crl_err.msg);
	free(ev);
	free(crl);
}

/*
 * What a room's spec pins against this guest's own report: MEASUREMENT,
 * HOST_DATA and ID_KEY_DIGEST when pinned, the policy bits the spec allows,
 * VMPL and minimum TCB (dcr_snp_check_policy; the ARK is the clients' own).
 */
static int snp_matches_spec(const struct enclave *e, const struct dcr_spec *spec, struct dcr_err *err)
{
	struct dcr_snp_result self;
	struct dcr_err why;

	dcr_snp_result_of_report(&e->snp.report, e->snp.product, &self);
	self.crl_checked = true; /* the evidence carries AMD's CRL: snp_open puts it there */
	if (dcr_snp_check_policy(&self, spec, &why) < 0)
		return dcr_err_set(err, DCR_EINTEGRITY, "enclave spec '%s' does not describe this dcrd: %s", spec->name,
			why.msg);
	return 0;
}

static void snp_describe(const struct enclave *e, char *buf, size_t size)
{
	snprintf(buf, size, "sev-snp (%s)%s", dcr_snp_product_name(e->snp.product),
		e->snp.report.policy & DCR_SNP_POLICY_DEBUG ? ": the guest policy allows DEBUG, NO protection" : "");
}

/*
 * `dcrd spec`: this guest as a fresh report shows it. MEASUREMENT;
 * HOST_DATA and ID_KEY_DIGEST when not zero; the weakening policy bits it
 * runs with (debug loudly); VMPL when not 0; REPORTED_TCB as the minimum.
 */
static int snp_spec(const struct enclave_options *opt, FILE *out, struct dcr_err *err)
{
	static const uint8_t zero[48];
	struct dcr_snp_report rep;
	enum dcr_snp_product product;
	struct dcr_snp_tcb t;
	char hex[97];
	const char *sep = "", *name;
	uint64_t bit;
	int r;

	if ((r = self_report(opt, &rep, err)) < 0)
		return dcr_err_prefix(err, "the report from the guest");
	product = product_of(&rep, opt);
	fprintf(out, "# Trusted spec for dcrd %s in this AMD SEV-SNP guest (%s), from a fresh report.\n"
		     "# Add 'root_ca: FILE' to the entry: AMD's ARK for this processor (docs/sev-snp.md).\n"
		     "# min_tcb is this platform's REPORTED_TCB: a platform with an older TCB is refused.\n%s"
		     "version: 1\n"
		     "specs:\n"
		     "  dcrd:snp:\n"
		     "    format: sev-snp\n", DCR_VERSION,
		product ? dcr_snp_product_name(product) : "Milan or Genoa: a version 2 report does not say",
		rep.policy & DCR_SNP_POLICY_DEBUG ? "# WARNING: this guest's policy allows DEBUG: the host can read and change "
						     "it.\n# Pin it only for development and tests.\n" : "");
	dcr_hex(rep.measurement, sizeof(rep.measurement), hex);
	fprintf(out, "    measurement: %s\n", hex);
	if (memcmp(rep.host_data, zero, sizeof(rep.host_data)) != 0) {
		dcr_hex(rep.host_data, sizeof(rep.host_data), hex);
		fprintf(out, "    host_data: %s\n", hex);
	}
	if (memcmp(rep.id_key_digest, zero, sizeof(rep.id_key_digest)) != 0) {
		dcr_hex(rep.id_key_digest, sizeof(rep.id_key_digest), hex);
		fprintf(out, "    id_key_digest: %s\n", hex);
	}
	fprintf(out, "    policy_allow: [");
	for (size_t i = 0; (name = dcr_snp_policy_weakening(i, &bit)); i++)
		if (rep.policy & bit) {
			fprintf(out, "%s%s", sep, name);
			sep = ", ";
		}
	fprintf(out, "]\n");
	if (rep.vmpl)
		fprintf(out, "    max_vmpl: %u\n", (unsigned)rep.vmpl);
	dcr_snp_tcb_decode(rep.reported_tcb, product ? product : DCR_SNP_MILAN, &t);
	fprintf(out, "    min_tcb: {bootloader: %u, tee: %u, snp: %u, microcode: %u", t.bootloader, t.tee, t.snp,
		t.microcode);
	if (product == DCR_SNP_TURIN)
		fprintf(out, ", fmc: %u", t.fmc);
	fprintf(out, "}\n");
	return 0;
}

static const char *const snp_options[] = { "tsm-dir", "snp-device", "kds-url", "snp-product", NULL };

const struct dcrd_kind dcrd_kind_sev_snp = {
	.lib = &dcr_attest_kind_sev_snp,
	.options = snp_options,
	.sealing_key = snp_sealing_key,
	.unseal_hint = " (under SEV-SNP the sealing key changes with the launch measurement, the guest policy, the chip, "
		       "and the TCB in snp-sealing-tcb)",
	.open = snp_open,
	.refresh = snp_refresh,
	.matches_spec = snp_matches_spec,
	.describe = snp_describe,
	.spec = snp_spec,
};
