/* Trusted enclave specifications: parsing the specs file (dcr-specs(5)). */
#include "specs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest-kind.h"
#include "crypto.h"
#include "fileio.h"
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

int dcr_spec_hex(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t *out, size_t len)
{
	const char *s;
	int r = dcr_ydoc_string(y, n, what, 2 * len, &s);

	if (r == 0 && (strlen(s) != 2 * len || dcr_unhex(s, out, len) < 0))
		r = dcr_ydoc_fail(y, n, DCR_EINVALID, "%s must be %zu hex digits", what, 2 * len);
	return r;
}

int dcr_spec_hex32(struct dcr_ydoc *y, yaml_node_t *n, const char *what, uint8_t out[static 32])
{
	return dcr_spec_hex(y, n, what, out, 32);
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
int dcr_spec_root_ca(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
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

/* The keys of any kind's spec, for the first check: a key no kind knows is misspelt. */
static void all_spec_keys(const char **keys, size_t max)
{
	size_t n = 0;

	for (const struct dcr_attest_kind *const *k = dcr_attest_kinds; *k; k++)
		for (const char *const *key = (*k)->spec_keys; *key; key++) {
			size_t j = 0;

			while (j < n && strcmp(keys[j], *key) != 0)
				j++;
			if (j == n && n + 1 < max)
				keys[n++] = *key;
		}
	keys[n] = NULL;
}

/* A spec: its format names a kind, which parses the rest. */
static int parse_spec(struct dcr_ydoc *y, yaml_node_t *n, const char *file, struct dcr_spec *s)
{
	const char *keys[64], *format;
	const struct dcr_attest_kind *kind;
	char names[DCR_ATTEST_KIND_NAMES_MAX], what[48];
	yaml_node_t *v;
	int r;

	all_spec_keys(keys, sizeof(keys) / sizeof(keys[0]));
	if ((r = dcr_ydoc_mapping(y, n, "a spec", keys)) < 0)
		return r;
	dcr_attest_kind_names(names, sizeof(names));
	if (!(v = dcr_ydoc_get(y, n, "format")))
		return dcr_ydoc_fail(y, n, DCR_EINVALID, "spec '%s' has no format (%s)", s->name, names);
	if ((r = dcr_ydoc_string(y, v, "format", 16, &format)) < 0)
		return r;
	if (!(kind = dcr_attest_kind_find(format)))
		return dcr_ydoc_fail(y, v, DCR_EINVALID, "unknown format '%s' (%s)", format, names);
	s->format = kind->format;
	/* Only this kind's keys: another kind's pin (mrtd in an sgx-dcap spec, say) would be ignored. */
	snprintf(what, sizeof(what), "a spec of format %s", kind->name);
	if ((r = dcr_ydoc_mapping(y, n, what, kind->spec_keys)) < 0)
		return r;
	return kind->spec_parse(y, n, file, s);
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
