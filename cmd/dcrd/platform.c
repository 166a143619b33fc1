/* The platform PKI: dcrd's in-enclave CA, one-time API tokens, and auth.login, which trades one for a certificate. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto.h"
#include "dcrd.h"
#include "fileio.h"
#include "pki.h"
#include "seal.h"
#include "util.h"

#include "banned.h"

#define CA_FILE "platform-ca.sealed"
#define CA_CERT_FILE "platform-ca.pem"
#define CA_LABEL "platform-ca"
#define CA_NAME "dcr platform CA"
#define MAX_SEALED (16u << 10)
#define MAX_CA_DER (4u << 10)
#define LOGIN_DAYS 90
#define TOKEN_PREFIX "dcrpt_"
#define TOKEN_BYTES 32
#define TOKEN_MAX 256              /* longer is no token of ours */
#define TTL_DEFAULT (24 * 3600)
#define TTL_MAX (30 * 24 * 3600)

/*
 * The CA as loaded at start: the sealed record (the key is unsealed only
 * while issuing) and the certificate. Both are public to the host anyway.
 */
static struct {
	bool open;
	uint8_t sealed[MAX_SEALED];
	size_t sealed_len;
	uint8_t cert[MAX_CA_DER];
	size_t cert_len;
} ca;

/* ---- the CA ---- */

/* The CA's key and certificate from the sealed record; the caller frees both. */
static int unseal_ca(const uint8_t sealing_key[static 32], const uint8_t *blob, size_t len, EVP_PKEY **key,
	X509 **cert, struct dcr_err *err)
{
	Dcr__V1__PlatformCaRecord *rec = NULL;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	BIO *bio;
	int r;

	*key = NULL;
	*cert = NULL;
	if ((r = dcr_unseal(sealing_key, CA_LABEL, blob, len, &pt, &pt_len, err)) < 0)
		return r;
	rec = dcr__v1__platform_ca_record__unpack(NULL, pt_len, pt);
	dcr_wipe(pt, pt_len);
	free(pt);
	if (!rec || rec->private_key.len > INT_MAX || rec->certificate.len > INT_MAX) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "the sealed platform CA is malformed");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(rec->private_key.data, (int)rec->private_key.len))) {
		*key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if ((bio = BIO_new_mem_buf(rec->certificate.data, (int)rec->certificate.len))) {
		*cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (!*key || !*cert || X509_check_private_key(*cert, *key) != 1 || X509_check_ca(*cert) == 0) {
		r = dcr_err_openssl(err, DCR_EINTEGRITY, "the sealed platform CA is damaged");
		EVP_PKEY_free(*key);
		X509_free(*cert);
		*key = NULL;
		*cert = NULL;
	}
out:
	if (rec && rec->private_key.data)
		dcr_wipe(rec->private_key.data, rec->private_key.len);
	dcr__v1__platform_ca_record__free_unpacked(rec, NULL);
	return r;
}

/* A new CA, sealed into *blob (free()). */
static int create_ca(const uint8_t sealing_key[static 32], uint8_t **blob, size_t *len, struct dcr_err *err)
{
	Dcr__V1__PlatformCaRecord rec = DCR__V1__PLATFORM_CA_RECORD__INIT;
	uint8_t *key = NULL, *cert = NULL, *pt = NULL;
	size_t key_len = 0, cert_len = 0, pt_len = 0;
	int r;

	if ((r = dcr_pki_ca_create(CA_NAME, DCR_PKI_CA_DAYS, time(NULL), &key, &key_len, &cert, &cert_len, err)) < 0)
		return r;
	rec.private_key = (ProtobufCBinaryData){ key_len, key };
	rec.certificate = (ProtobufCBinaryData){ cert_len, cert };
	pt_len = dcr__v1__platform_ca_record__get_packed_size(&rec);
	if (!(pt = malloc(pt_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__platform_ca_record__pack(&rec, pt);
	r = dcr_seal(sealing_key, CA_LABEL, pt, pt_len, blob, len, err);
out:
	if (pt)
		dcr_wipe(pt, pt_len);
	dcr_wipe(key, key_len);
	free(pt);
	free(key);
	free(cert);
	return r;
}

int platform_open(const struct enclave *e, const char *dir, struct dcr_err *err)
{
	char path[4096], cert_path[4096];
	uint8_t *blob = NULL, *der = NULL;
	size_t len = 0, pem_len = 0;
	char *pem = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	bool created = false;
	BIO *bio = NULL;
	int r, der_len;

	memset(&ca, 0, sizeof(ca));
	if ((r = data_path(path, sizeof(path), dir, CA_FILE, err)) < 0 ||
	    (r = data_path(cert_path, sizeof(cert_path), dir, CA_CERT_FILE, err)) < 0)
		return r;
	r = dcr_read_file(path, MAX_SEALED, &blob, &len, err);
	if (r == DCR_ENOTFOUND) {
		/* First start: the key exists only sealed, and only this enclave can unseal it. */
		if ((r = create_ca(e->sealing_key, &blob, &len, err)) < 0 || (r = dcr_write_atomic(path, blob, len, err)) < 0)
			goto out;
		created = true;
	} else if (r < 0) {
		goto out;
	}
	if ((r = unseal_ca(e->sealing_key, blob, len, &key, &cert, err)) < 0) {
		dcr_err_prefix(err, "'%s'", path);
		goto out;
	}
	der_len = i2d_X509(cert, &der);
	if (der_len <= 0 || (size_t)der_len > sizeof(ca.cert) || len > sizeof(ca.sealed)) {
		r = dcr_err_openssl(err, DCR_EINTEGRITY, "'%s': the platform CA certificate is too large", path);
		goto out;
	}
	/* A copy for the operator; dcrd itself trusts only the sealed one. */
	if (!(bio = BIO_new(BIO_s_mem())) || PEM_write_bio_X509(bio, cert) != 1 ||
	    (pem_len = (size_t)BIO_get_mem_data(bio, &pem)) == 0) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot encode the platform CA certificate");
		goto out;
	}
	if ((r = dcr_write_atomic(cert_path, pem, pem_len, err)) < 0)
		goto out;
	memcpy(ca.sealed, blob, len);
	ca.sealed_len = len;
	memcpy(ca.cert, der, (size_t)der_len);
	ca.cert_len = (size_t)der_len;
	ca.open = true;
	if (created)
		fprintf(stderr, "dcrd: created the platform CA, its key sealed in %s\n", path);
out:
	BIO_free(bio);
	OPENSSL_free(der);
	EVP_PKEY_free(key); /* OpenSSL clears private keys as it frees them */
	X509_free(cert);
	free(blob);
	return r;
}

const uint8_t *platform_ca(size_t *len)
{
	*len = ca.open ? ca.cert_len : 0;
	return ca.open ? ca.cert : NULL;
}

/* ---- auth.login ---- */

/* A refused login: one line on the log, never the token, and the same reason for the caller. */
static int refuse(const char *email, const char *reason, int code, struct dcr_err *err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int refuse(const char *email, const char *reason, int code, struct dcr_err *err, const char *fmt, ...)
{
	char msg[DCR_ERR_MSG_MAX];
	va_list ap;

	if (email)
		fprintf(stderr, "dcrd: login refused for %s: %s\n", email, reason);
	else
		fprintf(stderr, "dcrd: login refused: %s\n", reason);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dcr_err_set(err, code, "%s", msg);
}

int platform_login(struct service *svc, const struct dcr_call_request *req, uint8_t **out, size_t *out_len,
	struct dcr_err *err)
{
	Dcr__V1__LoginRequest *lr = dcr__v1__login_request__unpack(NULL, req->body_len, req->body);
	Dcr__V1__LoginResponse resp = DCR__V1__LOGIN_RESPONSE__INIT;
	char email[DCR_EMAIL_MAX + 1], csr_email[DCR_EMAIL_MAX + 1], issued[DCR_EMAIL_MAX + 1], until[32];
	uint8_t hash[DCR_SHA256_LEN], *der = NULL;
	struct state_token tok;
	int64_t now = clock_now_ms();
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *leaf = NULL;
	size_t token_len;
	int r, der_len;

	if (!ca.open) {
		r = dcr_err_set(err, DCR_EFAIL, "this dcrd has no platform CA");
		goto out;
	}
	if (!req->request || !lr || !lr->email || !lr->token) {
		r = refuse(NULL, "malformed request", DCR_EINVALID, err, "malformed %s request", DCR_CALL_LOGIN);
		goto out;
	}
	token_len = strlen(lr->token);
	if (!dcr_pki_email_normalise(lr->email, email)) {
		r = refuse(NULL, "invalid e-mail address", DCR_EINVALID, err, "'%.254s' is not a valid e-mail address",
			lr->email);
		goto out;
	}
	/* The request's address was checked by lib/call only to be text; here it must be this one. */
	if (!dcr_pki_email_normalise(req->email, csr_email) || strcmp(csr_email, email) != 0) {
		r = refuse(email, "the certificate request names another e-mail address", DCR_EDENIED, err,
			"login refused: the certificate request is not for %s", email);
		goto out;
	}
	if ((r = dcr_sha256(lr->token, token_len, hash, err)) < 0)
		goto out;
	/*
	 * Looked up by hash: the index's timing can only tell about a SHA-256
	 * of the token, not the token; the stored hash is compared in constant
	 * time all the same.
	 */
	r = token_len == 0 || token_len > TOKEN_MAX ? DCR_ENOTFOUND : state_token_get(svc->state, hash, &tok, err);
	if (r == DCR_ENOTFOUND || (r == 0 && !dcr_ct_equal(tok.hash, hash, sizeof(hash)))) {
		r = refuse(email, "unknown token", DCR_EDENIED, err,
			"login refused: the token is not valid (mistyped, or not issued by this platform)");
		goto out;
	}
	if (r < 0)
		goto out;
	if (tok.used) {
		r = refuse(email, "token already used", DCR_EDENIED, err,
			"login refused: the token was used already (a token works once; ask for a new one)");
		goto out;
	}
	if (now >= tok.expires_ms) {
		dcr_time_format((time_t)(tok.expires_ms / 1000), until);
		r = refuse(email, "token expired", DCR_EDENIED, err,
			"login refused: the token expired at %s (ask for a new one)", until);
		goto out;
	}
	if (strcmp(tok.email, email) != 0) {
		r = refuse(email, "token issued for another e-mail address", DCR_EDENIED, err,
			"login refused: the token was issued for another e-mail address");
		goto out;
	}
	/* Used up in the transaction that answers: if issuing fails, the token still works. */
	if ((r = state_token_use(svc->state, hash, now, err)) == DCR_EEXIST) {
		r = refuse(email, "token already used", DCR_EDENIED, err,
			"login refused: the token was used already (a token works once; ask for a new one)");
		goto out;
	}
	if (r < 0 || (r = unseal_ca(svc->enclave->sealing_key, ca.sealed, ca.sealed_len, &key, &cert, err)) < 0 ||
	    (r = dcr_pki_issue_x509(key, cert, req->request, LOGIN_DAYS, (time_t)(now / 1000), issued, &leaf, err)) < 0)
		goto out;
	if (strcmp(issued, email) != 0) {
		r = refuse(email, "the certificate request names another e-mail address", DCR_EDENIED, err,
			"login refused: the certificate request is not for %s", email);
		goto out;
	}
	if ((der_len = i2d_X509(leaf, &der)) <= 0) {
		r = dcr_err_openssl(err, DCR_EFAIL, "cannot encode the certificate");
		goto out;
	}
	resp.certificate = (ProtobufCBinaryData){ (size_t)der_len, der };
	resp.platform_ca = (ProtobufCBinaryData){ ca.cert_len, ca.cert };
	*out_len = dcr__v1__login_response__get_packed_size(&resp);
	if (!(*out = malloc(*out_len))) {
		r = dcr_err_set(err, DCR_ENOMEM, "out of memory");
		goto out;
	}
	dcr__v1__login_response__pack(&resp, *out);
	{
		struct tm tm;

		until[0] = '\0';
		if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
			dcr_time_format(dcr_time_from_tm(&tm), until);
	}
	/* Before the commit: if it fails, serve logs that the call was undone. */
	fprintf(stderr, "dcrd: login: issued a platform certificate to %s, valid until %s\n", email, until);
out:
	if (lr && lr->token)
		dcr_wipe(lr->token, strlen(lr->token));
	dcr__v1__login_request__free_unpacked(lr, NULL);
	OPENSSL_free(der);
	X509_free(leaf);
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

/* ---- dcrd token create ---- */

static void token_usage(FILE *out)
{
	fprintf(out, "usage: dcrd token create --data-dir DIR --email E [--ttl DURATION]\n");
}

/* "dcrpt_" and the bytes in unpadded base64url: what users paste, and what is hashed. */
static void encode_token(const uint8_t raw[static TOKEN_BYTES], char out[static TOKEN_MAX])
{
	unsigned char b64[((TOKEN_BYTES + 2) / 3) * 4 + 1];
	size_t n = strlen(TOKEN_PREFIX);
	int len = EVP_EncodeBlock(b64, raw, TOKEN_BYTES);

	memcpy(out, TOKEN_PREFIX, n);
	for (int i = 0; i < len && b64[i] != '='; i++)
		out[n++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[n] = '\0';
	dcr_wipe(b64, sizeof(b64));
}

static int token_create(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "email", required_argument, NULL, 'e' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *email_arg = NULL, *ttl_arg = NULL;
	char email[DCR_EMAIL_MAX + 1], token[TOKEN_MAX], until[32];
	uint8_t raw[TOKEN_BYTES], hash[DCR_SHA256_LEN];
	struct state state;
	struct dcr_err err;
	struct stat st;
	uint64_t ttl = TTL_DEFAULT;
	int64_t now, expires;
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'e': email_arg = optarg; break;
		case 't': ttl_arg = optarg; break;
		case 'h':
			token_usage(stdout);
			printf("See dcrd(8).\n");
			return 0;
		case ':':
			fprintf(stderr, "dcrd: token: option '%s' needs a value\n", argv[optind - 1]);
			token_usage(stderr);
			return 2;
		default:
			fprintf(stderr, "dcrd: token: unknown option '%s'\n", argv[optind - 1]);
			token_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "dcrd: token: unexpected argument '%s'\n", argv[optind]);
		token_usage(stderr);
		return 2;
	}
	if (!dir || !email_arg) {
		fprintf(stderr, "dcrd: token: %s is required\n", dir ? "--email" : "--data-dir");
		token_usage(stderr);
		return 2;
	}
	if (!dcr_pki_email_normalise(email_arg, email)) {
		fprintf(stderr, "dcrd: token: '%s' is not a valid e-mail address\n", email_arg);
		return 2;
	}
	if (ttl_arg && !dcr_parse_duration(ttl_arg, TTL_MAX, &ttl)) {
		fprintf(stderr, "dcrd: token: invalid --ttl '%s' (a number and s, m, h or d, like 30m or 7d; at most 30d)\n",
			ttl_arg);
		return 2;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "dcrd: token: '%s' is not a data directory (dcrd serve --data-dir creates it)\n", dir);
		return 1;
	}
	if (st.st_mode & 077) {
		fprintf(stderr, "dcrd: token: data directory '%s' is accessible to other users (mode %04o); run chmod 700 "
				"on it\n", dir, (unsigned)(st.st_mode & 07777));
		return 1;
	}
	/*
	 * Not the data directory's lock: a running dcrd holds it. SQLite's own
	 * locking (WAL, busy timeout) lets both write state.db.
	 */
	umask(077);
	if (state_open(&state, dir, NULL, &err) < 0) {
		fprintf(stderr, "dcrd: token: %s\n", err.msg);
		return 1;
	}
	now = dcr_now_ms();
	expires = now + (int64_t)ttl * 1000;
	r = dcr_random(raw, sizeof(raw), &err);
	if (r == 0) {
		encode_token(raw, token);
		r = dcr_sha256(token, strlen(token), hash, &err);
	}
	if (r == 0)
		r = state_token_add(&state, hash, email, now, expires, &err);
	state_close(&state);
	dcr_wipe(raw, sizeof(raw));
	if (r < 0) {
		dcr_wipe(token, sizeof(token));
		fprintf(stderr, "dcrd: token: %s\n", err.msg);
		return 1;
	}
	dcr_time_format((time_t)(expires / 1000), until);
	printf("%s\n", token);
	dcr_wipe(token, sizeof(token));
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("dcrd: token: cannot write standard output");
		return 1;
	}
	fprintf(stderr, "dcrd: token for %s, valid once until %s; it is shown only now: give it to %s over a "
			"trusted channel (dcr auth login --email %s --token -)\n", email, until, email, email);
	return 0;
}

int cmd_token(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		token_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "create") != 0) {
		fprintf(stderr, "dcrd: token: unknown subcommand '%s' (create)\n", argv[1]);
		token_usage(stderr);
		return 2;
	}
	return token_create(argc - 1, argv + 1);
}
