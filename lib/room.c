/* Room definitions: strict YAML parsing, validation, canonical encoding and the room ID. */
#include "room.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "aggregate.h"
#include "attest-kind.h"
#include "crypto.h"
#include "fileio.h"
#include "pki.h"
#include "sql.h"
#include "util.h"
#include "ydoc.h"

#include "banned.h"

#define MAX_NODES 1000       /* data nodes and computations together */
#define MAX_COLUMNS 1000
#define MAX_PARTICIPANTS 1000
#define MAX_PERMISSIONS 1000 /* per participant */
#define MAX_CA_FILES 64
#define MAX_AUTHORITIES (MAX_CA_FILES + 1) /* the CA files and the platform CA */
#define MAX_CERTIFIES 1000   /* 'certifies' items of all authorities together */
#define MAX_MOUNTS 256
#define MAX_COMMAND_ARGS 64
#define MAX_NAME 63
#define MAX_TEXT 4096
#define MAX_CSV_HEADER 256
#define MAX_QUERY 65536
#define MAX_SCRIPT (1u << 20)
#define MAX_CA_FILE (256u << 10)
#define FORMAT_VERSION 1

struct block {
	struct block *next;
	size_t used, size;
	max_align_t data[];
};

struct dcr_room {
	struct block *blocks;
	Dcr__V1__RoomDefinition def;
	uint8_t *encoding;
	size_t encoding_len;
	char id[DCR_ROOM_ID_HEX];
};

/*
 * One authority of 'authentication': the certificates of one CA file, or the
 * platform CA, and the addresses and domains it certifies.
 */
struct authority {
	yaml_node_t *node;        /* the entry, for messages */
	const char *what;         /* "CA file 'x.pem'" or "the platform CA" */
	bool platform;
	ProtobufCBinaryData *certs; /* its certificates (before sorting) */
	size_t n_certs;
	uint32_t *cas;            /* their indices among the sorted certificates */
	bool catch_all;           /* no 'certifies': every participant no other authority names */
	bool used;
};

/* One item of a 'certifies' list: a lowercase address or domain. */
struct certify {
	const char *name;
	yaml_node_t *node;
	size_t authority;
	bool used;
};

/* Where each compiled element came from, for messages about references. */
struct compute_src {
	yaml_node_t *node;        /* the computation's mapping */
	yaml_node_t *query;       /* sql */
	yaml_node_t **depends;    /* explicit depends items */
	size_t n_depends;
	bool on_stack, done;      /* cycle search */
};

struct parse {
	struct dcr_room *room;
	struct dcr_ydoc y;
	struct dcr_err *err;
	const struct dcr_room_files *files;
	const struct dcr_specs *specs;
	struct compute_src *src;  /* parallel to room->def.compute before sorting */
	struct authority auths[MAX_AUTHORITIES];
	size_t n_auths;
	struct certify *certifies; /* MAX_CERTIFIES */
	size_t n_certifies;
};

static int parse_table_privacy(struct parse *p, yaml_node_t *m, Dcr__V1__DataNode *d);
static const Dcr__V1__TablePrivacy *table_privacy(const Dcr__V1__DataNode *d);
static int parse_aggregate(struct parse *p, yaml_node_t *m, Dcr__V1__Computation *c);
static int cmp_string(const void *a, const void *b);

/* ---- allocation: one arena per room, freed at once ---- */

static void *alloc(struct dcr_room *room, size_t n)
{
	struct block *b = room->blocks;
	size_t align = sizeof(max_align_t);

	n = (n + align - 1) / align * align;
	if (n == 0)
		n = align;
	if (!b || b->size - b->used < n) {
		size_t size = n > 16384 ? n : 16384;

		b = calloc(1, sizeof(*b) + size);
		if (!b)
			return NULL;
		b->size = size;
		b->next = room->blocks;
		room->blocks = b;
	}
	b->used += n;
	return (uint8_t *)b->data + b->used - n;
}

static char *dup_str(struct dcr_room *room, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = alloc(room, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

#define NEW(p, ptr) ((ptr) = alloc((p)->room, sizeof(*(ptr))))
#define NEW_ARRAY(p, ptr, n) ((ptr) = alloc((p)->room, sizeof(*(ptr)) * ((n) ? (n) : 1)))

static int oom(struct parse *p)
{
	return dcr_err_set(p->err, DCR_ENOMEM, "out of memory");
}

/* ---- small validators ---- */

static bool valid_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_NAME || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool printable(const char *s, bool allow_newlines)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t'))) || c == 0x7f)
			return false;
	}
	return true;
}

/* An optional boolean key of mapping m; *out keeps its default when absent. */
static int get_bool(struct parse *p, yaml_node_t *m, const char *key, protobuf_c_boolean *out)
{
	yaml_node_t *v = dcr_ydoc_get(&p->y, m, key);
	bool b;
	int r;

	if (!v)
		return 0;
	if ((r = dcr_ydoc_bool(&p->y, v, key, &b)) < 0)
		return r;
	*out = b;
	return 0;
}

/* ---- top-level pieces ---- */

static int parse_text(struct parse *p, yaml_node_t *m, const char *key, bool required, size_t max,
	bool multiline, char **out)
{
	yaml_node_t *v = dcr_ydoc_get(&p->y, m, key);
	const char *s = "";
	int r;

	if (!v && required)
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "missing '%s'", key);
	if (v && (r = dcr_ydoc_string(&p->y, v, key, max, &s)) < 0)
		return r;
	if (v && required && !*s)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' must not be empty", key);
	if (!printable(s, multiline))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' contains control characters", key);
	if (!(*out = dup_str(p->room, s)))
		return oom(p);
	return 0;
}

static int parse_enclave(struct parse *p, yaml_node_t *root)
{
	yaml_node_t *v = dcr_ydoc_get(&p->y, root, "enclave");
	const struct dcr_spec *spec;
	Dcr__V1__EnclaveSpec *e;
	const char *name;
	int r;

	if (!v)
		return dcr_ydoc_fail(&p->y, root, DCR_EINVALID, "missing 'enclave' (a name from the trusted specs)");
	if ((r = dcr_ydoc_string(&p->y, v, "enclave", DCR_SPEC_NAME_MAX, &name)) < 0)
		return r;
	if (!p->specs)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			"enclave '%s': no trusted specs given (use --specs FILE or set DCR_SPECS; 'dcrd spec' prints one)",
			name);
	spec = dcr_specs_find(p->specs, name);
	if (!spec) {
		const char *names[257];
		const char *hint;
		char hb[96];
		size_t n = 0;

		for (size_t i = 0; i < p->specs->n && n < 256; i++)
			names[n++] = p->specs->items[i].name;
		names[n] = NULL;
		hint = dcr_suggest(name, names);
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "enclave '%s' is not in the trusted specs%s",
			name, dcr_hint_phrase(hint, hb, sizeof(hb)));
	}
	if (!NEW(p, e))
		return oom(p);
	dcr__v1__enclave_spec__init(e);
	e->name = dup_str(p->room, spec->name);
	e->format = dup_str(p->room, dcr_attest_kind_of(spec->format)->name);
	if (spec->has_measurement)
		e->measurement = (ProtobufCBinaryData){ 32, (uint8_t *)spec->measurement };
	if (spec->has_signer)
		e->mrsigner = (ProtobufCBinaryData){ 32, (uint8_t *)spec->mrsigner };
	e->isv_prod_id = spec->isv_prod_id;
	e->min_isv_svn = spec->min_isv_svn;
	e->debug_allowed = spec->debug_allowed;
	e->n_tcb_statuses = spec->n_tcb_statuses;
	e->tcb_statuses = (char **)spec->tcb_statuses;
	if (!e->name || !e->format)
		return oom(p);
	/* The spec's bytes belong to specs; copy them into the room's arena. */
	if (e->measurement.len && !(e->measurement.data = alloc(p->room, 32)))
		return oom(p);
	if (e->measurement.len)
		memcpy(e->measurement.data, spec->measurement, 32);
	if (e->mrsigner.len && !(e->mrsigner.data = alloc(p->room, 32)))
		return oom(p);
	if (e->mrsigner.len)
		memcpy(e->mrsigner.data, spec->mrsigner, 32);
	if (e->n_tcb_statuses && !NEW_ARRAY(p, e->tcb_statuses, e->n_tcb_statuses))
		return oom(p);
	for (size_t i = 0; i < e->n_tcb_statuses; i++)
		e->tcb_statuses[i] = (char *)spec->tcb_statuses[i];
	if (spec->format == DCR_SPEC_SEV_SNP) {
		/* Copied into the room's arena like the rest; empty fields are not pinned. */
		if (!(e->measurement.data = alloc(p->room, 48)) ||
		    (spec->snp_has_host_data && !(e->snp_host_data.data = alloc(p->room, 32))) ||
		    (spec->snp_has_id_key && !(e->snp_id_key_digest.data = alloc(p->room, 48))))
			return oom(p);
		e->measurement.len = 48;
		memcpy(e->measurement.data, spec->snp_measurement, 48);
		if (spec->snp_has_host_data)
			memcpy(e->snp_host_data.data, spec->snp_host_data, e->snp_host_data.len = 32);
		if (spec->snp_has_id_key)
			memcpy(e->snp_id_key_digest.data, spec->snp_id_key_digest, e->snp_id_key_digest.len = 48);
		e->snp_policy_allow = spec->snp_policy_allow;
		e->snp_max_vmpl = spec->snp_max_vmpl;
		e->snp_min_bootloader = spec->snp_min_tcb.bootloader;
		e->snp_min_tee = spec->snp_min_tcb.tee;
		e->snp_min_snp = spec->snp_min_tcb.snp;
		e->snp_min_microcode = spec->snp_min_tcb.microcode;
		e->snp_min_fmc = spec->snp_min_tcb.fmc;
		e->snp_crl_optional = spec->snp_crl_optional;
		e->snp_vcek_only = spec->snp_vcek_only;
		e->snp_platform_require = spec->snp_platform_require;
	}
	if (spec->has_mrtd && !(e->mrtd.data = alloc(p->room, 48)))
		return oom(p);
	if (spec->has_mrtd) {
		e->mrtd.len = 48;
		memcpy(e->mrtd.data, spec->mrtd, 48);
	}
	for (int i = 0; i < 4; i++) {
		ProtobufCBinaryData *rtmr[] = { &e->rtmr0, &e->rtmr1, &e->rtmr2, &e->rtmr3 };

		if (!(spec->rtmr_pinned & 1u << i))
			continue;
		if (!(rtmr[i]->data = alloc(p->room, 48)))
			return oom(p);
		rtmr[i]->len = 48;
		memcpy(rtmr[i]->data, spec->rtmr[i], 48);
	}
	p->room->def.enclave = e;
	return 0;
}

/* Read a file the definition names; errors point at node v. */
static int read_referenced(struct parse *p, yaml_node_t *v, const char *what, const char *rel,
	size_t max, uint8_t **buf, size_t *len)
{
	struct dcr_err ferr;
	int r = p->files->read(p->files->ctx, rel, max, buf, len, &ferr);

	if (r < 0)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "cannot read %s: %s", what, ferr.msg);
	return 0;
}

/* qsort, which must not be given a NULL array even to sort nothing (C17 7.22.5). */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int cmp_binary(const void *a, const void *b)
{
	const ProtobufCBinaryData *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->data, y->data, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Append every certificate in the PEM file at v to auth; any other PEM block is an error. */
static int add_ca_file(struct parse *p, yaml_node_t *v, Dcr__V1__Authentication *auth, size_t cap)
{
	const char *rel;
	uint8_t *pem;
	size_t len, found = 0, begins = 0;
	BIO *bio;
	int r;

	if ((r = dcr_ydoc_string(&p->y, v, "a CA file", 4096, &rel)) < 0)
		return r;
	if ((r = read_referenced(p, v, "CA file", rel, MAX_CA_FILE, &pem, &len)) < 0)
		return r;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		r = oom(p);
	while (r == 0) {
		char *name = NULL, *header = NULL;
		unsigned char *body = NULL;
		const unsigned char *cursor;
		long body_len = 0;
		X509 *cert = NULL;

		if (!PEM_read_bio(bio, &name, &header, &body, &body_len)) {
			/* PEM_read_bio skips what it cannot read: count the blocks that began. */
			for (size_t i = 0; i + 11 <= len; i++)
				begins += memcmp(pem + i, "-----BEGIN ", 11) == 0;
			if (found == 0)
				r = dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' holds no PEM certificate", rel);
			else if (begins != found)
				r = dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s': damaged PEM data after certificate %zu",
					rel, found);
			break;
		}
		cursor = body;
		if (strcmp(name, "CERTIFICATE") != 0)
			r = dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s': block %zu is '%s', not a certificate%s", rel,
				found + 1, name, strstr(name, "PRIVATE KEY") ? " (never put a private key in a CA file)" : "");
		else if (!(cert = d2i_X509(NULL, &cursor, body_len)) || cursor != body + body_len)
			r = dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s': certificate %zu is damaged", rel, found + 1);
		else if (X509_check_ca(cert) == 0)
			r = dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s': certificate %zu is not a CA certificate",
				rel, found + 1);
		else if (auth->n_ca_certificates == cap)
			r = dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "more than %zu CA certificates", cap);
		else {
			uint8_t *der = alloc(p->room, (size_t)body_len);

			if (!der) {
				r = oom(p);
			} else {
				memcpy(der, body, (size_t)body_len);
				auth->ca_certificates[auth->n_ca_certificates++] = (ProtobufCBinaryData){ (size_t)body_len, der };
				found++;
			}
		}
		X509_free(cert);
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(body);
	}
	ERR_clear_error();
	BIO_free(bio);
	free(pem);
	return r;
}

/* An item of 'certifies': an e-mail address, or a domain, with the rules of dcr_pki_email_normalise. */
static bool certify_name(const char *s, char out[static DCR_EMAIL_MAX + 1])
{
	char addr[DCR_EMAIL_MAX + 3];

	if (strchr(s, '@'))
		return dcr_pki_email_normalise(s, out);
	if (strlen(s) > DCR_EMAIL_MAX - 2)
		return false;
	snprintf(addr, sizeof(addr), "x@%s", s);
	if (!dcr_pki_email_normalise(addr, out))
		return false;
	memmove(out, out + 2, strlen(out + 2) + 1);
	return true;
}

/* The 'certifies' list of authority a (in mapping m); without one, a certifies the rest. */
static int parse_certifies(struct parse *p, yaml_node_t *m, size_t a)
{
	yaml_node_t *list = dcr_ydoc_get(&p->y, m, "certifies");
	int r;

	if (!list) {
		p->auths[a].catch_all = true;
		return 0;
	}
	if ((r = dcr_ydoc_sequence(&p->y, list, "certifies", MAX_CERTIFIES)) < 0)
		return r;
	if (dcr_ydoc_count(list) == 0)
		return dcr_ydoc_fail(&p->y, list, DCR_EINVALID,
			"'certifies' must not be empty (leave it out to certify every participant no other CA names)");
	for (yaml_node_item_t *i = list->data.sequence.items.start; i < list->data.sequence.items.top; i++) {
		yaml_node_t *v = dcr_ydoc_node(&p->y, *i);
		char norm[DCR_EMAIL_MAX + 1];
		struct certify *c;
		const char *s;

		if ((r = dcr_ydoc_string(&p->y, v, "an item of 'certifies'", DCR_EMAIL_MAX, &s)) < 0)
			return r;
		if (!certify_name(s, norm))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' is neither an e-mail address nor a domain", s);
		for (size_t k = 0; k < p->n_certifies; k++)
			if (strcmp(p->certifies[k].name, norm) == 0)
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' is certified twice (first at line %zu)",
					norm, p->certifies[k].node->start_mark.line + 1);
		if (p->n_certifies == MAX_CERTIFIES)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "more than %d items of 'certifies' in all",
				MAX_CERTIFIES);
		c = &p->certifies[p->n_certifies++];
		if (!(c->name = dup_str(p->room, norm)))
			return oom(p);
		c->node = v;
		c->authority = a;
	}
	return 0;
}

/* A CA entry: a file name, or a mapping with 'file' and 'certifies'. */
static int parse_ca_entry(struct parse *p, yaml_node_t *v, Dcr__V1__Authentication *auth)
{
	static const char *const keys[] = { "file", "certifies", NULL };
	size_t a = p->n_auths++, first = auth->n_ca_certificates;
	struct authority *au = &p->auths[a];
	yaml_node_t *file = v;
	char what[160];
	int r;

	au->node = v;
	if (v->type == YAML_MAPPING_NODE) {
		if ((r = dcr_ydoc_mapping(&p->y, v, "a CA", keys)) < 0)
			return r;
		if (!(file = dcr_ydoc_get(&p->y, v, "file")))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "a CA needs 'file', the PEM file of its certificate");
		if ((r = parse_certifies(p, v, a)) < 0)
			return r;
	} else {
		au->catch_all = true;
	}
	if ((r = add_ca_file(p, file, auth, MAX_CA_FILES)) < 0)
		return r;
	snprintf(what, sizeof(what), "CA file '%.128s'", (const char *)file->data.scalar.value);
	au->n_certs = auth->n_ca_certificates - first;
	if (!(au->what = dup_str(p->room, what)) || !NEW_ARRAY(p, au->certs, au->n_certs))
		return oom(p);
	memcpy(au->certs, auth->ca_certificates + first, au->n_certs * sizeof(*au->certs));
	return 0;
}

/* 'platform': true, false, or a mapping with 'certifies'. */
static int parse_platform(struct parse *p, yaml_node_t *v, Dcr__V1__Authentication *auth)
{
	static const char *const keys[] = { "certifies", NULL };
	struct authority *au = &p->auths[p->n_auths];
	bool on;
	int r;

	if (v->type == YAML_MAPPING_NODE) {
		if ((r = dcr_ydoc_mapping(&p->y, v, "platform", keys)) < 0 || (r = parse_certifies(p, v, p->n_auths)) < 0)
			return r;
	} else {
		if ((r = dcr_ydoc_bool(&p->y, v, "platform", &on)) < 0)
			return r;
		if (!on)
			return 0;
		au->catch_all = true;
	}
	au->node = v;
	au->what = "the platform CA";
	au->platform = true;
	auth->platform = true;
	p->n_auths++;
	return 0;
}

static int parse_authentication(struct parse *p, yaml_node_t *root)
{
	static const char *const keys[] = { "ca", "platform", NULL };
	yaml_node_t *a = dcr_ydoc_get(&p->y, root, "authentication"), *ca, *platform;
	Dcr__V1__Authentication *auth;
	const struct authority *rest = NULL;
	int r;

	if (!a)
		return dcr_ydoc_fail(&p->y, root, DCR_EINVALID,
			"missing 'authentication' (organisation CAs with 'ca', or 'platform: true')");
	if ((r = dcr_ydoc_mapping(&p->y, a, "authentication", keys)) < 0)
		return r;
	if (!NEW(p, auth))
		return oom(p);
	dcr__v1__authentication__init(auth);
	if (!NEW_ARRAY(p, auth->ca_certificates, MAX_CA_FILES) || !NEW_ARRAY(p, p->certifies, MAX_CERTIFIES))
		return oom(p);
	if ((ca = dcr_ydoc_get(&p->y, a, "ca"))) {
		if (ca->type != YAML_SEQUENCE_NODE) {
			r = parse_ca_entry(p, ca, auth);
		} else if ((r = dcr_ydoc_sequence(&p->y, ca, "ca", MAX_CA_FILES)) == 0) {
			for (yaml_node_item_t *i = ca->data.sequence.items.start; r == 0 && i < ca->data.sequence.items.top; i++)
				r = parse_ca_entry(p, dcr_ydoc_node(&p->y, *i), auth);
		}
		if (r < 0)
			return r;
	}
	if ((platform = dcr_ydoc_get(&p->y, a, "platform")) && (r = parse_platform(p, platform, auth)) < 0)
		return r;
	if (p->n_auths == 0)
		return dcr_ydoc_fail(&p->y, a, DCR_EINVALID,
			"no way to authenticate participants: give 'ca' files or 'platform: true'");
	/* Exactly one authority per participant: at most one may take everyone the lists leave. */
	for (size_t i = 0; i < p->n_auths; i++) {
		if (!p->auths[i].catch_all)
			continue;
		if (rest)
			return dcr_ydoc_fail(&p->y, p->auths[i].node, DCR_EINVALID,
				"%s and %s would both certify every participant: say which participants each certifies "
				"with 'certifies' (see AUTHENTICATION in dcr-room(5))", rest->what, p->auths[i].what);
		rest = &p->auths[i];
	}
	sort(auth->ca_certificates, auth->n_ca_certificates, sizeof(*auth->ca_certificates), cmp_binary);
	for (size_t i = 1; i < auth->n_ca_certificates; i++)
		if (cmp_binary(&auth->ca_certificates[i - 1], &auth->ca_certificates[i]) == 0)
			return dcr_ydoc_fail(&p->y, ca, DCR_EINVALID, "the same CA certificate is listed twice");
	for (size_t i = 0; i < p->n_auths; i++) {
		struct authority *au = &p->auths[i];

		if (!NEW_ARRAY(p, au->cas, au->n_certs))
			return oom(p);
		for (size_t k = 0; k < au->n_certs; k++) {
			const ProtobufCBinaryData *at = bsearch(&au->certs[k], auth->ca_certificates, auth->n_ca_certificates,
				sizeof(*auth->ca_certificates), cmp_binary);

			au->cas[k] = (uint32_t)(at - auth->ca_certificates);
		}
		sort(au->cas, au->n_certs, sizeof(*au->cas), cmp_u32);
	}
	p->room->def.authentication = auth;
	return 0;
}

/*
 * The authority that certifies participant part (named at k): the one whose
 * 'certifies' names its address, else the one naming its domain, else the
 * one without 'certifies'.
 */
static int assign_authority(struct parse *p, yaml_node_t *k, Dcr__V1__Participant *part)
{
	const char *domain = strchr(part->email, '@') + 1;
	struct certify *by_address = NULL, *by_domain = NULL;
	struct authority *au = NULL;

	for (size_t i = 0; i < p->n_certifies; i++) {
		if (strcmp(p->certifies[i].name, part->email) == 0)
			by_address = &p->certifies[i];
		else if (strcmp(p->certifies[i].name, domain) == 0)
			by_domain = &p->certifies[i];
	}
	if (by_address || by_domain) {
		struct certify *c = by_address ? by_address : by_domain;

		c->used = true;
		au = &p->auths[c->authority];
	}
	for (size_t i = 0; !au && i < p->n_auths; i++)
		if (p->auths[i].catch_all)
			au = &p->auths[i];
	if (!au)
		return dcr_ydoc_fail(&p->y, k, DCR_EINVALID, "no CA certifies '%s': add its address or domain to the "
							     "'certifies' of a CA in 'authentication'", part->email);
	au->used = true;
	part->platform = au->platform;
	part->cas = au->cas;
	part->n_cas = au->n_certs;
	return 0;
}

/* Every authority and every 'certifies' item must decide some participant's CA: anything else is a slip. */
static int check_authorities_used(struct parse *p)
{
	for (size_t i = 0; i < p->n_certifies; i++)
		if (!p->certifies[i].used)
			return dcr_ydoc_fail(&p->y, p->certifies[i].node, DCR_EINVALID,
				"'%s' in 'certifies' certifies no participant", p->certifies[i].name);
	for (size_t i = 0; i < p->n_auths; i++)
		if (!p->auths[i].used)
			return dcr_ydoc_fail(&p->y, p->auths[i].node, DCR_EINVALID, "%s certifies no participant",
				p->auths[i].what);
	return 0;
}

/* ---- data nodes ---- */

static const char *const column_types[] = { "string", "int64", "float64", "bool", "date", NULL };

/* A column's csv_header: what a spreadsheet calls it, which need not be an SQL name. */
static int parse_csv_header(struct parse *p, yaml_node_t *c, const Dcr__V1__TableNode *t, Dcr__V1__Column *col)
{
	yaml_node_t *v = dcr_ydoc_get(&p->y, c, "csv_header");
	const char *h;
	int r;

	if (!v)
		return 0;
	if (!t->header)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			"column '%s' has a csv_header, but the table has no header (header: false)", col->name);
	if ((r = dcr_ydoc_string(&p->y, v, "a CSV header", MAX_CSV_HEADER, &h)) < 0)
		return r;
	if (!*h || !printable(h, false))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			"the csv_header of column '%s' must be 1 to %d bytes without control characters", col->name,
			MAX_CSV_HEADER);
	/* Naming the column's own name changes nothing, not even the room ID. */
	if (strcmp(h, col->name) != 0 && !(col->csv_header = dup_str(p->room, h)))
		return oom(p);
	return 0;
}

static int parse_columns(struct parse *p, yaml_node_t *list, Dcr__V1__TableNode *t)
{
	static const char *const keys[] = { "name", "type", "nullable", "csv_header", NULL };
	size_t n;
	int r;

	if ((r = dcr_ydoc_sequence(&p->y, list, "columns", MAX_COLUMNS)) < 0)
		return r;
	n = dcr_ydoc_count(list);
	if (n == 0)
		return dcr_ydoc_fail(&p->y, list, DCR_EINVALID, "a table needs at least one column");
	if (!NEW_ARRAY(p, t->columns, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *c = dcr_ydoc_node(&p->y, list->data.sequence.items.start[i]), *v;
		Dcr__V1__Column *col;
		const char *name, *type;
		size_t ti;

		if ((r = dcr_ydoc_mapping(&p->y, c, "a column", keys)) < 0)
			return r;
		if (!(v = dcr_ydoc_get(&p->y, c, "name")))
			return dcr_ydoc_fail(&p->y, c, DCR_EINVALID, "column %zu has no name", i + 1);
		if ((r = dcr_ydoc_string(&p->y, v, "a column name", MAX_NAME, &name)) < 0)
			return r;
		if (!valid_node_name(name))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
				"column name '%s' must start with a-z or '_' and use a-z, 0-9, '_'", name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(t->columns[j]->name, name) == 0)
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "duplicate column '%s'", name);
		if (!(v = dcr_ydoc_get(&p->y, c, "type")))
			return dcr_ydoc_fail(&p->y, c, DCR_EINVALID, "column '%s' has no type (%s)", name,
				"string, int64, float64, bool or date");
		if ((r = dcr_ydoc_string(&p->y, v, "a column type", 16, &type)) < 0)
			return r;
		for (ti = 0; column_types[ti] && strcmp(column_types[ti], type) != 0; ti++)
			;
		if (!column_types[ti]) {
			char hb[96];
			const char *hint = dcr_suggest(type, column_types);

			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
				"unknown column type '%s'%s (string, int64, float64, bool or date)", type,
				dcr_hint_phrase(hint, hb, sizeof(hb)));
		}
		if (!NEW(p, col))
			return oom(p);
		dcr__v1__column__init(col);
		col->name = dup_str(p->room, name);
		col->type = (Dcr__V1__ColumnType)(ti + 1);
		if ((r = get_bool(p, c, "nullable", &col->nullable)) < 0)
			return r;
		if (!col->name)
			return oom(p);
		if ((r = parse_csv_header(p, c, t, col)) < 0)
			return r;
		/* A name another column reads as its header would make the header ambiguous. */
		for (size_t j = 0; j < t->n_columns; j++)
			if (strcmp(dcr_room_column_header(t->columns[j]), dcr_room_column_header(col)) == 0)
				return dcr_ydoc_fail(&p->y, c, DCR_EINVALID,
					"columns '%s' and '%s' both read the CSV header '%s'", t->columns[j]->name,
					col->name, dcr_room_column_header(col));
		t->columns[t->n_columns++] = col;
	}
	return 0;
}

static int parse_table(struct parse *p, yaml_node_t *m, Dcr__V1__DataNode *d)
{
	static const char *const keys[] = { "type", "columns", "header", "delimiter", "privacy", NULL };
	Dcr__V1__TableNode *t;
	yaml_node_t *v;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "a table node", keys)) < 0)
		return r;
	if (!NEW(p, t))
		return oom(p);
	dcr__v1__table_node__init(t);
	t->header = true;
	t->delimiter = ',';
	/* The header first: the columns' csv_header needs one. */
	if ((r = get_bool(p, m, "header", &t->header)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(&p->y, m, "columns")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "table '%s' has no columns", d->name);
	if ((r = parse_columns(p, v, t)) < 0)
		return r;
	if ((v = dcr_ydoc_get(&p->y, m, "delimiter"))) {
		const char *s;

		if ((r = dcr_ydoc_string(&p->y, v, "delimiter", 8, &s)) < 0)
			return r;
		if (strcmp(s, "\\t") == 0)
			s = "\t";
		if (strlen(s) != 1 || (unsigned char)s[0] > 0x7e || strchr("\"\r\n", s[0]) ||
		    ((unsigned char)s[0] < 0x20 && s[0] != '\t'))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
				"delimiter must be one printable ASCII character or a tab, not '\"' or a newline");
		t->delimiter = (uint32_t)(unsigned char)s[0];
	}
	d->kind_case = DCR__V1__DATA_NODE__KIND_TABLE;
	d->table = t;
	if ((v = dcr_ydoc_get(&p->y, m, "privacy")))
		return parse_table_privacy(p, v, d);
	return 0;
}

static int parse_data_node(struct parse *p, yaml_node_t *k, yaml_node_t *m, Dcr__V1__DataNode *d)
{
	static const char *const kinds[] = { "table", "file", "code", NULL };
	yaml_node_t *v;
	const char *type;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "a data node", NULL)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(&p->y, m, "type")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "data node '%s' has no type (table, file or code)", d->name);
	if ((r = dcr_ydoc_string(&p->y, v, "type", 16, &type)) < 0)
		return r;
	if (strcmp(type, "table") == 0)
		return parse_table(p, m, d);
	if (strcmp(type, "file") == 0) {
		static const char *const keys[] = { "type", NULL };

		if ((r = dcr_ydoc_mapping(&p->y, m, "a file node", keys)) < 0)
			return r;
		if (!NEW(p, d->file))
			return oom(p);
		dcr__v1__file_node__init(d->file);
		d->kind_case = DCR__V1__DATA_NODE__KIND_FILE;
		return 0;
	}
	if (strcmp(type, "code") == 0) {
		static const char *const keys[] = { "type", "sha256", NULL };
		const char *hex;

		if ((r = dcr_ydoc_mapping(&p->y, m, "a code node", keys)) < 0)
			return r;
		if (!(v = dcr_ydoc_get(&p->y, m, "sha256")))
			return dcr_ydoc_fail(&p->y, m, DCR_EINVALID,
				"code node '%s' must pin the code's sha256", d->name);
		if ((r = dcr_ydoc_string(&p->y, v, "sha256", 64, &hex)) < 0)
			return r;
		if (!NEW(p, d->code))
			return oom(p);
		dcr__v1__code_node__init(d->code);
		if (!(d->code->sha256.data = alloc(p->room, 32)))
			return oom(p);
		d->code->sha256.len = 32;
		if (dcr_unhex(hex, d->code->sha256.data, 32) < 0)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "sha256 must be 64 hex digits");
		d->kind_case = DCR__V1__DATA_NODE__KIND_CODE;
		return 0;
	}
	{
		char hb[96];
		const char *hint = dcr_suggest(type, kinds);

		(void)k;
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "unknown data node type '%s'%s (table, file or code)",
			type, dcr_hint_phrase(hint, hb, sizeof(hb)));
	}
}

/* ---- lookups across nodes ---- */

static Dcr__V1__DataNode *find_data(struct parse *p, const char *name)
{
	for (size_t i = 0; i < p->room->def.n_data; i++)
		if (strcmp(p->room->def.data[i]->name, name) == 0)
			return p->room->def.data[i];
	return NULL;
}

static ssize_t find_compute(struct parse *p, const char *name)
{
	for (size_t i = 0; i < p->room->def.n_compute; i++)
		if (strcmp(p->room->def.compute[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* SQL names are case-insensitive; node names are lowercase. */
static ssize_t find_compute_sql(struct parse *p, const char *name)
{
	for (size_t i = 0; i < p->room->def.n_compute; i++)
		if (strcasecmp(p->room->def.compute[i]->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static Dcr__V1__DataNode *find_data_sql(struct parse *p, const char *name)
{
	for (size_t i = 0; i < p->room->def.n_data; i++)
		if (strcasecmp(p->room->def.data[i]->name, name) == 0)
			return p->room->def.data[i];
	return NULL;
}

/* "did you mean" over every node name. */
static const char *suggest_node(struct parse *p, const char *name)
{
	const char *names[MAX_NODES + 1];
	size_t n = 0;

	for (size_t i = 0; i < p->room->def.n_data; i++)
		names[n++] = p->room->def.data[i]->name;
	for (size_t i = 0; i < p->room->def.n_compute; i++)
		names[n++] = p->room->def.compute[i]->name;
	names[n] = NULL;
	return dcr_suggest(name, names);
}

static int no_such_node(struct parse *p, yaml_node_t *at, const char *what, const char *name)
{
	char hb[96];
	const char *hint = suggest_node(p, name);

	return dcr_ydoc_fail(&p->y, at, DCR_EINVALID, "%s '%s' does not exist%s", what, name,
		dcr_hint_phrase(hint, hb, sizeof(hb)));
}

static int add_depend(struct parse *p, Dcr__V1__Computation *c, const char *name)
{
	for (size_t i = 0; i < c->n_depends; i++)
		if (strcmp(c->depends[i], name) == 0)
			return 0;
	/* depends was sized for every computation. */
	c->depends[c->n_depends++] = (char *)name;
	return 0;
}

/* ---- computations ---- */

static int parse_duration_ms(struct parse *p, yaml_node_t *v, uint64_t *out)
{
	const char *s;
	int r;

	if ((r = dcr_ydoc_string(&p->y, v, "time", 32, &s)) < 0)
		return r;
	if (dcr_duration_parse(s, out) < 0)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "time must be a number with a unit: ms, s, m or h (like 90s)");
	if (*out == 0 || *out > 24ULL * 3600000)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "time limit must be above 0 and at most 24h");
	return 0;
}

static int parse_bytes(struct parse *p, yaml_node_t *v, uint64_t *out)
{
	const char *s;
	int r;

	if ((r = dcr_ydoc_string(&p->y, v, "memory", 32, &s)) < 0)
		return r;
	if (dcr_size_parse(s, out) < 0)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			"memory must be a number with a unit: KiB, MiB, GiB, KB, MB or GB (like 512MiB)");
	if (*out < (16ULL << 20) || *out > (64ULL << 30))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "memory limit must be between 16MiB and 64GiB");
	return 0;
}

/* An absolute path under prefix (ending in '/') with no empty, '.' or '..' component. */
static bool valid_path_under(const char *prefix, const char *s)
{
	const char *c;

	if (strncmp(s, prefix, strlen(prefix)) != 0 || strlen(s) > 255)
		return false;
	for (c = s + strlen(prefix);;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
				return false;
		if (!slash)
			return true;
		c = slash + 1;
	}
}

static int parse_mounts(struct parse *p, yaml_node_t *m, Dcr__V1__Computation *c, Dcr__V1__PythonComputation *py)
{
	size_t n;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "mounts", NULL)) < 0)
		return r;
	n = dcr_ydoc_count(m);
	if (n > MAX_MOUNTS)
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "more than %d mounts", MAX_MOUNTS);
	if (!NEW_ARRAY(p, py->mounts, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pair = &m->data.mapping.pairs.start[i];
		yaml_node_t *k = dcr_ydoc_node(&p->y, pair->key), *v = dcr_ydoc_node(&p->y, pair->value);
		const char *path = (const char *)k->data.scalar.value, *node;
		Dcr__V1__Mount *mount;

		if (!valid_path_under("/input/", path))
			return dcr_ydoc_fail(&p->y, k, DCR_EINVALID,
				"mount '%s' must be a path under /input/ without '.', '..' or empty parts", path);
		for (size_t j = 0; j < i; j++) {
			const char *other = py->mounts[j]->path;
			size_t lo = strlen(other);

			if (strncmp(other, path, lo) == 0 && path[lo] == '/')
				return dcr_ydoc_fail(&p->y, k, DCR_EINVALID, "mount '%s' lies inside mount '%s'", path, other);
			if (strncmp(other, path, strlen(path)) == 0 && other[strlen(path)] == '/')
				return dcr_ydoc_fail(&p->y, k, DCR_EINVALID, "mount '%s' contains mount '%s'", path, other);
		}
		if ((r = dcr_ydoc_string(&p->y, v, "a mounted node", MAX_NAME, &node)) < 0)
			return r;
		if (table_privacy(find_data(p, node)))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "python computation '%s' mounts '%s', a table with "
				"a privacy rule; only aggregate computations may read it", c->name, node);
		if (find_data(p, node)) {
			char module[MAX_NAME + 8];

			/* Data nodes are always available; a code node is also a module in /code (dcr-room(5)). */
			snprintf(module, sizeof(module), "%s.py", node);
			if (find_data(p, node)->kind_case == DCR__V1__DATA_NODE__KIND_CODE && py->script_name &&
			    strcmp(py->script_name, module) == 0)
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "code node '%s' is the module /code/%s.py, "
					"which is also the path of the script '%s': rename one", node, node, py->script_name);
		} else if (find_compute(p, node) >= 0) {
			if (strcmp(node, c->name) == 0)
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "computation '%s' mounts its own output", node);
			add_depend(p, c, p->room->def.compute[find_compute(p, node)]->name);
		} else {
			return no_such_node(p, v, "mounted node", node);
		}
		if (!NEW(p, mount))
			return oom(p);
		dcr__v1__mount__init(mount);
		mount->path = dup_str(p->room, path);
		mount->node = dup_str(p->room, node);
		if (!mount->path || !mount->node)
			return oom(p);
		py->mounts[py->n_mounts++] = mount;
	}
	return 0;
}

/* Directories of the sandbox's read-only image (dcr-room(5), THE SANDBOX) where a program may be. */
static const char *const image_dirs[] = { "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc/alternatives" };

/*
 * Whether the command's program can run in the python sandbox: what no
 * sandbox has is refused here, in dcr and dcrd alike; whether the image
 * of this dcrd has it, by the files' program hook (dcrd's).
 */
static int check_program(struct parse *p, yaml_node_t *item, const char *prog)
{
	struct dcr_err why;
	bool image = false;

	if (prog[0] != '/' && strchr(prog, '/'))
		return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "program '%s' is a relative path, but the command "
			"starts in /tmp, which is empty: name a program (python3) or an absolute path", prog);
	for (size_t i = 0; prog[0] == '/' && i < sizeof(image_dirs) / sizeof(image_dirs[0]); i++) {
		size_t n = strlen(image_dirs[i]);

		image |= strncmp(prog, image_dirs[i], n) == 0 && prog[n] == '/';
	}
	if (prog[0] == '/' && !image)
		return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "program '%s' is not in the sandbox's image (/usr and "
			"the links into it)%s", prog,
			strncmp(prog, "/code/", 6) == 0 || strncmp(prog, "/input/", 7) == 0 ?
				": scripts and inputs are not executable, run them with python3 (command: [python3, "
				"PATH])" : "");
	if (p->files->program && p->files->program(prog, &why) < 0)
		return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "%s", why.msg);
	return 0;
}

static int parse_command(struct parse *p, yaml_node_t *v, Dcr__V1__PythonComputation *py)
{
	size_t n;
	int r;

	if ((r = dcr_ydoc_sequence(&p->y, v, "command", MAX_COMMAND_ARGS)) < 0)
		return r;
	n = dcr_ydoc_count(v);
	if (n == 0)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "command must not be empty");
	if (!NEW_ARRAY(p, py->command, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		const char *arg;

		yaml_node_t *item = dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]);

		if ((r = dcr_ydoc_string(&p->y, item, "a command argument", MAX_TEXT, &arg)) < 0)
			return r;
		if (!printable(arg, false))
			return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "a command argument contains control characters");
		if (i == 0 && (r = check_program(p, item, arg)) < 0)
			return r;
		if (!(py->command[py->n_command++] = dup_str(p->room, arg)))
			return oom(p);
	}
	return 0;
}

/* Key of mapping m, one of two words: *second is whether it is the second (absent: the first, the default). */
static int parse_either(struct parse *p, yaml_node_t *m, const char *key, const char *first, const char *second_word,
	bool *second)
{
	yaml_node_t *v = dcr_ydoc_get(&p->y, m, key);
	const char *word;
	int r;

	*second = false;
	if (!v)
		return 0;
	if ((r = dcr_ydoc_string(&p->y, v, key, 16, &word)) < 0)
		return r;
	*second = strcmp(word, second_word) == 0;
	if (!*second && strcmp(word, first) != 0)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "%s must be '%s' or '%s'", key, first, second_word);
	return 0;
}

static int parse_python(struct parse *p, yaml_node_t *m, Dcr__V1__Computation *c)
{
	static const char *const keys[] = { "type", "script", "code", "command", "mounts", "output",
		"limits", "logs", "result", "depends", NULL };
	static const char *const limit_keys[] = { "time", "memory", NULL };
	Dcr__V1__PythonComputation *py;
	yaml_node_t *script = dcr_ydoc_get(&p->y, m, "script"), *code = dcr_ydoc_get(&p->y, m, "code"), *v;
	char entry[512];
	bool second;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "a python computation", keys)) < 0)
		return r;
	if (!NEW(p, py))
		return oom(p);
	dcr__v1__python_computation__init(py);
	if (!script == !code)
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID,
			"python computation '%s' needs exactly one of 'script' (a file) or 'code' (a code node)", c->name);
	if (script) {
		const char *rel;
		char *copy, *base;
		uint8_t *buf;
		size_t len;

		if ((r = dcr_ydoc_string(&p->y, script, "script", 4096, &rel)) < 0)
			return r;
		if ((r = read_referenced(p, script, "script", rel, MAX_SCRIPT, &buf, &len)) < 0)
			return r;
		py->script.data = alloc(p->room, len);
		if (py->script.data)
			memcpy(py->script.data, buf, len);
		py->script.len = len;
		free(buf);
		copy = dup_str(p->room, rel);
		if (!py->script.data || !copy)
			return oom(p);
		base = basename(copy);
		if (!base[0] || strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			return dcr_ydoc_fail(&p->y, script, DCR_EINVALID, "script '%s' names no file", rel);
		py->script_name = dup_str(p->room, base);
		snprintf(entry, sizeof(entry), "/code/%s", base);
	} else {
		const char *node;
		Dcr__V1__DataNode *d;

		if ((r = dcr_ydoc_string(&p->y, code, "code", MAX_NAME, &node)) < 0)
			return r;
		d = find_data(p, node);
		if (!d && find_compute(p, node) < 0)
			return no_such_node(p, code, "code node", node);
		if (!d || d->kind_case != DCR__V1__DATA_NODE__KIND_CODE)
			return dcr_ydoc_fail(&p->y, code, DCR_EINVALID, "'%s' is not a code node", node);
		py->code_node = dup_str(p->room, node);
		snprintf(entry, sizeof(entry), "/code/%s.py", node);
	}
	if ((v = dcr_ydoc_get(&p->y, m, "command"))) {
		if ((r = parse_command(p, v, py)) < 0)
			return r;
	} else {
		/* The default is written out so that spelling it gives the same room ID. */
		if (!NEW_ARRAY(p, py->command, 2))
			return oom(p);
		py->command[0] = dup_str(p->room, "python3");
		py->command[1] = dup_str(p->room, entry);
		py->n_command = 2;
	}
	if ((v = dcr_ydoc_get(&p->y, m, "mounts")) && (r = parse_mounts(p, v, c, py)) < 0)
		return r;
	py->output = NULL;
	if ((v = dcr_ydoc_get(&p->y, m, "output"))) {
		const char *out;

		if ((r = dcr_ydoc_string(&p->y, v, "output", 255, &out)) < 0)
			return r;
		if (strcmp(out, "/output") != 0 && !valid_path_under("/output/", out))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
				"output must be /output or a directory under it, without '.', '..' or empty parts");
		py->output = dup_str(p->room, out);
	} else {
		py->output = dup_str(p->room, "/output");
	}
	py->time_limit_ms = 60000;
	py->memory_limit_bytes = 1ULL << 30;
	if ((v = dcr_ydoc_get(&p->y, m, "limits"))) {
		yaml_node_t *l;

		if ((r = dcr_ydoc_mapping(&p->y, v, "limits", limit_keys)) < 0)
			return r;
		if ((l = dcr_ydoc_get(&p->y, v, "time")) && (r = parse_duration_ms(p, l, &py->time_limit_ms)) < 0)
			return r;
		if ((l = dcr_ydoc_get(&p->y, v, "memory")) && (r = parse_bytes(p, l, &py->memory_limit_bytes)) < 0)
			return r;
	}
	if ((r = parse_either(p, m, "logs", "hidden", "visible", &second)) < 0)
		return r;
	py->logs = second ? DCR__V1__LOG_POLICY__LOG_POLICY_VISIBLE : DCR__V1__LOG_POLICY__LOG_POLICY_HIDDEN;
	if ((r = parse_either(p, m, "result", "zip", "file", &second)) < 0)
		return r;
	py->result = second ? DCR__V1__RESULT_FORMAT__RESULT_FORMAT_FILE : DCR__V1__RESULT_FORMAT__RESULT_FORMAT_ZIP;
	if (!py->output || !py->command[0] || !py->command[py->n_command - 1] || (script && !py->script_name) ||
	    (code && !py->code_node))
		return oom(p);
	c->kind_case = DCR__V1__COMPUTATION__KIND_PYTHON;
	c->python = py;
	return 0;
}

static int parse_sql(struct parse *p, yaml_node_t *m, Dcr__V1__Computation *c, struct compute_src *src)
{
	static const char *const keys[] = { "type", "query", "engine", "privacy", "depends", NULL };
	static const char *const engines[] = { "sqlite", "duckdb", NULL };
	Dcr__V1__SqlComputation *sql;
	yaml_node_t *v;
	const char *q;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "an sql computation", keys)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(&p->y, m, "query")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "sql computation '%s' has no query", c->name);
	if ((r = dcr_ydoc_string(&p->y, v, "query", MAX_QUERY, &q)) < 0)
		return r;
	src->query = v;
	if (!NEW(p, sql))
		return oom(p);
	dcr__v1__sql_computation__init(sql);
	if (!(sql->query = dup_str(p->room, q)))
		return oom(p);
	/* No rule can be enforced on arbitrary SQL: refused here rather than at run time. */
	if ((v = dcr_ydoc_get(&p->y, m, "privacy")))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "privacy rules apply to aggregate computations and table "
			"nodes, not to SQL; write '%s' as type: aggregate (dcr-room(5), PRIVACY RULES)", c->name);
	if ((v = dcr_ydoc_get(&p->y, m, "engine"))) {
		const char *e, *hint;
		char hb[96];

		if ((r = dcr_ydoc_string(&p->y, v, "engine", 16, &e)) < 0)
			return r;
		if (strcmp(e, "duckdb") == 0) {
			/* Its release is part of the room: the one this dcr was built against (dcrd runs only that one). */
			if (!DCR_DUCKDB_VERSION[0])
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "computation '%s' uses engine duckdb, and "
					"this build has no DuckDB (scripts/install-deps.sh installs it)", c->name);
			sql->engine = DCR__V1__SQL_ENGINE__SQL_ENGINE_DUCKDB;
			if (!(sql->engine_version = dup_str(p->room, DCR_DUCKDB_VERSION)))
				return oom(p);
		} else if (strcmp(e, "sqlite") != 0) {
			hint = dcr_suggest(e, engines);
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "unknown engine '%s'%s (sqlite or duckdb)", e,
				dcr_hint_phrase(hint, hb, sizeof(hb)));
		}
	}
	c->kind_case = DCR__V1__COMPUTATION__KIND_SQL;
	c->sql = sql;
	return 0;
}

static int parse_computation(struct parse *p, yaml_node_t *m, Dcr__V1__Computation *c, struct compute_src *src)
{
	static const char *const kinds[] = { "sql", "python", "aggregate", NULL };
	yaml_node_t *v;
	const char *type;
	int r;

	src->node = m;
	if ((r = dcr_ydoc_mapping(&p->y, m, "a computation", NULL)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(&p->y, m, "type")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "computation '%s' has no type (sql, aggregate or python)",
			c->name);
	if ((r = dcr_ydoc_string(&p->y, v, "type", 16, &type)) < 0)
		return r;
	if (!NEW_ARRAY(p, c->depends, p->room->def.n_compute))
		return oom(p);
	if (strcmp(type, "sql") == 0)
		r = parse_sql(p, m, c, src);
	else if (strcmp(type, "python") == 0)
		r = parse_python(p, m, c);
	else if (strcmp(type, "aggregate") == 0)
		r = parse_aggregate(p, m, c);
	else {
		char hb[96];
		const char *hint = dcr_suggest(type, kinds);

		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "unknown computation type '%s'%s (sql, aggregate or python)",
			type, dcr_hint_phrase(hint, hb, sizeof(hb)));
	}
	if (r < 0)
		return r;
	if ((v = dcr_ydoc_get(&p->y, m, "depends"))) {
		if ((r = dcr_ydoc_sequence(&p->y, v, "depends", MAX_NODES)) < 0)
			return r;
		src->n_depends = dcr_ydoc_count(v);
		if (!NEW_ARRAY(p, src->depends, src->n_depends))
			return oom(p);
		for (size_t i = 0; i < src->n_depends; i++) {
			yaml_node_t *item = dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]);
			const char *name;
			ssize_t j;

			if ((r = dcr_ydoc_string(&p->y, item, "a dependency", MAX_NAME, &name)) < 0)
				return r;
			if ((j = find_compute(p, name)) < 0) {
				if (find_data(p, name))
					return dcr_ydoc_fail(&p->y, item, DCR_EINVALID,
						"'%s' is a data node; depends lists computations", name);
				return no_such_node(p, item, "computation", name);
			}
			if (strcmp(name, c->name) == 0)
				return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "computation '%s' depends on itself", name);
			src->depends[i] = item;
			add_depend(p, c, p->room->def.compute[j]->name);
		}
	}
	return 0;
}

/* ---- privacy rules and aggregate computations (dcr-room(5), PRIVACY RULES) ---- */

#define MAX_AGG_JOINS 16
#define MAX_AGG_FILTERS 64
#define MAX_AGG_GROUP_BY 16
#define MAX_AGG_SELECT 64
#define MAX_FILTER_VALUE 4096

static const Dcr__V1__Column *table_column(const Dcr__V1__TableNode *t, const char *name)
{
	for (size_t i = 0; i < t->n_columns; i++)
		if (strcmp(t->columns[i]->name, name) == 0)
			return t->columns[i];
	return NULL;
}

static const Dcr__V1__TablePrivacy *table_privacy(const Dcr__V1__DataNode *d)
{
	return d && d->kind_case == DCR__V1__DATA_NODE__KIND_TABLE ? d->table->privacy : NULL;
}

/* One of a rule's column lists: columns of the table, each once, sorted. */
static int parse_column_list(struct parse *p, yaml_node_t *v, const char *key, const Dcr__V1__DataNode *d,
	char ***out, size_t *n_out)
{
	size_t n;
	int r;

	if ((r = dcr_ydoc_sequence(&p->y, v, key, MAX_COLUMNS)) < 0)
		return r;
	n = dcr_ydoc_count(v);
	if (!NEW_ARRAY(p, *out, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]);
		const char *name;

		if ((r = dcr_ydoc_string(&p->y, item, "a column name", MAX_NAME, &name)) < 0)
			return r;
		if (!table_column(d->table, name))
			return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "table '%s' has no column '%s'", d->name, name);
		for (size_t j = 0; j < *n_out; j++)
			if (strcmp((*out)[j], name) == 0)
				return dcr_ydoc_fail(&p->y, item, DCR_EINVALID, "column '%s' is listed twice in %s", name,
					key);
		if (!((*out)[(*n_out)++] = dup_str(p->room, name)))
			return oom(p);
	}
	sort(*out, *n_out, sizeof(**out), cmp_string);
	return 0;
}

static int parse_table_privacy(struct parse *p, yaml_node_t *m, Dcr__V1__DataNode *d)
{
	static const char *const keys[] = { "min_group_size", "identity", "group_by", "aggregate", "join", NULL };
	Dcr__V1__TablePrivacy *t;
	yaml_node_t *v;
	int64_t n;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "privacy", keys)) < 0)
		return r;
	if (!NEW(p, t))
		return oom(p);
	dcr__v1__table_privacy__init(t);
	if (!(v = dcr_ydoc_get(&p->y, m, "min_group_size")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "the privacy rule of table '%s' needs min_group_size",
			d->name);
	if ((r = dcr_ydoc_int(&p->y, v, "min_group_size", 2, 1000000, &n)) < 0)
		return r;
	t->min_group_size = (uint32_t)n;
	if ((v = dcr_ydoc_get(&p->y, m, "identity"))) {
		const char *name;

		if ((r = dcr_ydoc_string(&p->y, v, "a column name", MAX_NAME, &name)) < 0)
			return r;
		if (!table_column(d->table, name))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "table '%s' has no column '%s'", d->name, name);
		if (!(t->identity = dup_str(p->room, name)))
			return oom(p);
	}
	if ((v = dcr_ydoc_get(&p->y, m, "group_by")) &&
	    (r = parse_column_list(p, v, "group_by", d, &t->group_by, &t->n_group_by)) < 0)
		return r;
	if ((v = dcr_ydoc_get(&p->y, m, "aggregate")) &&
	    (r = parse_column_list(p, v, "aggregate", d, &t->aggregate, &t->n_aggregate)) < 0)
		return r;
	if ((v = dcr_ydoc_get(&p->y, m, "join")) &&
	    (r = parse_column_list(p, v, "join", d, &t->join, &t->n_join)) < 0)
		return r;
	d->table->privacy = t;
	return 0;
}

/* What an aggregate computation uses a column for, and so which list of a rule must hold it. */
enum column_use { USE_GROUP_BY, USE_AGGREGATE, USE_JOIN, USE_FILTER };

static bool listed(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

struct agg_parse {
	struct parse *p;
	Dcr__V1__Computation *c;
	const Dcr__V1__AggregateComputation *ag; /* its joins so far */
	const Dcr__V1__DataNode *tables[1 + MAX_AGG_JOINS];
	size_t n_tables;
};

/* The table node named by v, not named before in the computation. */
static int agg_table(struct agg_parse *a, yaml_node_t *v, const Dcr__V1__DataNode **out)
{
	struct parse *p = a->p;
	const Dcr__V1__DataNode *d;
	const char *name;
	int r;

	if ((r = dcr_ydoc_string(&p->y, v, "a table node", MAX_NAME, &name)) < 0)
		return r;
	if (!(d = find_data(p, name))) {
		if (find_compute(p, name) >= 0)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
				"'%s' is a computation; an aggregate computation reads table nodes", name);
		return no_such_node(p, v, "table node", name);
	}
	if (d->kind_case != DCR__V1__DATA_NODE__KIND_TABLE)
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' is a %s node; an aggregate computation reads "
			"table nodes", name, d->kind_case == DCR__V1__DATA_NODE__KIND_FILE ? "file" : "code");
	for (size_t i = 0; i < a->n_tables; i++)
		if (a->tables[i] == d)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
				"table '%s' is read twice by '%s'; a table may appear once in an aggregate computation",
				name, a->c->name);
	*out = d;
	return 0;
}

static const char *const use_key[] = {
	[USE_GROUP_BY] = "group_by", [USE_AGGREGATE] = "aggregate", [USE_JOIN] = "join", [USE_FILTER] = "filter",
};

/*
 * The column v names ("TABLE.COLUMN", or "COLUMN" when one table of the
 * computation has it), among the first n tables, for use: a protected
 * table's rule must list it.
 */
/* Whether a rule (NULL: none) lets a column be used so. */
static bool use_ok(const Dcr__V1__TablePrivacy *rule, enum column_use use, const char *name)
{
	if (!rule)
		return true;
	return use == USE_FILTER ?
		listed(rule->group_by, rule->n_group_by, name) || listed(rule->aggregate, rule->n_aggregate, name) ||
			listed(rule->join, rule->n_join, name) :
		use == USE_GROUP_BY ? listed(rule->group_by, rule->n_group_by, name) :
		use == USE_AGGREGATE ? listed(rule->aggregate, rule->n_aggregate, name) :
				       listed(rule->join, rule->n_join, name);
}

static bool same_ref(const Dcr__V1__ColumnRef *ref, const char *table, const char *column)
{
	return strcmp(ref->table, table) == 0 && strcmp(ref->column, column) == 0;
}

/*
 * A column that the joins' on make equal to a column of a protected table
 * holds that column's values: grouping by it, or aggregating it, is using
 * the protected column. Every column of the class that table.column is in
 * (the columns the joins so far make equal, transitively) must allow the use.
 */
static int agg_equal_columns(struct agg_parse *a, yaml_node_t *v, enum column_use use, const char *table,
	const char *column)
{
	const Dcr__V1__ColumnRef *class[2 * MAX_AGG_JOINS + 1];
	Dcr__V1__ColumnRef self = DCR__V1__COLUMN_REF__INIT;
	size_t n = 1;
	bool grew = true;

	self.table = (char *)table;
	self.column = (char *)column;
	class[0] = &self;
	while (grew) {
		grew = false;
		for (size_t i = 0; i < a->ag->n_joins; i++) {
			const Dcr__V1__ColumnRef *side[2] = { a->ag->joins[i]->left, a->ag->joins[i]->right };

			for (size_t s = 0; s < 2; s++) {
				bool in = false, other = false;

				for (size_t k = 0; k < n; k++) {
					in = in || same_ref(class[k], side[s]->table, side[s]->column);
					other = other || same_ref(class[k], side[1 - s]->table, side[1 - s]->column);
				}
				if (in && !other && n < sizeof(class) / sizeof(*class)) {
					class[n++] = side[1 - s];
					grew = true;
				}
			}
		}
	}
	for (size_t k = 1; k < n; k++)
		for (size_t i = 0; i < a->n_tables; i++)
			if (strcmp(a->tables[i]->name, class[k]->table) == 0 &&
			    !use_ok(table_privacy(a->tables[i]), use, class[k]->column))
				return dcr_ydoc_fail(&a->p->y, v, DCR_EINVALID,
					"column '%s.%s' may not be used in %s: a join makes it equal to '%s.%s', which "
					"the privacy rule of '%s' does not list there", table, column,
					use == USE_FILTER ? "a filter" : use_key[use], class[k]->table, class[k]->column,
					class[k]->table);
	return 0;
}

static int agg_column(struct agg_parse *a, yaml_node_t *v, size_t n, enum column_use use, Dcr__V1__ColumnRef **out,
	const Dcr__V1__Column **col_out)
{
	struct parse *p = a->p;
	const Dcr__V1__DataNode *d = NULL;
	const Dcr__V1__Column *col = NULL;
	Dcr__V1__ColumnRef *ref;
	const char *text, *dot, *name;
	int r;

	if ((r = dcr_ydoc_string(&p->y, v, "a column", 2 * MAX_NAME + 1, &text)) < 0)
		return r;
	if ((dot = strchr(text, '.'))) {
		name = dot + 1;
		for (size_t i = 0; i < n; i++)
			if (strlen(a->tables[i]->name) == (size_t)(dot - text) &&
			    strncmp(a->tables[i]->name, text, (size_t)(dot - text)) == 0)
				d = a->tables[i];
		if (!d)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%.*s' is not a table that '%s' reads%s", (int)(dot - text),
				text, a->c->name, n < a->n_tables ? " before this join" : "");
		if (!(col = table_column(d->table, name)))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "table '%s' has no column '%s'", d->name, name);
	} else {
		name = text;
		for (size_t i = 0; i < n; i++) {
			const Dcr__V1__Column *c = table_column(a->tables[i]->table, name);

			if (c && col)
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
					"column '%s' is ambiguous: both '%s' and '%s' have it; write TABLE.COLUMN", name,
					d->name, a->tables[i]->name);
			if (c) {
				col = c;
				d = a->tables[i];
			}
		}
		if (!col)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "no table that '%s' reads has a column '%s'", a->c->name,
				name);
	}
	if (!use_ok(table_privacy(d), use, name))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			use == USE_FILTER ? "column '%s.%s' may not be filtered on: the privacy rule of '%s' lists "
					    "it in none of group_by, aggregate and join" :
					    "column '%s.%s' may not be used in %s: the privacy rule of '%s' does not "
					    "list it there",
			d->name, name, use == USE_FILTER ? d->name : use_key[use], d->name);
	if (use != USE_JOIN && (r = agg_equal_columns(a, v, use, d->name, name)) < 0)
		return r;
	if (!NEW(p, ref))
		return oom(p);
	dcr__v1__column_ref__init(ref);
	ref->table = d->name;
	if (!(ref->column = dup_str(p->room, name)))
		return oom(p);
	*out = ref;
	if (col_out)
		*col_out = col;
	return 0;
}

static int agg_joins(struct agg_parse *a, yaml_node_t *v, Dcr__V1__AggregateComputation *ag)
{
	static const char *const keys[] = { "table", "on", NULL };
	struct parse *p = a->p;
	size_t n;
	int r;

	if ((r = dcr_ydoc_sequence(&p->y, v, "join", MAX_AGG_JOINS)) < 0)
		return r;
	n = dcr_ydoc_count(v);
	if (!NEW_ARRAY(p, ag->joins, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *m = dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]), *t, *on, *l, *rt;
		const Dcr__V1__Column *lc, *rc;
		Dcr__V1__AggregateJoin *j;

		if ((r = dcr_ydoc_mapping(&p->y, m, "a join", keys)) < 0)
			return r;
		if (!(t = dcr_ydoc_get(&p->y, m, "table")) || !(on = dcr_ydoc_get(&p->y, m, "on")))
			return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "a join needs table and on");
		if (!NEW(p, j))
			return oom(p);
		dcr__v1__aggregate_join__init(j);
		if ((r = agg_table(a, t, &a->tables[a->n_tables])) < 0)
			return r;
		j->table = a->tables[a->n_tables++]->name;
		if ((r = dcr_ydoc_sequence(&p->y, on, "on", 2)) < 0)
			return r;
		if (dcr_ydoc_count(on) != 2)
			return dcr_ydoc_fail(&p->y, on, DCR_EINVALID,
				"on lists two columns that must be equal: one of a table before, one of '%s'", j->table);
		l = dcr_ydoc_node(&p->y, on->data.sequence.items.start[0]);
		rt = dcr_ydoc_node(&p->y, on->data.sequence.items.start[1]);
		if ((r = agg_column(a, l, a->n_tables, USE_JOIN, &j->left, &lc)) < 0 ||
		    (r = agg_column(a, rt, a->n_tables, USE_JOIN, &j->right, &rc)) < 0)
			return r;
		/* Either order in the file; the joined table's column on the right. */
		if (strcmp(j->left->table, j->table) == 0) {
			Dcr__V1__ColumnRef *tmp = j->left;

			j->left = j->right;
			j->right = tmp;
		}
		if (strcmp(j->right->table, j->table) != 0 || strcmp(j->left->table, j->table) == 0)
			return dcr_ydoc_fail(&p->y, on, DCR_EINVALID,
				"on lists two columns that must be equal: one of a table before, one of '%s'", j->table);
		if (strcmp(dcr_room_column_sql_type(lc->type), dcr_room_column_sql_type(rc->type)) != 0)
			return dcr_ydoc_fail(&p->y, on, DCR_EINVALID, "join columns '%s.%s' (%s) and '%s.%s' (%s) differ "
				"in type", j->left->table, j->left->column, dcr_room_column_type_name(lc->type),
				j->right->table, j->right->column, dcr_room_column_type_name(rc->type));
		ag->joins[ag->n_joins++] = j;
	}
	return 0;
}

/* A filter's value, as SQL will compare it: the column's type, written as the YAML wrote it. */
bool dcr_room_filter_value_ok(Dcr__V1__ColumnType type, const char *s)
{
	char *end;

	switch (type) {
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
		if (!*s || isspace((unsigned char)*s))
			return false;
		errno = 0;
		(void)strtoll(s, &end, 10);
		return !*end && errno == 0;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64: {
		double d;

		if (!*s || isspace((unsigned char)*s))
			return false;
		d = strtod(s, &end);
		/* Digits, sign, point and exponent only: no "nan", "inf" or hex. */
		return !*end && isfinite(d) && strspn(s, "0123456789+-.eE") == strlen(s);
	}
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
		return strcmp(s, "true") == 0 || strcmp(s, "false") == 0;
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_DATE:
		return strlen(s) == 10 && strspn(s, "0123456789") == 4 && s[4] == '-' &&
		       strspn(s + 5, "0123456789") == 2 && s[7] == '-' && strspn(s + 8, "0123456789") == 2;
	default:
		return true;
	}
}

static const char *const filter_ops[] = { "=", "!=", "<", "<=", ">", ">=", NULL };

static int agg_filters(struct agg_parse *a, yaml_node_t *v, Dcr__V1__AggregateComputation *ag)
{
	static const char *const keys[] = { "column", "op", "value", NULL };
	struct parse *p = a->p;
	size_t n;
	int r;

	if ((r = dcr_ydoc_sequence(&p->y, v, "where", MAX_AGG_FILTERS)) < 0)
		return r;
	n = dcr_ydoc_count(v);
	if (!NEW_ARRAY(p, ag->filters, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *m = dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]), *c, *o, *val;
		const Dcr__V1__Column *col;
		Dcr__V1__AggregateFilter *f;
		const char *s;

		if ((r = dcr_ydoc_mapping(&p->y, m, "a filter", keys)) < 0)
			return r;
		if (!(c = dcr_ydoc_get(&p->y, m, "column")) || !(val = dcr_ydoc_get(&p->y, m, "value")))
			return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "a filter needs column and value");
		if (!NEW(p, f))
			return oom(p);
		dcr__v1__aggregate_filter__init(f);
		if ((r = agg_column(a, c, a->n_tables, USE_FILTER, &f->column, &col)) < 0)
			return r;
		if ((o = dcr_ydoc_get(&p->y, m, "op"))) {
			size_t k;

			if ((r = dcr_ydoc_string(&p->y, o, "op", 2, &s)) < 0)
				return r;
			for (k = 0; filter_ops[k] && strcmp(filter_ops[k], s) != 0; k++)
				;
			if (!filter_ops[k])
				return dcr_ydoc_fail(&p->y, o, DCR_EINVALID, "unknown op '%s' (=, !=, <, <=, >, >=)", s);
			f->op = (Dcr__V1__FilterOp)k;
		}
		if ((r = dcr_ydoc_string(&p->y, val, "a value", MAX_FILTER_VALUE, &s)) < 0)
			return r;
		if (!dcr_room_filter_value_ok(col->type, s))
			return dcr_ydoc_fail(&p->y, val, DCR_EINVALID, "'%.64s' is not a value of column '%s.%s' (%s)", s,
				f->column->table, f->column->column, dcr_room_column_type_name(col->type));
		if (!(f->value = dup_str(p->room, s)))
			return oom(p);
		ag->filters[ag->n_filters++] = f;
	}
	return 0;
}

/* The result's column names so far: none twice. */
static int agg_output_name(struct agg_parse *a, yaml_node_t *v, const Dcr__V1__AggregateComputation *ag,
	const char *name)
{
	for (size_t i = 0; i < ag->n_group_by; i++)
		if (strcmp(ag->group_by[i]->column, name) == 0)
			return dcr_ydoc_fail(&a->p->y, v, DCR_EINVALID, "the result of '%s' has two columns named '%s'",
				a->c->name, name);
	for (size_t i = 0; i < ag->n_select; i++)
		if (strcmp(ag->select[i]->name, name) == 0)
			return dcr_ydoc_fail(&a->p->y, v, DCR_EINVALID, "the result of '%s' has two columns named '%s'",
				a->c->name, name);
	return 0;
}

static const char *const agg_functions[] = { "count", "count_distinct", "sum", "avg", NULL };

static int agg_select_one(struct agg_parse *a, yaml_node_t *m, Dcr__V1__AggregateComputation *ag)
{
	static const char *const keys[] = { "name", "count", "count_distinct", "sum", "avg", "round", NULL };
	struct parse *p = a->p;
	yaml_node_t *v, *fv = NULL;
	const Dcr__V1__Column *col;
	Dcr__V1__Aggregate *g;
	const char *name, *s;
	size_t fn = 0;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "an aggregate", keys)) < 0)
		return r;
	if (!(v = dcr_ydoc_get(&p->y, m, "name")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "an aggregate needs a name");
	if ((r = dcr_ydoc_string(&p->y, v, "a column name", MAX_NAME, &name)) < 0)
		return r;
	if (!valid_node_name(name))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			"column name '%s' must start with a-z or '_' and use a-z, 0-9, '_'", name);
	if ((r = agg_output_name(a, v, ag, name)) < 0)
		return r;
	for (size_t k = 0; agg_functions[k]; k++)
		if ((v = dcr_ydoc_get(&p->y, m, agg_functions[k]))) {
			if (fv)
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "aggregate '%s' has both %s and %s", name,
					agg_functions[fn], agg_functions[k]);
			fv = v;
			fn = k;
		}
	if (!fv)
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID,
			"aggregate '%s' needs one of count, count_distinct, sum and avg (min and max are not offered)",
			name);
	if (!NEW(p, g))
		return oom(p);
	dcr__v1__aggregate__init(g);
	g->function = (Dcr__V1__AggregateFunction)fn;
	if (!(g->name = dup_str(p->room, name)))
		return oom(p);
	if ((r = dcr_ydoc_string(&p->y, fv, "a column", 2 * MAX_NAME + 1, &s)) < 0)
		return r;
	if (!(fn == 0 && strcmp(s, "*") == 0)) {
		if ((r = agg_column(a, fv, a->n_tables, USE_AGGREGATE, &g->column, &col)) < 0)
			return r;
		if (fn >= 2 && col->type != DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64 &&
		    col->type != DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64)
			return dcr_ydoc_fail(&p->y, fv, DCR_EINVALID, "%s of '%s.%s', a %s column; %s takes int64 or "
				"float64", agg_functions[fn], g->column->table, g->column->column,
				dcr_room_column_type_name(col->type), agg_functions[fn]);
	}
	if ((v = dcr_ydoc_get(&p->y, m, "round"))) {
		int64_t places;

		if (fn < 2)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "round applies to sum and avg");
		if ((r = dcr_ydoc_int(&p->y, v, "round", 0, 15, &places)) < 0)
			return r;
		g->round = (uint32_t)places + 1;
	}
	ag->select[ag->n_select++] = g;
	return 0;
}

static int parse_aggregate(struct parse *p, yaml_node_t *m, Dcr__V1__Computation *c)
{
	static const char *const keys[] = { "type", "from", "join", "where", "group_by", "select", "privacy",
		"depends", NULL };
	static const char *const privacy_keys[] = { "min_group_size", NULL };
	struct agg_parse a = { .p = p, .c = c };
	Dcr__V1__AggregateComputation *ag;
	yaml_node_t *v;
	size_t n;
	int r;

	if ((r = dcr_ydoc_mapping(&p->y, m, "an aggregate computation", keys)) < 0)
		return r;
	if (!NEW(p, ag))
		return oom(p);
	dcr__v1__aggregate_computation__init(ag);
	a.ag = ag;
	if (!(v = dcr_ydoc_get(&p->y, m, "from")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "aggregate computation '%s' has no from", c->name);
	if ((r = agg_table(&a, v, &a.tables[0])) < 0)
		return r;
	ag->from = a.tables[a.n_tables++]->name;
	if ((v = dcr_ydoc_get(&p->y, m, "join")) && (r = agg_joins(&a, v, ag)) < 0)
		return r;
	if ((v = dcr_ydoc_get(&p->y, m, "where")) && (r = agg_filters(&a, v, ag)) < 0)
		return r;
	if ((v = dcr_ydoc_get(&p->y, m, "group_by"))) {
		if ((r = dcr_ydoc_sequence(&p->y, v, "group_by", MAX_AGG_GROUP_BY)) < 0)
			return r;
		n = dcr_ydoc_count(v);
		if (!NEW_ARRAY(p, ag->group_by, n))
			return oom(p);
		for (size_t i = 0; i < n; i++) {
			yaml_node_t *item = dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]);
			Dcr__V1__ColumnRef *ref;

			if ((r = agg_column(&a, item, a.n_tables, USE_GROUP_BY, &ref, NULL)) < 0 ||
			    (r = agg_output_name(&a, item, ag, ref->column)) < 0)
				return r;
			ag->group_by[ag->n_group_by++] = ref;
		}
	}
	if (!(v = dcr_ydoc_get(&p->y, m, "select")))
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "aggregate computation '%s' has no select", c->name);
	if ((r = dcr_ydoc_sequence(&p->y, v, "select", MAX_AGG_SELECT)) < 0)
		return r;
	if (!(n = dcr_ydoc_count(v)))
		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "select lists at least one aggregate");
	if (!NEW_ARRAY(p, ag->select, n))
		return oom(p);
	for (size_t i = 0; i < n; i++)
		if ((r = agg_select_one(&a, dcr_ydoc_node(&p->y, v->data.sequence.items.start[i]), ag)) < 0)
			return r;
	if ((v = dcr_ydoc_get(&p->y, m, "privacy"))) {
		yaml_node_t *g;
		int64_t size;

		if ((r = dcr_ydoc_mapping(&p->y, v, "privacy", privacy_keys)) < 0)
			return r;
		if ((g = dcr_ydoc_get(&p->y, v, "min_group_size"))) {
			if ((r = dcr_ydoc_int(&p->y, g, "min_group_size", 1, 1000000, &size)) < 0)
				return r;
			/* Groups of at least one row is no rule at all: same room as none. */
			ag->min_group_size = size > 1 ? (uint32_t)size : 0;
		}
	}
	c->kind_case = DCR__V1__COMPUTATION__KIND_AGGREGATE;
	c->aggregate = ag;
	return 0;
}

/* ---- participants and permissions ---- */

static const char *const action_names[] = {
	[DCR__V1__ACTION__ACTION_UPLOAD] = "upload",
	[DCR__V1__ACTION__ACTION_RUN] = "run",
	[DCR__V1__ACTION__ACTION_FETCH] = "fetch",
	[DCR__V1__ACTION__ACTION_READ_DEFINITION] = "read-definition",
	[DCR__V1__ACTION__ACTION_READ_AUDIT] = "read-audit",
	[DCR__V1__ACTION__ACTION_READ_STATUS] = "read-status",
	[DCR__V1__ACTION__ACTION_STOP] = "stop",
	[DCR__V1__ACTION__ACTION_LIST_DATASETS] = "list-datasets",
};
#define N_ACTIONS (sizeof(action_names) / sizeof(*action_names))

/* The same words as a NULL-terminated list, for suggestions. */
static const char *const permission_words[] = { "upload", "run", "fetch", "read-definition", "read-audit",
	"read-status", "stop", "list-datasets", NULL };

const char *dcr_room_action_name(Dcr__V1__Action action)
{
	return (size_t)action < N_ACTIONS && action_names[action] ? action_names[action] : "?";
}

const char *dcr_room_computation_kind(const Dcr__V1__Computation *c)
{
	switch (c->kind_case) {
	case DCR__V1__COMPUTATION__KIND_SQL:
		return "sql";
	case DCR__V1__COMPUTATION__KIND_PYTHON:
		return "python";
	case DCR__V1__COMPUTATION__KIND_AGGREGATE:
		return "aggregate";
	default:
		return "unknown";
	}
}

const char *dcr_room_column_header(const Dcr__V1__Column *col)
{
	return col->csv_header && *col->csv_header ? col->csv_header : col->name;
}

const char *dcr_room_column_type_name(Dcr__V1__ColumnType type)
{
	return type >= 1 && type <= 5 ? column_types[type - 1] : "?";
}

static int parse_permission(struct parse *p, yaml_node_t *v, Dcr__V1__Permission *perm)
{
	const char *s, *space, *object;
	char verb[32];
	size_t vlen;
	int r;

	if ((r = dcr_ydoc_string(&p->y, v, "a permission", 128, &s)) < 0)
		return r;
	space = strchr(s, ' ');
	vlen = space ? (size_t)(space - s) : strlen(s);
	if (vlen >= sizeof(verb))
		vlen = sizeof(verb) - 1;
	memcpy(verb, s, vlen);
	verb[vlen] = '\0';
	object = space ? space + 1 : NULL;
	for (size_t a = 1; a < N_ACTIONS; a++) {
		bool needs_object = a <= DCR__V1__ACTION__ACTION_FETCH;

		if (strcmp(verb, action_names[a]) != 0)
			continue;
		perm->action = (Dcr__V1__Action)a;
		if (needs_object && (!object || !*object))
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' needs a node: '%s NAME'", verb, verb);
		if (!needs_object && object)
			return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "'%s' takes no node", verb);
		if (!needs_object)
			return 0;
		if (a == DCR__V1__ACTION__ACTION_UPLOAD) {
			if (!find_data(p, object)) {
				if (find_compute(p, object) >= 0)
					return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
						"cannot upload to '%s': it is a computation, not a data node", object);
				return no_such_node(p, v, "data node", object);
			}
		} else if (find_compute(p, object) < 0) {
			if (find_data(p, object))
				return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
					"cannot %s '%s': it is a data node, not a computation", verb, object);
			return no_such_node(p, v, "computation", object);
		}
		return (perm->object = dup_str(p->room, object)) ? 0 : oom(p);
	}
	{
		char hb[96];
		const char *hint = dcr_suggest(verb, permission_words);

		return dcr_ydoc_fail(&p->y, v, DCR_EINVALID,
			"unknown permission '%s'%s (upload, run, fetch, read-definition, read-audit, "
			"read-status, stop, list-datasets)", verb, dcr_hint_phrase(hint, hb, sizeof(hb)));
	}
}

static int cmp_permission(const void *a, const void *b)
{
	const Dcr__V1__Permission *x = *(Dcr__V1__Permission *const *)a, *y = *(Dcr__V1__Permission *const *)b;

	if (x->action != y->action)
		return x->action < y->action ? -1 : 1;
	return strcmp(x->object ? x->object : "", y->object ? y->object : "");
}

static int parse_participants(struct parse *p, yaml_node_t *root)
{
	yaml_node_t *m = dcr_ydoc_get(&p->y, root, "participants");
	Dcr__V1__RoomDefinition *def = &p->room->def;
	size_t n;
	int r;

	if (!m)
		return dcr_ydoc_fail(&p->y, root, DCR_EINVALID, "missing 'participants'");
	if ((r = dcr_ydoc_mapping(&p->y, m, "participants", NULL)) < 0)
		return r;
	n = dcr_ydoc_count(m);
	if (n == 0 || n > MAX_PARTICIPANTS)
		return dcr_ydoc_fail(&p->y, m, DCR_EINVALID, "a room needs 1 to %d participants", MAX_PARTICIPANTS);
	if (!NEW_ARRAY(p, def->participants, n))
		return oom(p);
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *pair = &m->data.mapping.pairs.start[i];
		yaml_node_t *k = dcr_ydoc_node(&p->y, pair->key), *list = dcr_ydoc_node(&p->y, pair->value);
		Dcr__V1__Participant *part;
		size_t np;
		char norm[DCR_EMAIL_MAX + 1], *email;

		/* The same rules as certificates: dcr auth keygen checks addresses with it too. */
		if (!dcr_pki_email_normalise((const char *)k->data.scalar.value, norm))
			return dcr_ydoc_fail(&p->y, k, DCR_EINVALID, "'%s' is not a valid e-mail address",
				(const char *)k->data.scalar.value);
		if (!NEW(p, part) || !(email = dup_str(p->room, norm)))
			return oom(p);
		dcr__v1__participant__init(part);
		for (size_t j = 0; j < def->n_participants; j++)
			if (strcmp(def->participants[j]->email, email) == 0)
				return dcr_ydoc_fail(&p->y, k, DCR_EINVALID,
					"participant '%s' is listed twice (e-mail addresses are compared without case)", email);
		part->email = email;
		if ((r = assign_authority(p, k, part)) < 0)
			return r;
		if (list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0 &&
		    list->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			np = 0; /* "alice@x:" with nothing: only the default permissions */
		} else {
			if ((r = dcr_ydoc_sequence(&p->y, list, "permissions", MAX_PERMISSIONS)) < 0)
				return r;
			np = dcr_ydoc_count(list);
		}
		if (!NEW_ARRAY(p, part->permissions, np))
			return oom(p);
		for (size_t j = 0; j < np; j++) {
			yaml_node_t *v = dcr_ydoc_node(&p->y, list->data.sequence.items.start[j]);
			Dcr__V1__Permission *perm;

			if (!NEW(p, perm))
				return oom(p);
			dcr__v1__permission__init(perm);
			perm->object = (char *)protobuf_c_empty_string;
			if ((r = parse_permission(p, v, perm)) < 0)
				return r;
			for (size_t q = 0; q < part->n_permissions; q++)
				if (cmp_permission(&part->permissions[q], &perm) == 0)
					return dcr_ydoc_fail(&p->y, v, DCR_EINVALID, "permission listed twice");
			part->permissions[part->n_permissions++] = perm;
		}
		sort(part->permissions, part->n_permissions, sizeof(*part->permissions), cmp_permission);
		def->participants[def->n_participants++] = part;
	}
	return check_authorities_used(p);
}

/* ---- SQL: checked by SQLite itself against the declared schemas ---- */

#define MAX_SQL_TOTAL (1u << 20)        /* bytes of all queries together (YAML aliases can repeat one) */
#define MAX_SQL_CHAIN 32                /* SQL computations in a chain, each reading the next */
#define MAX_SQL_EXPANDED (4ull << 20)   /* bytes of SQL a query comes to with the views it reads expanded */
#define MAX_SQL_MEMORY (64u << 20)      /* what SQLite may allocate to validate a room (dcr_sql_init) */
#define MAX_SQL_COMPILE_WORK (1ull << 30) /* what compiling a room's queries may allocate in all, freed or not */

const char *dcr_room_column_sql_type(Dcr__V1__ColumnType t)
{
	switch (t) {
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_INT64:
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_BOOL:
		return "INTEGER";
	case DCR__V1__COLUMN_TYPE__COLUMN_TYPE_FLOAT64:
		return "REAL";
	default:
		return "TEXT";
	}
}

/* An SQL computation that SQLite runs: DuckDB's are checked and run by dcrd (duckwork.c), never read by these. */
static bool sqlite_query(const Dcr__V1__Computation *c)
{
	return c->kind_case == DCR__V1__COMPUTATION__KIND_SQL && c->sql->engine == DCR__V1__SQL_ENGINE__SQL_ENGINE_SQLITE;
}

static int explain_missing_table(struct parse *p, yaml_node_t *at, const char *cname, const char *msg)
{
	const char *prefix = "no such table: ";
	const char *name = strncmp(msg, prefix, strlen(prefix)) == 0 ? msg + strlen(prefix) : NULL;
	Dcr__V1__DataNode *d;
	ssize_t j;

	if (name && (d = find_data_sql(p, name)) && d->kind_case != DCR__V1__DATA_NODE__KIND_TABLE)
		return dcr_ydoc_fail(&p->y, at, DCR_EINVALID,
			"query of '%s' reads '%s', a %s node; SQL reads table nodes and SQL computations", cname,
			name, d->kind_case == DCR__V1__DATA_NODE__KIND_FILE ? "file" : "code");
	if (name && (j = find_compute_sql(p, name)) >= 0 && !sqlite_query(p->room->def.compute[j]))
		return dcr_ydoc_fail(&p->y, at, DCR_EINVALID,
			"query of '%s' reads '%s', %s computation; SQL reads table nodes and SQL computations",
			cname, name, p->room->def.compute[j]->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON ? "a python" :
				p->room->def.compute[j]->kind_case == DCR__V1__COMPUTATION__KIND_SQL ? "a duckdb" :
				"an aggregate");
	if (name) {
		char hb[96];
		const char *hint = suggest_node(p, name);

		return dcr_ydoc_fail(&p->y, at, DCR_EINVALID, "query of '%s' reads '%s', which is not a node%s",
			cname, name, dcr_hint_phrase(hint, hb, sizeof(hb)));
	}
	return dcr_ydoc_fail(&p->y, at, DCR_EINVALID, "query of '%s': %s", cname, msg);
}

/*
 * Validating the SQL computations: each is compiled once the ones it reads
 * exist, as stand-ins (lib/sql) that cost nothing to expand, so the work is
 * about one compilation per query whatever the views: no query is compiled
 * with a chain of others inlined into it. The queries are checked in an
 * order found from the names each one's text holds, so that what a query
 * reads is usually checked before it; a query that still reads a
 * computation not checked yet fails to compile ("no such table"), that one
 * is checked first and the query again. What a query reads is what SQLite
 * expands, never what its text names: the order changes only the work.
 * All the compiling of a room together may allocate MAX_SQL_COMPILE_WORK.
 */
struct named_index {
	const char *name;
	size_t i;
};

struct sql_check {
	struct parse *p;
	struct dcr_sql *sql;
	size_t n;                  /* computations, in file order */
	struct named_index *by_name; /* sorted by name */
	size_t *stack;             /* being checked, each reading the next */
	size_t depth;
	unsigned *expansions;      /* while a query compiles: how often it expands each computation */
	struct {
		bool on_stack, done, visited;
		unsigned chain;        /* the longest chain of SQL computations it heads, itself included */
		uint64_t expanded;     /* its query's bytes, with the views it reads expanded */
	} *state;
	size_t words;              /* per row of reads */
	uint64_t *reads;           /* row i, bit j: i reads j, directly or through others */
	size_t *order;             /* the SQL computations, in the order to check them */
};

/* SQL names, as SQLite passes them on: without case. */
static int cmp_named(const void *a, const void *b)
{
	return strcasecmp(((const struct named_index *)a)->name, ((const struct named_index *)b)->name);
}

static void count_expansion(void *ctx, const char *view)
{
	struct sql_check *k = ctx;
	struct named_index key = { view, 0 };
	const struct named_index *at = bsearch(&key, k->by_name, k->n, sizeof(key), cmp_named);

	if (at && k->expansions[at->i] < UINT_MAX)
		k->expansions[at->i]++;
}

static int sql_check_query(struct sql_check *k, size_t i);

/*
 * A table the compiled query opens: a protected one stops the compilation
 * (DCR_EDENIED, its name the message). Views are stand-ins that read
 * nothing, so a query reading one through a view is refused at the view.
 */
static int refuse_protected(void *ctx, const char *table, struct dcr_err *err)
{
	struct sql_check *k = ctx;

	return table_privacy(find_data_sql(k->p, table)) ? dcr_err_set(err, DCR_EDENIED, "%s", table) : 0;
}

/* The SQL computation whose name is the n bytes at s (any case), or -1. */
static ssize_t named(const struct sql_check *k, const char *s, size_t n)
{
	char name[MAX_NAME + 1];
	struct named_index key = { name, 0 };
	const struct named_index *at;

	if (n == 0 || n > MAX_NAME)
		return -1;
	memcpy(name, s, n);
	name[n] = '\0';
	at = bsearch(&key, k->by_name, k->n, sizeof(key), cmp_named);
	return at && sqlite_query(k->p->room->def.compute[at->i]) ? (ssize_t)at->i : -1;
}

/*
 * Visit, in the order their names appear in q, the SQL computations q names
 * as an identifier, bare or quoted ("", ``, [], and '', which SQLite takes
 * for a name where it expects one), or in a comment: a superset of what q
 * can read, since SQLite finds a view only by its name.
 */
static void visit_names(struct sql_check *k, const char *q, size_t *order, size_t *n_order);

/* Depth first: what i names comes before i. A cycle of names is cut anywhere; compiling then tells. */
static void order_from(struct sql_check *k, size_t i, size_t *order, size_t *n_order)
{
	if (k->state[i].visited)
		return;
	k->state[i].visited = true;
	visit_names(k, k->p->room->def.compute[i]->sql->query, order, n_order);
	order[(*n_order)++] = i;
}

static bool name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool name_char(unsigned char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* The bare name at *q, if any, visited; *q moves past it. */
static void visit_bare(struct sql_check *k, const char **q, size_t *order, size_t *n_order)
{
	const char *start = *q;
	ssize_t j;

	while (name_char((unsigned char)**q))
		(*q)++;
	if ((j = named(k, start, (size_t)(*q - start))) >= 0)
		order_from(k, (size_t)j, order, n_order);
}

static void visit_names(struct sql_check *k, const char *q, size_t *order, size_t *n_order)
{
	while (*q) {
		if (name_start((unsigned char)*q)) {
			visit_bare(k, &q, order, n_order);
		} else if ((q[0] == '-' && q[1] == '-') || (q[0] == '/' && q[1] == '*')) {
			/* A comment's names count too, never its quotes (it's): they would hide the names after it. */
			const char *stop = q[0] == '-' ? "\n" : "*/";

			for (q += 2; *q && strncmp(q, stop, strlen(stop)) != 0;)
				if (name_start((unsigned char)*q))
					visit_bare(k, &q, order, n_order);
				else
					q++;
		} else if (*q == '"' || *q == '`' || *q == '\'' || *q == '[') {
			/* A doubled quote inside is one quote, which no node name has: such a token names nothing. */
			char close = *q == '[' ? ']' : *q;
			const char *start = ++q;
			ssize_t j;

			while (*q && *q != close)
				q++;
			if ((j = named(k, start, (size_t)(q - start))) >= 0)
				order_from(k, (size_t)j, order, n_order);
			if (*q)
				q++;
		} else {
			q++;
		}
	}
}

/* The query of i failed to compile: check what it reads first and say 1 (compile it again), or fail. */
static int missing_table(struct sql_check *k, size_t i, const char *msg)
{
	struct parse *p = k->p;
	Dcr__V1__Computation *c = p->room->def.compute[i];
	const char *prefix = "no such table: ";
	ssize_t j = strncmp(msg, prefix, strlen(prefix)) == 0 ? find_compute_sql(p, msg + strlen(prefix)) : -1;
	int r;

	if (j < 0 || !sqlite_query(p->room->def.compute[j]) || k->state[j].done)
		return explain_missing_table(p, p->src[i].query, c->name, msg);
	if ((size_t)j == i)
		return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID, "query of '%s' reads its own result",
			c->name);
	if (k->state[j].on_stack) {
		char chain[DCR_ERR_MSG_MAX] = "";
		size_t at = 0;

		while (k->stack[at] != (size_t)j)
			at++;
		for (; at < k->depth; at++)
			snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), "%s -> ",
				p->room->def.compute[k->stack[at]]->name);
		return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID, "dependency cycle: %s%s", chain,
			p->room->def.compute[j]->name);
	}
	if ((r = sql_check_query(k, (size_t)j)) < 0)
		return r;
	return 1;
}

/* What i reads, found as it compiled: its chain, its size expanded, everything it reads through others. */
static int sql_check_reads(struct sql_check *k, size_t i)
{
	struct parse *p = k->p;
	Dcr__V1__Computation *c = p->room->def.compute[i];
	uint64_t *row = k->reads + i * k->words, expanded = strlen(c->sql->query);
	unsigned chain = 1;

	for (size_t j = 0; j < k->n; j++) {
		const uint64_t *other = k->reads + j * k->words;

		if (!k->expansions[j])
			continue;
		row[j / 64] |= 1ull << (j % 64);
		for (size_t w = 0; w < k->words; w++)
			row[w] |= other[w];
		if (k->state[j].chain + 1 > chain)
			chain = k->state[j].chain + 1;
		/* Each side is at most MAX_SQL_EXPANDED: no overflow, and past the limit is past it. */
		expanded += (uint64_t)k->expansions[j] * k->state[j].expanded;
		if (expanded > MAX_SQL_EXPANDED)
			expanded = MAX_SQL_EXPANDED + 1;
	}
	k->state[i].chain = chain;
	k->state[i].expanded = expanded;
	if (chain > MAX_SQL_CHAIN)
		return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
			"query of '%s' heads a chain of more than %d SQL computations, each reading the next",
			c->name, MAX_SQL_CHAIN);
	if (expanded > MAX_SQL_EXPANDED)
		return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
			"query of '%s' comes to more than %llu bytes of SQL with the computations it reads "
			"(each as often as it reads them)", c->name, MAX_SQL_EXPANDED);
	return 0;
}

static int sql_check_query(struct sql_check *k, size_t i)
{
	struct parse *p = k->p;
	Dcr__V1__Computation *c = p->room->def.compute[i];
	struct dcr_sql_reader reader = { .table = refuse_protected, .stand_in = count_expansion, .ctx = k };
	struct dcr_err why;
	int r;

	if (k->depth == MAX_SQL_CHAIN)
		return dcr_ydoc_fail(&p->y, p->src[k->stack[0]].query, DCR_EINVALID,
			"query of '%s' heads a chain of more than %d SQL computations, each reading the next",
			p->room->def.compute[k->stack[0]]->name, MAX_SQL_CHAIN);
	k->state[i].on_stack = true;
	k->stack[k->depth++] = i;
	do {
		memset(k->expansions, 0, k->n * sizeof(*k->expansions));
		r = dcr_sql_prepare(k->sql, c->sql->query, NULL, &reader, &why);
		if (dcr_sql_memory_allocated(k->sql) > MAX_SQL_COMPILE_WORK)
			return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
				"compiling the room's queries, up to the query of '%s', takes SQLite more than %llu MiB of "
				"allocations in all", c->name, MAX_SQL_COMPILE_WORK >> 20);
		if (r == DCR_EDENIED)
			return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID, "query of '%s' reads '%s', a table "
				"with a privacy rule; only aggregate computations may read it (dcr-room(5), PRIVACY RULES)",
				c->name, why.msg);
		if (r == DCR_EINVALID)
			r = missing_table(k, i, why.msg);
		else if (r == DCR_ENOMEM && dcr_sql_memory_exceeded(k->sql))
			/* Bounded, since a few lines of CTEs can ask SQLite for gigabytes. */
			return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
				"query of '%s' needs more than %u MiB to compile", c->name, MAX_SQL_MEMORY >> 20);
		else if (r == DCR_ENOMEM)
			return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
				"query of '%s': SQLite ran out of memory compiling it", c->name);
		else if (r < 0)
			return dcr_err_set(p->err, r, "%s", why.msg);
	} while (r > 0);
	if (r < 0 || (r = sql_check_reads(k, i)) < 0)
		return r;
	if ((r = dcr_sql_stand_in(k->sql, c->name, c->sql->query, &why)) < 0)
		return r == DCR_ENOMEM ? oom(p) : dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
			"query of '%s': %s", c->name, why.msg);
	k->state[i].on_stack = false;
	k->state[i].done = true;
	k->depth--;
	return 0;
}

/* The SQL dcrd will write for aggregate computation i compiles under the policy, as a query would. */
static int check_aggregate_sql(struct parse *p, struct dcr_sql *sql, size_t i)
{
	const Dcr__V1__Computation *c = p->room->def.compute[i];
	struct dcr_aggregate_sql a;
	struct dcr_err why;
	int r;

	if ((r = dcr_aggregate_sql(&p->room->def, c, &a, &why)) < 0)
		return r == DCR_ENOMEM ? oom(p) : dcr_ydoc_fail(&p->y, p->src[i].node, DCR_EINVALID, "'%s': %s",
			c->name, why.msg);
	if ((r = dcr_sql_prepare(sql, a.query, NULL, NULL, &why)) == 0 && a.suppressed)
		r = dcr_sql_prepare(sql, a.suppressed, NULL, NULL, &why);
	dcr_aggregate_sql_release(&a);
	if (r == DCR_ENOMEM)
		return oom(p);
	if (r < 0)
		return dcr_ydoc_fail(&p->y, p->src[i].node, DCR_EINVALID, "the SQL of '%s' does not compile: %s",
			c->name, why.msg);
	return 0;
}

/*
 * Compile every SQL computation against tables made from the declared
 * schemas and the computations it reads, within the bounds on queries, and
 * record what each reads as its dependencies.
 */
static int check_sql(struct parse *p)
{
	Dcr__V1__RoomDefinition *def = &p->room->def;
	struct sql_check k = { .p = p, .n = def->n_compute };
	struct dcr_err why;
	size_t total = 0, n_order = 0;
	int r = 0;

	/* Queries of both engines: dcrd compiles the duckdb ones too, and sends every job the definition. */
	for (size_t i = 0; i < k.n; i++) {
		if (def->compute[i]->kind_case != DCR__V1__COMPUTATION__KIND_SQL)
			continue;
		total += strlen(def->compute[i]->sql->query);
		if (total > MAX_SQL_TOTAL)
			return dcr_ydoc_fail(&p->y, p->src[i].query, DCR_EINVALID,
				"query of '%s' brings the room's queries to more than %u bytes in all",
				def->compute[i]->name, MAX_SQL_TOTAL);
	}
	k.words = k.n / 64 + 1;
	k.by_name = calloc(k.n + 1, sizeof(*k.by_name));
	k.stack = calloc(MAX_SQL_CHAIN, sizeof(*k.stack));
	k.expansions = calloc(k.n + 1, sizeof(*k.expansions));
	k.state = calloc(k.n + 1, sizeof(*k.state));
	k.reads = calloc((k.n + 1) * k.words, sizeof(*k.reads));
	k.order = calloc(k.n + 1, sizeof(*k.order));
	if (!k.by_name || !k.stack || !k.expansions || !k.state || !k.reads || !k.order) {
		r = oom(p);
		goto out;
	}
	for (size_t i = 0; i < k.n; i++)
		k.by_name[i] = (struct named_index){ def->compute[i]->name, i };
	sort(k.by_name, k.n, sizeof(*k.by_name), cmp_named);
	if ((r = dcr_sql_new(&k.sql, MAX_SQL_MEMORY, &why)) < 0) {
		r = dcr_err_set(p->err, r, "%s", why.msg);
		goto out;
	}
	for (size_t i = 0; i < def->n_data; i++)
		if (def->data[i]->kind_case == DCR__V1__DATA_NODE__KIND_TABLE &&
		    (r = dcr_sql_create_table(k.sql, def->data[i], &why)) < 0) {
			r = dcr_err_set(p->err, r, "SQLite refused table '%s': %s", def->data[i]->name, why.msg);
			goto out;
		}
	for (size_t i = 0; i < k.n; i++)
		if (sqlite_query(def->compute[i]))
			order_from(&k, i, k.order, &n_order);
	for (size_t at = 0; at < n_order; at++)
		if (!k.state[k.order[at]].done && (r = sql_check_query(&k, k.order[at])) < 0)
			goto out;
	for (size_t i = 0; i < k.n; i++)
		for (size_t j = 0; j < k.n; j++)
			if (k.reads[i * k.words + j / 64] & (1ull << (j % 64)))
				add_depend(p, def->compute[i], def->compute[j]->name);
	for (size_t i = 0; i < k.n; i++)
		if (def->compute[i]->kind_case == DCR__V1__COMPUTATION__KIND_AGGREGATE &&
		    (r = check_aggregate_sql(p, k.sql, i)) < 0)
			goto out;
out:
	dcr_sql_free(k.sql);
	free(k.by_name);
	free(k.stack);
	free(k.expansions);
	free(k.state);
	free(k.reads);
	free(k.order);
	return r;
}

/* Depth-first search over depends; reports the first cycle found with its path. */
static int find_cycle(struct parse *p, size_t i, size_t *path, size_t depth)
{
	Dcr__V1__Computation *c = p->room->def.compute[i];
	struct compute_src *s = &p->src[i];
	int r;

	if (s->done)
		return 0;
	path[depth] = i;
	if (s->on_stack) {
		char chain[DCR_ERR_MSG_MAX] = "";
		size_t start = 0;

		while (path[start] != i)
			start++;
		for (size_t k = start; k <= depth; k++)
			snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), "%s%s", k > start ? " -> " : "",
				p->room->def.compute[path[k]]->name);
		return dcr_ydoc_fail(&p->y, s->node, DCR_EINVALID, "dependency cycle: %s", chain);
	}
	s->on_stack = true;
	for (size_t d = 0; d < c->n_depends; d++)
		if ((r = find_cycle(p, (size_t)find_compute(p, c->depends[d]), path, depth + 1)) < 0)
			return r;
	s->on_stack = false;
	s->done = true;
	return 0;
}

/* ---- sorting and encoding ---- */

static int cmp_participant(const void *a, const void *b)
{
	return strcmp((*(Dcr__V1__Participant *const *)a)->email, (*(Dcr__V1__Participant *const *)b)->email);
}

static int cmp_data(const void *a, const void *b)
{
	return strcmp((*(Dcr__V1__DataNode *const *)a)->name, (*(Dcr__V1__DataNode *const *)b)->name);
}

static int cmp_compute(const void *a, const void *b)
{
	return strcmp((*(Dcr__V1__Computation *const *)a)->name, (*(Dcr__V1__Computation *const *)b)->name);
}

static int cmp_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_mount(const void *a, const void *b)
{
	return strcmp((*(Dcr__V1__Mount *const *)a)->path, (*(Dcr__V1__Mount *const *)b)->path);
}

static bool is_default_action(Dcr__V1__Action a)
{
	return a == DCR__V1__ACTION__ACTION_READ_DEFINITION || a == DCR__V1__ACTION__ACTION_READ_AUDIT ||
		a == DCR__V1__ACTION__ACTION_READ_STATUS || a == DCR__V1__ACTION__ACTION_LIST_DATASETS;
}

static int finish(struct parse *p)
{
	Dcr__V1__RoomDefinition *def = &p->room->def;
	uint8_t digest[32];
	int r;

	/* With defaults on, spelling one out grants nothing more: same room. */
	for (size_t i = 0; def->default_permissions && i < def->n_participants; i++) {
		Dcr__V1__Participant *part = def->participants[i];
		size_t kept = 0;

		for (size_t k = 0; k < part->n_permissions; k++)
			if (!is_default_action(part->permissions[k]->action))
				part->permissions[kept++] = part->permissions[k];
		part->n_permissions = kept;
	}
	sort(def->participants, def->n_participants, sizeof(*def->participants), cmp_participant);
	sort(def->data, def->n_data, sizeof(*def->data), cmp_data);
	for (size_t i = 0; i < def->n_compute; i++) {
		Dcr__V1__Computation *c = def->compute[i];

		sort(c->depends, c->n_depends, sizeof(*c->depends), cmp_string);
		if (c->kind_case == DCR__V1__COMPUTATION__KIND_PYTHON)
			sort(c->python->mounts, c->python->n_mounts, sizeof(*c->python->mounts), cmp_mount);
	}
	sort(def->compute, def->n_compute, sizeof(*def->compute), cmp_compute);
	p->room->encoding_len = dcr__v1__room_definition__get_packed_size(def);
	p->room->encoding = alloc(p->room, p->room->encoding_len);
	if (!p->room->encoding)
		return oom(p);
	dcr__v1__room_definition__pack(def, p->room->encoding);
	if ((r = dcr_sha256(p->room->encoding, p->room->encoding_len, digest, p->err)) < 0)
		return r;
	dcr_hex(digest, sizeof(digest), p->room->id);
	return 0;
}

/* ---- the whole definition ---- */

static int parse_nodes(struct parse *p, yaml_node_t *root)
{
	Dcr__V1__RoomDefinition *def = &p->room->def;
	yaml_node_t *data = dcr_ydoc_get(&p->y, root, "data"), *compute = dcr_ydoc_get(&p->y, root, "compute");
	size_t nd = 0, nc = 0;
	int r;

	if (data && (r = dcr_ydoc_mapping(&p->y, data, "data", NULL)) < 0)
		return r;
	if (compute && (r = dcr_ydoc_mapping(&p->y, compute, "compute", NULL)) < 0)
		return r;
	nd = data ? dcr_ydoc_count(data) : 0;
	nc = compute ? dcr_ydoc_count(compute) : 0;
	if (nd + nc > MAX_NODES)
		return dcr_ydoc_fail(&p->y, root, DCR_EINVALID, "more than %d data nodes and computations", MAX_NODES);
	if (!NEW_ARRAY(p, def->data, nd) || !NEW_ARRAY(p, def->compute, nc) ||
	    !(p->src = calloc(nc ? nc : 1, sizeof(*p->src))))
		return oom(p);

	/* Names first, so that references may point forwards. */
	for (size_t pass = 0; pass < 2; pass++) {
		yaml_node_t *m = pass ? compute : data;

		for (size_t i = 0; m && i < dcr_ydoc_count(m); i++) {
			yaml_node_t *k = dcr_ydoc_node(&p->y, m->data.mapping.pairs.start[i].key);
			const char *name = (const char *)k->data.scalar.value;

			if (!valid_node_name(name))
				return dcr_ydoc_fail(&p->y, k, DCR_EINVALID,
					"node name '%.64s' must start with a-z or '_' and use a-z, 0-9, '_' (at most %d)",
					name, MAX_NAME);
			if (strncmp(name, "sqlite_", 7) == 0)
				return dcr_ydoc_fail(&p->y, k, DCR_EINVALID,
					"node name '%s' must not start with 'sqlite_' (SQLite reserves it)", name);
			if (find_data(p, name) || find_compute(p, name) >= 0)
				return dcr_ydoc_fail(&p->y, k, DCR_EINVALID,
					"'%s' names both a data node and a computation", name);
			if (pass == 0) {
				Dcr__V1__DataNode *d;

				if (!NEW(p, d))
					return oom(p);
				dcr__v1__data_node__init(d);
				d->name = (char *)name;
				def->data[def->n_data++] = d;
			} else {
				Dcr__V1__Computation *c;

				if (!NEW(p, c))
					return oom(p);
				dcr__v1__computation__init(c);
				c->name = (char *)name;
				def->compute[def->n_compute++] = c;
			}
		}
	}
	for (size_t i = 0; i < nd; i++) {
		yaml_node_pair_t *pair = &data->data.mapping.pairs.start[i];

		if (!(def->data[i]->name = dup_str(p->room, def->data[i]->name)))
			return oom(p);
		if ((r = parse_data_node(p, dcr_ydoc_node(&p->y, pair->key), dcr_ydoc_node(&p->y, pair->value),
			     def->data[i])) < 0)
			return r;
	}
	for (size_t i = 0; i < nc; i++)
		if (!(def->compute[i]->name = dup_str(p->room, def->compute[i]->name)))
			return oom(p);
	for (size_t i = 0; i < nc; i++) {
		yaml_node_pair_t *pair = &compute->data.mapping.pairs.start[i];

		if ((r = parse_computation(p, dcr_ydoc_node(&p->y, pair->value), def->compute[i], &p->src[i])) < 0)
			return r;
	}
	return 0;
}

int dcr_room_read_relative(void *base_dir, const char *rel, size_t max, uint8_t **buf, size_t *len,
	struct dcr_err *err)
{
	const char *dir = base_dir;
	char path[4096];

	if (rel[0] == '/' || !dir)
		return dcr_read_file(rel, max, buf, len, err);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path))
		return dcr_err_set(err, DCR_EINVALID, "path too long: '%.64s...'", rel);
	return dcr_read_file(path, max, buf, len, err);
}

int dcr_room_read_memory(void *memfiles, const char *rel, size_t max, uint8_t **buf, size_t *len,
	struct dcr_err *err)
{
	struct dcr_room_memfiles *m = memfiles;

	for (size_t i = 0; i < m->n; i++) {
		struct dcr_room_memfile *f = &m->files[i];

		if (strcmp(f->path, rel) != 0)
			continue;
		f->used = true;
		if (f->len > max)
			return dcr_err_set(err, DCR_EINVALID, "'%s' is larger than %zu bytes", rel, max);
		if (!(*buf = malloc(f->len + 1)))
			return dcr_err_set(err, DCR_ENOMEM, "out of memory");
		if (f->len)
			memcpy(*buf, f->data, f->len);
		(*buf)[f->len] = '\0';
		*len = f->len;
		return 0;
	}
	return dcr_err_set(err, DCR_ENOTFOUND, "'%s' %s", rel, m->missing ? m->missing : "is missing");
}

/* A file kept that the room does not read: DCR_EINTEGRITY, else 0. */
static int check_kept_used(const struct dcr_room_memfiles *kept, const char *id, struct dcr_err *err)
{
	for (size_t i = 0; i < kept->n; i++) {
		const char *path = kept->files[i].path;

		if (kept->files[i].used)
			continue;
		for (size_t j = 0; j < i; j++)
			if (strcmp(kept->files[j].path, path) == 0)
				return dcr_err_set(err, DCR_EINTEGRITY, "the source of room %s holds '%s' twice", id,
					path);
		return dcr_err_set(err, DCR_EINTEGRITY,
			"the source of room %s holds '%s', which the room does not read", id, path);
	}
	return 0;
}

int dcr_room_check_source(const Dcr__V1__RoomDefinition *def, const char *file_name, const char *yaml,
	struct dcr_room_memfiles *kept, const char *id, struct dcr_err *err)
{
	const struct dcr_room_files files = { .read = dcr_room_read_memory, .ctx = kept };
	struct dcr_spec spec = { 0 };
	struct dcr_specs specs = { 1, &spec };
	struct dcr_room *room = NULL;
	struct dcr_err why;
	int r;

	for (size_t i = 0; i < kept->n; i++)
		kept->files[i].used = false;
	if (!def->enclave || dcr_room_spec_from_proto(def->enclave, &spec, &why) < 0 ||
	    dcr_room_parse_files(file_name, (const uint8_t *)yaml, strlen(yaml), &files, &specs,
		    def->salt ? def->salt : "", &room, &why) < 0)
		return dcr_err_set(err, DCR_EINTEGRITY,
			"the source of room %s does not compile here, so it cannot be checked against the room ID (is "
			"this dcr older than the room?): %s", id, def->enclave ? why.msg : "no enclave spec");
	r = strcmp(dcr_room_id(room), id) == 0
		? check_kept_used(kept, id, err)
		: dcr_err_set(err, DCR_EINTEGRITY, "the source of room %s compiles to room %s", id, dcr_room_id(room));
	dcr_room_free(room);
	return r;
}

int dcr_room_parse(const char *file, const uint8_t *buf, size_t len, const char *base_dir,
	const struct dcr_specs *specs, const char *salt, struct dcr_room **out, struct dcr_err *err)
{
	struct dcr_room_files files = { .read = dcr_room_read_relative, .ctx = (void *)base_dir };

	return dcr_room_parse_files(file, buf, len, &files, specs, salt, out, err);
}

int dcr_room_parse_files(const char *file, const uint8_t *buf, size_t len, const struct dcr_room_files *files,
	const struct dcr_specs *specs, const char *salt, struct dcr_room **out, struct dcr_err *err)
{
	static const char *const keys[] = { "version", "name", "description", "enclave", "authentication",
		"participants", "default_permissions", "owner_stops", "data", "compute", NULL };
	struct parse p = { .err = err, .files = files, .specs = specs };
	protobuf_c_boolean owner_stops = true;
	Dcr__V1__RoomDefinition *def;
	yaml_node_t *root, *v;
	size_t *path = NULL;
	int64_t version;
	int r;

	*out = NULL;
	if (strlen(salt) > 256 || !printable(salt, false))
		return dcr_err_set(err, DCR_EUSAGE, "the salt must be at most 256 printable characters");
	p.room = calloc(1, sizeof(*p.room));
	if (!p.room)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	def = &p.room->def;
	dcr__v1__room_definition__init(def);
	if ((r = dcr_ydoc_load(&p.y, file, buf, len, err)) < 0)
		goto out;
	root = dcr_ydoc_root(&p.y);
	if ((r = dcr_ydoc_mapping(&p.y, root, "a room definition", keys)) < 0)
		goto out;
	if (!(v = dcr_ydoc_get(&p.y, root, "version"))) {
		r = dcr_ydoc_fail(&p.y, root, DCR_EINVALID, "missing 'version: 1'");
		goto out;
	}
	if ((r = dcr_ydoc_int(&p.y, v, "version", FORMAT_VERSION, FORMAT_VERSION, &version)) < 0)
		goto out;
	def->format_version = FORMAT_VERSION;
	def->default_permissions = true;
	if ((r = parse_text(&p, root, "name", true, 128, false, &def->name)) < 0 ||
	    (r = parse_text(&p, root, "description", false, MAX_TEXT, true, &def->description)) < 0 ||
	    (r = parse_enclave(&p, root)) < 0 ||
	    (r = parse_authentication(&p, root)) < 0 ||
	    (r = parse_nodes(&p, root)) < 0 ||
	    (r = parse_participants(&p, root)) < 0)
		goto out;
	if ((r = get_bool(&p, root, "default_permissions", &def->default_permissions)) < 0 ||
	    (r = get_bool(&p, root, "owner_stops", &owner_stops)) < 0)
		goto out;
	/* Inverted in the encoding, so that rooms without the key keep their ID. */
	def->owner_may_not_stop = !owner_stops;
	if ((r = check_sql(&p)) < 0)
		goto out;
	path = calloc(def->n_compute + 1, sizeof(*path));
	if (!path) {
		r = oom(&p);
		goto out;
	}
	for (size_t i = 0; i < def->n_compute; i++)
		if ((r = find_cycle(&p, i, path, 0)) < 0)
			goto out;
	if (!(def->salt = dup_str(p.room, salt))) {
		r = oom(&p);
		goto out;
	}
	r = finish(&p);
out:
	free(path);
	free(p.src);
	dcr_ydoc_release(&p.y);
	if (r < 0)
		dcr_room_free(p.room);
	else
		*out = p.room;
	return r;
}

int dcr_room_load(const char *path, const struct dcr_specs *specs, const char *salt,
	struct dcr_room **out, struct dcr_err *err)
{
	char *copy = strdup(path);
	struct dcr_room_files files = { .read = dcr_room_read_relative };
	int r;

	*out = NULL;
	if (!copy)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory");
	files.ctx = dirname(copy);
	r = dcr_room_load_files(path, &files, specs, salt, out, err);
	free(copy);
	return r;
}

int dcr_room_load_files(const char *path, const struct dcr_room_files *files, const struct dcr_specs *specs,
	const char *salt, struct dcr_room **out, struct dcr_err *err)
{
	uint8_t *buf;
	size_t len;
	int r;

	*out = NULL;
	r = dcr_read_file(path, DCR_YDOC_MAX_INPUT, &buf, &len, err);
	if (r == 0) {
		r = dcr_room_parse_files(path, buf, len, files, specs, salt, out, err);
		free(buf);
	}
	return r;
}

/* The sev-snp fields of a room's spec (room.proto), only on a sev-snp spec, each within its bounds. */
static int snp_spec_from_proto(const Dcr__V1__EnclaveSpec *e, struct dcr_spec *out, struct dcr_err *err)
{
	bool snp = out->format == DCR_SPEC_SEV_SNP;
	uint32_t mins[] = { e->snp_min_bootloader, e->snp_min_tee, e->snp_min_snp, e->snp_min_microcode, e->snp_min_fmc };

	if (!snp) {
		if (e->snp_host_data.len || e->snp_id_key_digest.len || e->snp_policy_allow || e->snp_max_vmpl ||
		    e->snp_min_bootloader || e->snp_min_tee || e->snp_min_snp || e->snp_min_microcode || e->snp_min_fmc ||
		    e->snp_crl_optional || e->snp_vcek_only || e->snp_platform_require)
			return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", out->name);
		return 0;
	}
	if (e->measurement.len != 48 || (e->snp_host_data.len && e->snp_host_data.len != 32) ||
	    (e->snp_id_key_digest.len && e->snp_id_key_digest.len != 48))
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", out->name);
	for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++)
		if (mins[i] > 255)
			return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", out->name);
	memcpy(out->snp_measurement, e->measurement.data, 48);
	out->snp_has_host_data = e->snp_host_data.len == 32;
	if (out->snp_has_host_data)
		memcpy(out->snp_host_data, e->snp_host_data.data, 32);
	out->snp_has_id_key = e->snp_id_key_digest.len == 48;
	if (out->snp_has_id_key)
		memcpy(out->snp_id_key_digest, e->snp_id_key_digest.data, 48);
	out->snp_policy_allow = e->snp_policy_allow;
	out->snp_max_vmpl = e->snp_max_vmpl;
	out->snp_min_tcb.bootloader = (uint8_t)mins[0];
	out->snp_min_tcb.tee = (uint8_t)mins[1];
	out->snp_min_tcb.snp = (uint8_t)mins[2];
	out->snp_min_tcb.microcode = (uint8_t)mins[3];
	out->snp_min_tcb.fmc = (uint8_t)mins[4];
	out->snp_crl_optional = e->snp_crl_optional;
	out->snp_vcek_only = e->snp_vcek_only;
	out->snp_platform_require = e->snp_platform_require;
	return 0;
}

int dcr_room_spec_from_proto(const Dcr__V1__EnclaveSpec *e, struct dcr_spec *out, struct dcr_err *err)
{
	const struct dcr_attest_kind *kind;
	int r;

	memset(out, 0, sizeof(*out));
	if (!e || !dcr_spec_name_valid(e->name))
		return dcr_err_set(err, DCR_EINVALID, "enclave spec without a valid name");
	snprintf(out->name, sizeof(out->name), "%s", e->name);
	if (!(kind = dcr_attest_kind_find(e->format)))
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s': unknown format", out->name);
	out->format = kind->format;
	if ((r = snp_spec_from_proto(e, out, err)) < 0)
		return r;
	if ((e->measurement.len && e->measurement.len != (out->format == DCR_SPEC_SEV_SNP ? 48 : 32)) ||
	    (e->mrsigner.len && e->mrsigner.len != 32) ||
	    e->isv_prod_id > 65535 || e->min_isv_svn > 65535 || e->n_tcb_statuses > DCR_SPEC_TCB_MAX)
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", out->name);
	out->has_measurement = e->measurement.len == 32;
	out->has_signer = e->mrsigner.len == 32;
	if (out->has_measurement)
		memcpy(out->measurement, e->measurement.data, 32);
	if (out->has_signer)
		memcpy(out->mrsigner, e->mrsigner.data, 32);
	out->isv_prod_id = e->isv_prod_id;
	out->min_isv_svn = e->min_isv_svn;
	out->debug_allowed = e->debug_allowed;
	if (e->mrtd.len && e->mrtd.len != 48)
		return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", out->name);
	out->has_mrtd = e->mrtd.len == 48;
	if (out->has_mrtd)
		memcpy(out->mrtd, e->mrtd.data, 48);
	for (int i = 0; i < 4; i++) {
		const ProtobufCBinaryData *rtmr[] = { &e->rtmr0, &e->rtmr1, &e->rtmr2, &e->rtmr3 };

		if (rtmr[i]->len && rtmr[i]->len != 48)
			return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' is malformed", out->name);
		if (rtmr[i]->len)
			memcpy(out->rtmr[i], rtmr[i]->data, 48), out->rtmr_pinned |= 1u << i;
	}
	for (size_t i = 0; i < e->n_tcb_statuses; i++) {
		const char *t = dcr_spec_tcb_status(e->tcb_statuses[i]);

		/* Sorted and unique, as the specs parser leaves them. */
		if (!t || (i > 0 && strcmp(out->tcb_statuses[i - 1], t) >= 0))
			return dcr_err_set(err, DCR_EINVALID, "enclave spec '%s' has a bad TCB status list", out->name);
		out->tcb_statuses[out->n_tcb_statuses++] = t;
	}
	return kind->spec_check(out, err);
}

const Dcr__V1__RoomDefinition *dcr_room_definition(const struct dcr_room *room)
{
	return &room->def;
}

const uint8_t *dcr_room_encoding(const struct dcr_room *room, size_t *len)
{
	*len = room->encoding_len;
	return room->encoding;
}

const char *dcr_room_id(const struct dcr_room *room)
{
	return room->id;
}

void dcr_room_free(struct dcr_room *room)
{
	if (!room)
		return;
	while (room->blocks) {
		struct block *next = room->blocks->next;

		free(room->blocks);
		room->blocks = next;
	}
	free(room);
}

static bool is_protected(const Dcr__V1__RoomDefinition *def, const char *name)
{
	for (size_t d = 0; name && d < def->n_data; d++) {
		const Dcr__V1__DataNode *dn = def->data[d];

		if (dn->kind_case == DCR__V1__DATA_NODE__KIND_TABLE && dn->table->privacy && strcmp(dn->name, name) == 0)
			return true;
	}
	return false;
}

const char *dcr_room_python_protected(const Dcr__V1__RoomDefinition *def, const Dcr__V1__PythonComputation *pc)
{
	if (!pc->script.len && is_protected(def, pc->code_node))
		return pc->code_node;
	for (size_t m = 0; m < pc->n_mounts; m++)
		if (is_protected(def, pc->mounts[m]->node))
			return pc->mounts[m]->node;
	return NULL;
}
