/* Trusted enclave specifications: parsing the specs file (dcr-specs(5)). */
#include "specs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "fileio.h"
#include "snp.h"
#include "ydoc.h"

#include "banned.h"

#define MAX_SPECS 256

/* The TCB statuses Intel's collateral defines; "Revoked" is never acceptable. */
static const char *const tcb_names[] = {
	"ConfigurationAndSWHardeningNeeded", "ConfigurationNeeded", "OutOfDate",
	"OutOfDateConfigurationNeeded", "SWHardeningNeeded", "UpToDate", NULL,
};

const char *dcr_spec_tcb_status(const char *name)
{
	for (const char *const *t = tcb_names; *t; t++)
		if (strcmp(*t, name) == 0)
			return *t;
	return NULL;
}

bool dcr_spec_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DCR_SPEC_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr(":._-", *s)))
			return false;
	return true;
}

static int hexn(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t *out, size_t len)
{
	const char *s;
	int r = dcr_ydoc_string(y, n, what, 2 * len, &s);

	if (r == 0 && (strlen(s) != 2 * len || dcr_unhex(s, out, len) < 0))
		r = dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be %zu hex digits", what, 2 * len);
	return r;
}

static int hex32(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t out[static 32])
{
	return hexn(y, n, what, out, 32);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_tcb(struct dcr_ydoc *y, yaml_node_t *n, struct dcr_spec *s)
{
	int r = dcr_ydoc_sequence(y, n, "tcb_statuses", DCR_SPEC_TCB_MAX);

	for (yaml_node_item_t *i = n->data.sequence.items.start; r == 0 && i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = dcr_ydoc_node(y, *i);
		const char *v, *known;

		if ((r = dcr_ydoc_string(y, item, "a TCB status", 64, &v)) < 0)
			break;
		if (!(known = dcr_spec_tcb_status(v)))
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "unknown TCB status '%s'%s", v,
				strcmp(v, "Revoked") == 0 ? " (a revoked TCB is never accepted)" : "");
		for (size_t j = 0; j < s->n_tcb_statuses; j++)
			if (s->tcb_statuses[j] == known)
				return dcr_ydoc_fail(y, item, DCR_EINVALID, "TCB status '%s' is listed twice", v);
		s->tcb_statuses[s->n_tcb_statuses++] = known;
	}
	if (r == 0 && s->n_tcb_statuses == 0)
		r = dcr_ydoc_fail(y, n, DCR_EINVALID, "tcb_statuses must not be empty");
	qsort(s->tcb_statuses, s->n_tcb_statuses, sizeof(*s->tcb_statuses), cmp_str);
	return r;
}

int dcr_cert_file_der(const char *path, uint8_t **der, size_t *len, struct dcr_err *err)
{
	const unsigned char *p;
	unsigned char *out = NULL;
	uint8_t *buf;
	size_t n;
	X509 *cert = NULL;
	BIO *bio;
	int r = dcr_read_file(path, 64 << 10, &buf, &n, err), out_len = -1;

	*der = NULL;
	if (r < 0)
		return r;
	p = buf;
	if (n > 0 && buf[0] == 0x30) {
		cert = d2i_X509(NULL, &p, (long)n);
		if (cert && p != buf + n) {
			X509_free(cert);
			cert = NULL;
		}
	} else if ((bio = BIO_new_mem_buf(buf, (int)n))) {
		X509 *extra;

		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (cert && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
			X509_free(extra);
			X509_free(cert);
			BIO_free(bio);
			free(buf);
			return dcr_err_set(err, DCR_EINVALID, "'%s' holds more than one certificate", path);
		}
		BIO_free(bio);
	}
	ERR_clear_error();
	free(buf);
	if (cert)
		out_len = i2d_X509(cert, &out);
	X509_free(cert);
	if (out_len <= 0)
		return dcr_err_set(err, DCR_EINVALID, "'%s' holds no certificate (DER or PEM)", path);
	*der = malloc((size_t)out_len);
	if (*der) {
		memcpy(*der, out, (size_t)out_len);
		*len = (size_t)out_len;
	}
	OPENSSL_free(out);
	return *der ? 0 : dcr_err_set(err, DCR_ENOMEM, "out of memory");
}

/* root_ca: a path relative to the specs file's folder, read now so a missing file shows where it was named. */
static int parse_root(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	const char *rel, *slash = strrchr(file, '/');
	char path[4096];
	struct dcr_err sub;
	int r = dcr_ydoc_string(y, n, "root_ca", 1024, &rel);

	if (r < 0)
		return r;
	if (rel[0] == '/' || !slash)
		r = snprintf(path, sizeof(path), "%s", rel);
	else
		r = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - file), file, rel);
	if (r < 0 || (size_t)r >= sizeof(path))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "root_ca path too long");
	if (dcr_cert_file_der(path, &s->root_ca, &s->root_ca_len, &sub) < 0)
		return dcr_ydoc_fail(y, n, sub.code == DCR_ENOMEM ? DCR_ENOMEM : DCR_EINVALID, "root_ca: %s", sub.msg);
	{
		const unsigned char *p = s->root_ca;
		X509 *cert = d2i_X509(NULL, &p, (long)s->root_ca_len);
		bool root = cert && X509_check_ca(cert) > 0 && X509_self_signed(cert, 1) == 1;

		X509_free(cert);
		ERR_clear_error();
		if (!root)
			return dcr_ydoc_fail(y, n, DCR_EINVALID, "root_ca: '%s' is not a self-signed CA certificate", path);
	}
	return 0;
}

/* policy_allow: the weakening guest policy bits a sev-snp spec accepts, each named once. */
static int parse_policy_allow(struct dcr_ydoc *y, yaml_node_t *n, struct dcr_spec *s)
{
	int r = dcr_ydoc_sequence(y, n, "policy_allow", 8);

	s->snp_policy_allow = 0;
	for (yaml_node_item_t *i = n->data.sequence.items.start; r == 0 && i < n->data.sequence.items.top; i++) {
		yaml_node_t *item = dcr_ydoc_node(y, *i);
		const char *v;
		uint64_t bit;

		if ((r = dcr_ydoc_string(y, item, "a policy bit", 32, &v)) < 0)
			break;
		if (!(bit = dcr_snp_policy_bit(v)))
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "unknown policy bit '%s' (smt, migrate_ma, debug, cxl_allow)",
				v);
		if (s->snp_policy_allow & bit)
			return dcr_ydoc_fail(y, item, DCR_EINVALID, "policy bit '%s' is listed twice", v);
		s->snp_policy_allow |= bit;
	}
	return r;
}

/* min_tcb: a mapping of SPL names to 0-255; those left out are 0. */
static int parse_min_tcb(struct dcr_ydoc *y, yaml_node_t *n, struct dcr_spec *s)
{
	static const char *const names[] = { "bootloader", "tee", "snp", "microcode", "fmc", NULL };
	uint8_t *fields[] = { &s->snp_min_tcb.bootloader, &s->snp_min_tcb.tee, &s->snp_min_tcb.snp,
		&s->snp_min_tcb.microcode, &s->snp_min_tcb.fmc };
	yaml_node_t *v;
	int64_t num;
	int r;

	if ((r = dcr_ydoc_mapping(y, n, "min_tcb", names)) < 0)
		return r;
	for (int i = 0; names[i]; i++) {
		if (!(v = dcr_ydoc_get(y, n, names[i])))
			continue;
		if ((r = dcr_ydoc_int(y, v, names[i], 0, 255, &num)) < 0)
			return r;
		*fields[i] = (uint8_t)num;
	}
	return 0;
}

static int parse_snp(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	static const char *const keys[] = { "format", "measurement", "host_data", "id_key_digest", "policy_allow",
		"max_vmpl", "min_tcb", "root_ca", NULL };
	yaml_node_t *v;
	int64_t num;
	int r;

	s->format = DCR_SPEC_SEV_SNP;
	if ((r = dcr_ydoc_mapping(y, n, "a sev-snp spec", keys)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(y, n, "measurement")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sev-snp spec '%s' needs a measurement (MEASUREMENT, 96 hex digits)",
			s->name);
	s->has_measurement = true;
	if ((r = hexn(y, v, "measurement", s->snp_measurement, 48)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "host_data"))) {
		s->snp_has_host_data = true;
		if ((r = hexn(y, v, "host_data", s->snp_host_data, 32)) < 0)
			return r;
	}
	if ((v = dcr_ydoc_get(y, n, "id_key_digest"))) {
		s->snp_has_id_key = true;
		if ((r = hexn(y, v, "id_key_digest", s->snp_id_key_digest, 48)) < 0)
			return r;
	}
	s->snp_policy_allow = DCR_SNP_POLICY_SMT;
	if ((v = dcr_ydoc_get(y, n, "policy_allow")) && (r = parse_policy_allow(y, v, s)) < 0)
		return r;
	s->debug_allowed = s->snp_policy_allow & DCR_SNP_POLICY_DEBUG;
	if ((v = dcr_ydoc_get(y, n, "max_vmpl"))) {
		if ((r = dcr_ydoc_int(y, v, "max_vmpl", 0, 3, &num)) < 0)
			return r;
		s->snp_max_vmpl = (uint32_t)num;
	}
	if ((v = dcr_ydoc_get(y, n, "min_tcb")) && (r = parse_min_tcb(y, v, s)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(y, n, "root_ca")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sev-snp spec '%s' needs root_ca: the AMD root key (ARK) of its "
			"processors", s->name);
	return parse_root(y, v, file, s);
}

static int parse_spec(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	static const char *const keys[] = { "format", "measurement", "mrenclave", "mrsigner",
		"isvprodid", "min_isvsvn", "debug", "tcb_statuses", "root_ca", "host_data", "id_key_digest",
		"policy_allow", "max_vmpl", "min_tcb", NULL };
	yaml_node_t *v;
	const char *format;
	int64_t num;
	int r;

	if ((r = dcr_ydoc_mapping(y, n, "a spec", keys)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(y, n, "format")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "spec '%s' has no format (sim, sgx-dcap or sev-snp)", s->name);
	if ((r = dcr_ydoc_string(y, v, "format", 16, &format)) < 0)
		return r;
	if (strcmp(format, "sim") == 0) {
		static const char *const sim_keys[] = { "format", "measurement", NULL };

		s->format = DCR_SPEC_SIM;
		if ((r = dcr_ydoc_mapping(y, n, "a sim spec", sim_keys)) < 0)
			return r;
		if (!(v = dcr_ydoc_get(y, n, "measurement")))
			return dcr_ydoc_fail(y, n, DCR_EINVALID, "sim spec '%s' needs a measurement", s->name);
		s->has_measurement = true;
		return hex32(y, v, "measurement", s->measurement);
	}
	if (strcmp(format, "sev-snp") == 0)
		return parse_snp(y, n, file, s);
	if (strcmp(format, "sgx-dcap") != 0)
		return dcr_ydoc_fail(y, v, DCR_EINVALID, "unknown format '%s' (sim, sgx-dcap or sev-snp)", format);
	s->format = DCR_SPEC_SGX_DCAP;
	if (dcr_ydoc_get(y, n, "measurement"))
		return dcr_ydoc_fail(y, dcr_ydoc_get(y, n, "measurement"), DCR_EINVALID,
			"an sgx-dcap spec pins 'mrenclave' or 'mrsigner', not 'measurement'");
	if ((v = dcr_ydoc_get(y, n, "mrenclave"))) {
		s->has_measurement = true;
		if ((r = hex32(y, v, "mrenclave", s->measurement)) < 0)
			return r;
	}
	if ((v = dcr_ydoc_get(y, n, "mrsigner"))) {
		s->has_signer = true;
		if ((r = hex32(y, v, "mrsigner", s->mrsigner)) < 0)
			return r;
		if (!(v = dcr_ydoc_get(y, n, "isvprodid")))
			return dcr_ydoc_fail(y, n, DCR_EINVALID, "mrsigner needs isvprodid");
		if ((r = dcr_ydoc_int(y, v, "isvprodid", 0, 65535, &num)) < 0)
			return r;
		s->isv_prod_id = (uint32_t)num;
		if ((v = dcr_ydoc_get(y, n, "min_isvsvn"))) {
			if ((r = dcr_ydoc_int(y, v, "min_isvsvn", 0, 65535, &num)) < 0)
				return r;
			s->min_isv_svn = (uint32_t)num;
		}
	}
	if (s->has_measurement == s->has_signer)
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "sgx-dcap spec '%s' must pin exactly one of mrenclave or mrsigner",
			s->name);
	if (!s->has_signer && (dcr_ydoc_get(y, n, "isvprodid") || dcr_ydoc_get(y, n, "min_isvsvn")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "isvprodid and min_isvsvn go with mrsigner");
	if ((v = dcr_ydoc_get(y, n, "debug")) && (r = dcr_ydoc_bool(y, v, "debug", &s->debug_allowed)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "root_ca")) && (r = parse_root(y, v, file, s)) < 0)
		return r;
	if ((v = dcr_ydoc_get(y, n, "tcb_statuses")))
		return parse_tcb(y, v, s);
	s->tcb_statuses[0] = "SWHardeningNeeded";
	s->tcb_statuses[1] = "UpToDate";
	s->n_tcb_statuses = 2;
	return 0;
}

int dcr_specs_parse(const char *file, const uint8_t *buf, size_t len, struct dcr_specs **out,
	struct dcr_err *err)
{
	static const char *const keys[] = { "version", "specs", NULL };
	struct dcr_specs *specs = NULL;
	struct dcr_ydoc y;
	yaml_node_t *root, *v, *list;
	int64_t version;
	size_t i = 0;
	int r;

	*out = NULL;
	if ((r = dcr_ydoc_load(&y, file, buf, len, err)) < 0)
		goto out;
	root = dcr_ydoc_root(&y);
	if ((r = dcr_ydoc_mapping(&y, root, "the specs file", keys)) < 0)
		goto out;
	if (!(v = dcr_ydoc_get(&y, root, "version"))) {
		r = dcr_ydoc_fail(&y, root, DCR_EINVALID, "missing 'version: 1'");
		goto out;
	}
	if ((r = dcr_ydoc_int(&y, v, "version", 1, 1, &version)) < 0)
		goto out;
	if (!(list = dcr_ydoc_get(&y, root, "specs"))) {
		r = dcr_ydoc_fail(&y, root, DCR_EINVALID, "missing 'specs'");
		goto out;
	}
	if ((r = dcr_ydoc_mapping(&y, list, "specs", NULL)) < 0)
		goto out;
	if (dcr_ydoc_count(list) > MAX_SPECS) {
		r = dcr_ydoc_fail(&y, list, DCR_EINVALID, "more than %d specs", MAX_SPECS);
		goto out;
	}
	specs = calloc(1, sizeof(*specs));
	if (specs)
		specs->items = calloc(dcr_ydoc_count(list) + 1, sizeof(*specs->items));
	if (!specs || !specs->items) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	for (yaml_node_pair_t *p = list->data.mapping.pairs.start; p < list->data.mapping.pairs.top; p++, i++) {
		yaml_node_t *k = dcr_ydoc_node(&y, p->key);
		const char *name = (const char *)k->data.scalar.value;

		if (!dcr_spec_name_valid(name)) {
			r = dcr_ydoc_fail(&y, k, DCR_EINVALID,
				"spec name '%.64s' must start with a-z and use a-z, 0-9, ':', '.', '_', '-' (at most %d)",
				name, DCR_SPEC_NAME_MAX);
			goto out;
		}
		memcpy(specs->items[i].name, name, strlen(name) + 1);
		specs->n = i + 1; /* counted first, so a root_ca read before a failure is freed */
		if ((r = parse_spec(&y, dcr_ydoc_node(&y, p->value), file, &specs->items[i])) < 0)
			goto out;
	}
out:
	dcr_ydoc_release(&y);
	if (r < 0)
		dcr_specs_free(specs);
	else
		*out = specs;
	return r;
}

int dcr_specs_load(const char *path, struct dcr_specs **out, struct dcr_err *err)
{
	uint8_t *buf;
	size_t len;
	int r = dcr_read_file(path, DCR_YDOC_MAX_INPUT, &buf, &len, err);

	*out = NULL;
	if (r < 0)
		return dcr_err_prefix(err, "trusted specs");
	r = dcr_specs_parse(path, buf, len, out, err);
	free(buf);
	return r;
}

const struct dcr_spec *dcr_specs_find(const struct dcr_specs *specs, const char *name)
{
	for (size_t i = 0; specs && i < specs->n; i++)
		if (strcmp(specs->items[i].name, name) == 0)
			return &specs->items[i];
	return NULL;
}

void dcr_specs_free(struct dcr_specs *specs)
{
	if (!specs)
		return;
	for (size_t i = 0; i < specs->n; i++)
		free(specs->items[i].root_ca);
	free(specs->items);
	free(specs);
}
