/* The table of dcrd's attestation kinds (kind.h): one row per kind. */
#include "kind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "snp-guest.h"
#include "tsm.h"

#include "banned.h"

#define DEFAULT_SGX_DEVICE "/dev/attestation"
#define DEFAULT_TDX_DEVICE "/dev/tdx_guest"
#define DEFAULT_PCCS_URL "https://api.trustedservices.intel.com"
/* The CRL distribution point named in the Intel SGX Root CA certificate. */
#define DEFAULT_ROOT_CRL_URL "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"

int kind_file_read(const char *what, const char *path, uint8_t *buf, size_t max, size_t *len, struct dcr_err *err)
{
	uint8_t extra;
	size_t used = 0;
	ssize_t n;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open %s '%s': %s", what, path, strerror(errno));
	for (;;) {
		n = used < max ? read(fd, buf + used, max - used) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (used == max) {
			close(fd);
			return dcr_err_set(err, DCR_EFAIL, "'%s' holds more than %zu bytes", path, max);
		}
		used += (size_t)n;
	}
	e = errno;
	close(fd);
	if (n < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot read '%s': %s", path, strerror(e));
	*len = used;
	return 0;
}

int kind_file_write(const char *what, const char *path, const uint8_t *buf, size_t len, struct dcr_err *err)
{
	int fd, r;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot open %s '%s': %s", what, path, strerror(errno));
	r = dcr_write_all(fd, buf, len);
	if (close(fd) < 0 && r == 0)
		r = -1;
	if (r < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

bool kind_renew_begin(struct enclave *e, bool (*due)(const struct enclave *e, time_t now), time_t now, time_t retry)
{
	bool go;

	pthread_mutex_lock(&e->lock);
	go = !e->fetching && due(e, now) && now - e->last_fetch_attempt >= retry;
	if (go) {
		e->fetching = true;
		e->last_fetch_attempt = now;
	}
	pthread_mutex_unlock(&e->lock);
	return go;
}

int kind_sealing_key(struct enclave *e, const uint8_t *secret, size_t len, const uint8_t *info, size_t info_len,
	struct dcr_err *err)
{
	uint8_t prk[DCR_SHA256_LEN];
	int r;

	if ((r = dcr_hkdf_extract(NULL, 0, secret, len, prk, err)) == 0)
		r = dcr_hkdf_expand(prk, info, info_len, e->sealing_key, sizeof(e->sealing_key), err);
	dcr_wipe(prk, sizeof(prk));
	return r;
}

const struct dcrd_kind *const dcrd_kinds[] = {
	&dcrd_kind_sim,
	&dcrd_kind_sgx_dcap,
	&dcrd_kind_tdx,
	&dcrd_kind_sev_snp,
	NULL,
};

const struct dcrd_kind *dcrd_kind_find(const char *name)
{
	for (const struct dcrd_kind *const *k = dcrd_kinds; *k; k++)
		if (strcmp((*k)->lib->name, name) == 0)
			return *k;
	return NULL;
}

const char *dcrd_kind_names(const char *sep, char *buf, size_t size)
{
	size_t n = 0, count = 0, used = 0;

	buf[0] = '\0';
	while (dcrd_kinds[count])
		count++;
	for (const struct dcrd_kind *const *k = dcrd_kinds; *k; k++, n++) {
		const char *s = n == 0 ? "" : sep ? sep : n + 1 == count ? " or " : ", ";
		int w = snprintf(buf + used, size - used, "%s%s", s, (*k)->lib->name);

		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
	return buf;
}

void kind_args_init(struct kind_args *a, struct enclave_options *opt)
{
	memset(a, 0, sizeof(*a));
	a->attestation = dcrd_kinds[0]->lib->name;
	opt->kind = NULL;
	opt->device = DEFAULT_SGX_DEVICE;
	opt->pccs_url = DEFAULT_PCCS_URL;
	opt->root_crl_url = DEFAULT_ROOT_CRL_URL;
	opt->pccs_ca = NULL;
	opt->tsm_dir = DCR_TSM_REPORT_DIR;
	opt->sealing_root = NULL;
	opt->tdx_device = DEFAULT_TDX_DEVICE;
	opt->snp_device = SNP_DEFAULT_DEVICE;
	opt->kds_url = SNP_DEFAULT_KDS;
	opt->snp_product = 0;
}

/* Note a kind-specific option given (each at most once: there are fewer than KIND_OPTIONS_MAX). */
static void note(struct kind_args *a, const char *name)
{
	for (size_t i = 0; i < a->n_given; i++)
		if (strcmp(a->given[i], name) == 0)
			return;
	if (a->n_given < KIND_OPTIONS_MAX)
		a->given[a->n_given++] = name;
}

/* The field of opt that the kind option c (not --snp-product) sets, and its name; NULL if c is none. */
static const char **string_option(struct enclave_options *opt, int c, const char **name)
{
	switch (c) {
	case KIND_OPT_SGX_DEVICE: *name = "sgx-device"; return &opt->device;
	case KIND_OPT_PCCS_URL: *name = "pccs-url"; return &opt->pccs_url;
	case KIND_OPT_ROOT_CRL: *name = "sgx-root-crl"; return &opt->root_crl_url;
	case KIND_OPT_PCCS_CA: *name = "pccs-ca"; return &opt->pccs_ca;
	case KIND_OPT_TSM_DIR: *name = "tsm-dir"; return &opt->tsm_dir;
	case KIND_OPT_TDX_SEALING_KEY: *name = "tdx-sealing-key"; return &opt->sealing_root;
	case KIND_OPT_TDX_DEVICE: *name = "tdx-device"; return &opt->tdx_device;
	case KIND_OPT_SNP_DEVICE: *name = "snp-device"; return &opt->snp_device;
	case KIND_OPT_KDS_URL: *name = "kds-url"; return &opt->kds_url;
	default: return NULL;
	}
}

int kind_args_take(struct kind_args *a, struct enclave_options *opt, int c, const char *arg, const char *cmd)
{
	const char **field, *name;

	if (c == KIND_OPT_ATTESTATION) {
		a->attestation = arg;
		return 1;
	}
	if ((field = string_option(opt, c, &name))) {
		*field = arg;
		note(a, name);
		return 1;
	}
	if (c != KIND_OPT_SNP_PRODUCT)
		return 0;
	for (opt->snp_product = DCR_SNP_MILAN; opt->snp_product <= DCR_SNP_TURIN; opt->snp_product++)
		if (strcmp(arg, dcr_snp_product_name(opt->snp_product)) == 0)
			break;
	if (opt->snp_product > DCR_SNP_TURIN) {
		fprintf(stderr, "dcrd: %s: --snp-product '%s' is not Milan, Genoa or Turin\n", cmd, arg);
		return -1;
	}
	note(a, "snp-product");
	return 1;
}

/*
 * Whether the kind-specific option name (without "--") goes with kind;
 * if not, say so (listing the options of the first kind that takes it,
 * and every kind that does) and return false.
 */
static bool option_fits(const struct dcrd_kind *kind, const char *name, const char *cmd)
{
	const struct dcrd_kind *first = NULL;
	char opts[256] = "", kinds[DCR_ATTEST_KIND_NAMES_MAX] = "";
	size_t n = 0, used = 0, kinds_used = 0;
	int w;

	for (const char *const *o = kind->options; o && *o; o++)
		if (strcmp(*o, name) == 0)
			return true;
	for (const struct dcrd_kind *const *k = dcrd_kinds; *k; k++)
		for (const char *const *o = (*k)->options; o && *o; o++)
			if (strcmp(*o, name) == 0) {
				first = first ? first : *k;
				w = snprintf(kinds + kinds_used, sizeof(kinds) - kinds_used, "%s%s", kinds_used ? " or " : "",
					(*k)->lib->name);
				if (w > 0 && (size_t)w < sizeof(kinds) - kinds_used)
					kinds_used += (size_t)w;
				break;
			}
	while (first && first->options[n])
		n++;
	for (size_t i = 0; i < n; i++) {
		w = snprintf(opts + used, sizeof(opts) - used, "%s--%s", i == 0 ? "" : i + 1 == n ? " and " : ", ",
			first->options[i]);
		if (w < 0 || (size_t)w >= sizeof(opts) - used)
			break;
		used += (size_t)w;
	}
	fprintf(stderr, "dcrd: %s: %s need --attestation %s\n", cmd, opts, kinds);
	return false;
}

int kind_args_finish(const struct kind_args *a, struct enclave_options *opt, const char *cmd)
{
	char names[DCR_ATTEST_KIND_NAMES_MAX];

	if (!(opt->kind = dcrd_kind_find(a->attestation))) {
		fprintf(stderr, "dcrd: %s: unknown attestation '%s' (%s)\n", cmd, a->attestation,
			dcrd_kind_names(NULL, names, sizeof(names)));
		return -1;
	}
	for (size_t i = 0; i < a->n_given; i++)
		if (!option_fits(opt->kind, a->given[i], cmd))
			return -1;
	return 0;
}
