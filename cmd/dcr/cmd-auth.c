/* dcr auth: your key and certificate, and an organisation's CA that issues them. */
#include <errno.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.pb-c.h"
#include "call.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
#include "output.h"
#include "pki.h"
#include "util.h"

#include "banned.h"

#define PATH_MAX_LEN 4096
#define MAX_PEM (256u << 10)

static const char *const subcommands[] = { "keygen", "ca", "import", "login", "whoami", NULL };

/* A usage error unless only the options in allowed (NULL-terminated) were given. */
static int only_options(const struct command *cmd, const struct parsed *args, const char *sub,
	const char *const *allowed)
{
	for (int i = 0; cmd->options[i].name; i++) {
		bool ok = false;

		if (!args->set[i])
			continue;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, cmd->options[i].name) == 0;
		if (!ok)
			return usage_error(cmd, "--%s does not apply to 'auth %s'", cmd->options[i].name, sub);
	}
	return 0;
}

static int join(char out[static PATH_MAX_LEN], const char *dir, const char *name, struct dcr_err *err)
{
	int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX_LEN)
		return dcr_err_set(err, DCR_EUSAGE, "path too long: '%s/%s'", dir, name);
	return 0;
}

/* mkdir -p with mode for the directories it creates. */
static int make_dirs(const char *path, mode_t mode, struct dcr_err *err)
{
	char buf[PATH_MAX_LEN];
	struct stat st;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return dcr_err_set(err, DCR_EUSAGE, "bad directory '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return dcr_err_errno(err, DCR_EIO, errno, "cannot create '%s'", buf);
			*p = c;
			if (c == '\0')
				break;
		}
	}
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return dcr_err_set(err, DCR_EIO, "'%s' is not a directory", path);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/*
 * Read a file (a secret one only if others have no access to it), turning
 * "missing" into exit status 4 with what it was.
 */
static int read_input(const char *path, const char *what, bool secret, uint8_t **out, size_t *len,
	struct dcr_err *err)
{
	int r = secret ? dcr_read_key_file(path, MAX_PEM, out, len, err) : dcr_read_file(path, MAX_PEM, out, len, err);

	if (r == DCR_ENOTFOUND)
		dcr_err_set(err, DCR_ENOTFOUND, "no %s '%s'", what, path);
	return r;
}

/* Certificates are public: readable by all once written. */
static int make_public(const char *path, struct dcr_err *err)
{
	if (chmod(path, 0644) < 0)
		return dcr_err_errno(err, DCR_EIO, errno, "cannot chmod '%s'", path);
	return 0;
}

/* ---- keygen ---- */

static int auth_keygen(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	static const char *const allowed[] = { "email", "force", NULL };
	const char *email = opt_value(cmd, args, "email");
	bool force = opt_set(cmd, args, "force");
	char dir[PATH_MAX_LEN], key_path[PATH_MAX_LEN], csr_path[PATH_MAX_LEN], addr[DCR_EMAIL_MAX + 1];
	uint8_t *key = NULL, *csr = NULL;
	size_t key_len = 0, csr_len = 0;
	struct dcr_err err;
	int r;

	if ((r = only_options(cmd, args, "keygen", allowed)))
		return r;
	if (args->argc != 1)
		return usage_error(cmd, "keygen takes no arguments");
	if (!email)
		return usage_error(cmd, "keygen needs --email E");
	if (!dcr_pki_email_normalise(email, addr))
		return usage_error(cmd, "'%s' is not a valid e-mail address", email);
	if (identity_dir(cli, dir, sizeof(dir), &err) < 0 || join(key_path, dir, "key.pem", &err) < 0 ||
	    join(csr_path, dir, "request.csr", &err) < 0)
		return report(cmd, &err);
	if (!force && exists(key_path)) {
		dcr_err_set(&err, DCR_EEXIST, "'%s' already exists; not replacing a key (use --force to replace it)",
			key_path);
		return report(cmd, &err);
	}
	if (make_dirs(dir, 0700, &err) < 0 || dcr_pki_keygen(addr, &key, &key_len, &csr, &csr_len, &err) < 0)
		return report(cmd, &err);
	r = force ? dcr_write_atomic(key_path, key, key_len, &err) : dcr_keyfile_write(key_path, key, key_len, &err);
	dcr_wipe(key, key_len);
	free(key);
	if (r == 0 && (r = dcr_write_atomic(csr_path, csr, csr_len, &err)) < 0 && !force)
		unlink(key_path); /* a key without its request: let a plain retry start over */
	free(csr);
	if (r < 0)
		return report(cmd, &err);

	if (cli->json) {
		return print_json(cmd, json_pack("{s:s, s:s, s:s, s:b}", "email", addr, "key", key_path, "request",
			csr_path, "replaced", force));
	}
	if (cli->verbosity >= 0) {
		printf("new key for %s\n", addr);
		printf("  private key          %s (mode 0600: keep it secret)\n", key_path);
		printf("  certificate request  %s\n", csr_path);
		printf("next: send the request to your organisation's CA, which runs\n"
		       "  dcr auth ca issue request.csr\n"
		       "then install the certificate it sends back with\n"
		       "  dcr auth import CERT\n");
		if (force)
			printf("note: a certificate issued for the old key no longer works\n");
	}
	return 0;
}

/* ---- ca init, ca issue ---- */

/* "Acme Corp" -> "./acme-corp-ca": lowercase letters and digits, other runs become one '-'. */
static void default_ca_dir(const char *name, char out[static PATH_MAX_LEN])
{
	size_t n = 0;
	bool dash = false;

	n = (size_t)snprintf(out, PATH_MAX_LEN, "./");
	for (const unsigned char *c = (const unsigned char *)name; *c && n < 200; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z')) {
			if (dash && n > 2)
				out[n++] = '-';
			dash = false;
			out[n++] = (char)(*c | 0x20);
		} else {
			dash = true;
		}
	}
	snprintf(out + n, PATH_MAX_LEN - n, "%s", n > 2 ? "-ca" : "ca");
}

static int ca_init(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	static const char *const allowed[] = { "name", "dir", NULL };
	const char *name = opt_value(cmd, args, "name");
	char dir[PATH_MAX_LEN], key_path[PATH_MAX_LEN], cert_path[PATH_MAX_LEN];
	uint8_t *key = NULL, *cert = NULL;
	size_t key_len = 0, cert_len = 0;
	struct dcr_err err;
	int r;

	if ((r = only_options(cmd, args, "ca init", allowed)))
		return r;
	if (args->argc != 2)
		return usage_error(cmd, "ca init takes no arguments");
	if (!name)
		return usage_error(cmd, "ca init needs --name N");
	if (opt_value(cmd, args, "dir"))
		snprintf(dir, sizeof(dir), "%s", opt_value(cmd, args, "dir"));
	else
		default_ca_dir(name, dir);
	if (join(key_path, dir, "ca.key", &err) < 0 || join(cert_path, dir, "ca.pem", &err) < 0)
		return report(cmd, &err);
	if (exists(key_path) || exists(cert_path)) {
		dcr_err_set(&err, DCR_EEXIST, "'%s' already holds a CA; not replacing it", dir);
		return report(cmd, &err);
	}
	if (dcr_pki_ca_create(name, DCR_PKI_CA_DAYS, time(NULL), &key, &key_len, &cert, &cert_len, &err) < 0) {
		if (err.code == DCR_EINVALID)
			return usage_error(cmd, "%s", err.msg);
		return report(cmd, &err);
	}
	if ((r = make_dirs(dir, 0700, &err)) == 0 && (r = dcr_keyfile_write(key_path, key, key_len, &err)) == 0) {
		/* A key without its certificate would block the next try. */
		if ((r = dcr_keyfile_write(cert_path, cert, cert_len, &err)) < 0)
			unlink(key_path);
		else
			r = make_public(cert_path, &err);
	}
	dcr_wipe(key, key_len);
	free(key);
	free(cert);
	if (r < 0)
		return report(cmd, &err);

	if (cli->json)
		return print_json(cmd, json_pack("{s:s, s:s, s:s, s:s}", "name", name, "dir", dir, "certificate",
			cert_path, "key", key_path));
	if (cli->verbosity >= 0) {
		printf("created the CA '%s' in %s\n", name, dir);
		printf("  certificate  %s (give it to participants: authentication: {ca: ...} in room definitions)\n",
			cert_path);
		printf("  private key  %s (mode 0600: keep it secret)\n", key_path);
		printf("next: issue certificates with\n  dcr auth ca issue --dir %s REQUEST.csr\n", dir);
	}
	return 0;
}

/* "x.csr" -> "x.crt", anything else gets ".crt" appended. */
static int default_cert_path(const char *csr, char out[static PATH_MAX_LEN], struct dcr_err *err)
{
	size_t n = strlen(csr);
	int w;

	if (n > 4 && strcmp(csr + n - 4, ".csr") == 0)
		w = snprintf(out, PATH_MAX_LEN, "%.*s.crt", (int)(n - 4), csr);
	else
		w = snprintf(out, PATH_MAX_LEN, "%s.crt", csr);
	if (w < 0 || w >= PATH_MAX_LEN)
		return dcr_err_set(err, DCR_EUSAGE, "path too long: '%s'", csr);
	return 0;
}

static int parse_days(const char *s, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 1 || n > DCR_PKI_MAX_DAYS)
		return -1;
	*out = (int)n;
	return 0;
}

static int ca_issue(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	static const char *const allowed[] = { "dir", "output", "days", "force", NULL };
	const char *dir = opt_value(cmd, args, "dir") ? opt_value(cmd, args, "dir") : ".";
	const char *days_arg = opt_value(cmd, args, "days");
	char key_path[PATH_MAX_LEN], cert_path[PATH_MAX_LEN], out_path[PATH_MAX_LEN], email[DCR_EMAIL_MAX + 1];
	uint8_t *key = NULL, *ca = NULL, *csr = NULL, *chain = NULL;
	size_t key_len = 0, ca_len = 0, csr_len = 0, chain_len = 0;
	struct dcr_pki_info info = { 0 };
	bool force = opt_set(cmd, args, "force");
	int days = DCR_PKI_DEFAULT_DAYS, r;
	struct dcr_err err;
	X509 *leaf = NULL;
	BIO *bio;

	if ((r = only_options(cmd, args, "ca issue", allowed)))
		return r;
	if (args->argc != 3)
		return usage_error(cmd, "%s", args->argc < 3 ? "which certificate request?" : "ca issue takes one request");
	if (days_arg && parse_days(days_arg, &days) < 0)
		return usage_error(cmd, "--days '%s': give a whole number of days from 1 to %d", days_arg,
			DCR_PKI_MAX_DAYS);
	if (join(key_path, dir, "ca.key", &err) < 0 || join(cert_path, dir, "ca.pem", &err) < 0)
		return report(cmd, &err);
	if (opt_value(cmd, args, "output"))
		snprintf(out_path, sizeof(out_path), "%s", opt_value(cmd, args, "output"));
	else if (default_cert_path(args->argv[2], out_path, &err) < 0)
		return report(cmd, &err);
	/* Written as every output file is (output.h); only a file it would replace needs --force. */
	if (!force && out_would_replace(out_path)) {
		dcr_err_set(&err, DCR_EEXIST, "'%s' already exists; not replacing it (use -o FILE or --force)", out_path);
		return report(cmd, &err);
	}
	if ((r = read_input(key_path, "CA key (use --dir DIR)", true, &key, &key_len, &err)) < 0 ||
	    (r = read_input(cert_path, "CA certificate", false, &ca, &ca_len, &err)) < 0 ||
	    (r = read_input(args->argv[2], "certificate request", false, &csr, &csr_len, &err)) < 0)
		goto out;
	if ((r = dcr_pki_issue(key, key_len, ca, ca_len, csr, csr_len, days, time(NULL), email, &chain, &chain_len,
		     &err)) < 0) {
		dcr_err_prefix(&err, "'%s'", r == DCR_EINVALID ? args->argv[2] : dir);
		goto out;
	}
	if ((r = out_write_buf(out_path, 0644, force, chain, chain_len, &err)) == DCR_EEXIST)
		dcr_err_set(&err, DCR_EEXIST, "'%s' already exists; not replacing it (use -o FILE or --force)", out_path);
	if (r < 0)
		goto out;
	if ((bio = BIO_new_mem_buf(chain, (int)chain_len))) {
		leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (!leaf || (r = dcr_pki_cert_info(leaf, &info, &err)) < 0) {
		r = r < 0 ? r : dcr_err_set(&err, DCR_EFAIL, "cannot read back '%s'", out_path);
		X509_free(leaf);
		goto out;
	}
	if (cli->json)
		r = print_json(cmd, json_pack("{s:s, s:s, s:s, s:s, s:s}", "email", info.email, "certificate", out_path,
			"issuer", info.issuer, "expires", info.not_after, "fingerprint", info.fingerprint));
	else if (cli->verbosity >= 0)
		printf("issued a certificate for %s, valid until %s: %s\n"
		       "send it to %s, who installs it with\n  dcr auth import %s\n",
			info.email, info.not_after, out_path, info.email, out_path);
	X509_free(leaf);
	goto done;
out:
	r = report(cmd, &err);
done:
	dcr_wipe(key, key_len);
	free(key);
	free(ca);
	free(csr);
	free(chain);
	return r;
}

/* ---- login ---- */

#define TOKEN_MAX 256

/* Whether DIR/cert.pem was issued by the platform CA whose certificate a login left in DIR/platform-ca.pem. */
static bool is_platform(const char *dir)
{
	char cert_path[PATH_MAX_LEN], ca_path[PATH_MAX_LEN];
	uint8_t *cert = NULL, *ca = NULL;
	size_t cert_len = 0, ca_len = 0;
	bool yes;

	yes = join(cert_path, dir, "cert.pem", NULL) == 0 && join(ca_path, dir, "platform-ca.pem", NULL) == 0 &&
		dcr_read_file(cert_path, MAX_PEM, &cert, &cert_len, NULL) == 0 &&
		dcr_read_file(ca_path, MAX_PEM, &ca, &ca_len, NULL) == 0 &&
		dcr_pki_check_chain(cert, cert_len, ca, ca_len, 0, NULL) == 0;
	free(cert);
	free(ca);
	return yes;
}

/*
 * The token: --token T, or with "-" one line of standard input, else
 * $DCR_TOKEN; surrounding white space removed. 0, or a reported status.
 */
static int get_token(const struct command *cmd, const char *arg, char buf[static TOKEN_MAX + 2])
{
	const char *env = getenv("DCR_TOKEN");
	size_t n;

	if (!arg && env && *env)
		arg = env;
	if (!arg)
		return usage_error(cmd, "login needs --token T (--token - reads it from standard input; or set DCR_TOKEN)");
	buf[0] = '\0';
	if (strcmp(arg, "-") == 0) {
		if (!fgets(buf, TOKEN_MAX + 2, stdin))
			buf[0] = '\0';
	} else if (strlen(arg) <= TOKEN_MAX) {
		snprintf(buf, TOKEN_MAX + 2, "%s", arg);
	} else {
		return usage_error(cmd, "the token is longer than %d characters", TOKEN_MAX);
	}
	n = strlen(buf);
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		buf[--n] = '\0';
	if (n > TOKEN_MAX)
		return usage_error(cmd, "the token is longer than %d characters", TOKEN_MAX);
	n = strspn(buf, " \t");
	memmove(buf, buf + n, strlen(buf + n) + 1);
	if (!buf[0])
		return usage_error(cmd, "the token is empty");
	return 0;
}

/* What dcrd sent, checked: *chain (certificate then CA) and *ca in PEM, ready to install. */
static int check_login_answer(const uint8_t *body, size_t len, const uint8_t *key, size_t key_len, const char *email,
	uint8_t **chain, size_t *chain_len, uint8_t **ca, size_t *ca_len, struct dcr_err *err)
{
	Dcr__V1__LoginResponse *resp = dcr__v1__login_response__unpack(NULL, len, body);
	char got[DCR_EMAIL_MAX + 1];
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	int r;

	*chain = *ca = NULL;
	if (!resp || !resp->certificate.len || !resp->platform_ca.len) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "dcrd sent a malformed login answer");
		goto out;
	}
	{
		const uint8_t *der[] = { resp->certificate.data, resp->platform_ca.data };
		const size_t lens[] = { resp->certificate.len, resp->platform_ca.len };

		if ((r = dcr_pki_der_to_pem(der, lens, 2, &pem, &pem_len, err)) < 0 ||
		    (r = dcr_pki_der_to_pem(der + 1, lens + 1, 1, ca, ca_len, err)) < 0)
			goto bad;
	}
	/* For our key and address, valid now, and issued by the CA it came with. */
	if ((r = dcr_pki_check_cert(key, key_len, pem, pem_len, time(NULL), got, chain, chain_len, err)) < 0 ||
	    (r = dcr_pki_check_chain(*chain, *chain_len, *ca, *ca_len, time(NULL), err)) < 0)
		goto bad;
	if (strcmp(got, email) != 0) {
		r = dcr_err_set(err, DCR_EINTEGRITY, "dcrd issued a certificate for %s, not for %s", got, email);
		goto out;
	}
	goto out;
bad:
	/* What does not check out is dcrd's doing, not ours. */
	dcr_err_prefix(err, "the certificate dcrd sent");
	if (r == DCR_EINVALID)
		err->code = r = DCR_EINTEGRITY;
out:
	if (r < 0) {
		free(*chain);
		free(*ca);
		*chain = *ca = NULL;
	}
	free(pem);
	dcr__v1__login_response__free_unpacked(resp, NULL);
	return r;
}

static int auth_login(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	static const char *const allowed[] = { "email", "token", "force", NULL };
	const char *email_arg = opt_value(cmd, args, "email");
	bool force = opt_set(cmd, args, "force"), new_key, platform = false;
	char dir[PATH_MAX_LEN], key_path[PATH_MAX_LEN], cert_path[PATH_MAX_LEN], csr_path[PATH_MAX_LEN];
	char ca_path[PATH_MAX_LEN], email[DCR_EMAIL_MAX + 1], held[DCR_EMAIL_MAX + 1], token[TOKEN_MAX + 2];
	uint8_t *key = NULL, *old_cert = NULL, *checked = NULL, *csr = NULL, *body = NULL, *chain = NULL, *ca = NULL;
	size_t key_len = 0, old_len = 0, checked_len = 0, csr_len = 0, body_len = 0, chain_len = 0, ca_len = 0;
	Dcr__V1__LoginRequest lr = DCR__V1__LOGIN_REQUEST__INIT;
	struct dcr_identity *id = NULL;
	struct dcr_pki_info info = { 0 };
	struct session session;
	struct dcr_err err;
	bool have_key, have_cert = false, opened = false;
	X509 *leaf = NULL;
	BIO *bio;
	int r;

	if ((r = only_options(cmd, args, "login", allowed)))
		return r;
	if (args->argc != 1)
		return usage_error(cmd, "login takes no arguments");
	if (!email_arg)
		return usage_error(cmd, "login needs --email E");
	if (!dcr_pki_email_normalise(email_arg, email))
		return usage_error(cmd, "'%s' is not a valid e-mail address", email_arg);
	if ((r = get_token(cmd, opt_value(cmd, args, "token"), token)))
		goto done;
	if (identity_dir(cli, dir, sizeof(dir), &err) < 0 || join(key_path, dir, "key.pem", &err) < 0 ||
	    join(cert_path, dir, "cert.pem", &err) < 0 || join(csr_path, dir, "request.csr", &err) < 0 ||
	    join(ca_path, dir, "platform-ca.pem", &err) < 0)
		goto fail;

	/* Keep the key there is, unless it is someone else's: then only with --force. */
	if ((r = dcr_read_key_file(key_path, MAX_PEM, &key, &key_len, &err)) < 0 && r != DCR_ENOTFOUND)
		goto fail;
	have_key = r == 0;
	if (have_key && dcr_read_file(cert_path, MAX_PEM, &old_cert, &old_len, NULL) == 0 &&
	    dcr_pki_check_cert(key, key_len, old_cert, old_len, time(NULL), held, &checked, &checked_len, NULL) == 0) {
		have_cert = true;
		platform = is_platform(dir);
	}
	if (have_cert && strcmp(held, email) != 0 && !force) {
		dcr_err_set(&err, DCR_EEXIST, "'%s' is the identity of %s; not replacing it (use -i DIR for another "
					      "identity, or --force to replace its key and certificate)", dir, held);
		goto fail;
	}
	if (have_cert && !platform && !force) {
		dcr_err_set(&err, DCR_EEXIST, "'%s' holds an organisation certificate for %s; not replacing it with a "
					      "platform certificate (use -i DIR for another identity, or --force)", cert_path, held);
		goto fail;
	}
	new_key = !have_key || (have_cert && strcmp(held, email) != 0);
	if (new_key) {
		if (key)
			dcr_wipe(key, key_len);
		free(key);
		key = NULL;
		r = dcr_pki_keygen(email, &key, &key_len, &csr, &csr_len, &err);
	} else {
		r = dcr_pki_request(key, key_len, email, &csr, &csr_len, &err);
		if (r < 0)
			dcr_err_prefix(&err, "'%s'", key_path);
	}
	if (r < 0 || (r = dcr_identity_login(key, key_len, csr, csr_len, &id, &err)) < 0)
		goto fail;

	/* The request goes to the attested enclave only, signed by its key. */
	if ((r = session_open_login(cmd, cli, &session, id)))
		goto done;
	opened = true;
	lr.email = email;
	lr.token = token;
	r = session_call(cmd, &session, DCR_CALL_LOGIN, &lr.base, &body, &body_len);
	dcr_wipe(token, sizeof(token));
	if (r)
		goto done;
	if ((r = check_login_answer(body, body_len, key, key_len, email, &chain, &chain_len, &ca, &ca_len, &err)) < 0)
		goto fail;

	/* Installed only now: a refused login changes nothing. */
	if ((r = make_dirs(dir, 0700, &err)) < 0)
		goto fail;
	if (new_key) {
		r = have_key ? dcr_write_atomic(key_path, key, key_len, &err) : dcr_keyfile_write(key_path, key, key_len, &err);
		if (r < 0 || (r = dcr_write_atomic(csr_path, csr, csr_len, &err)) < 0)
			goto fail;
	}
	if ((r = dcr_write_atomic(cert_path, chain, chain_len, &err)) < 0 ||
	    (r = dcr_write_atomic(ca_path, ca, ca_len, &err)) < 0)
		goto fail;
	if ((bio = BIO_new_mem_buf(chain, (int)chain_len))) {
		leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	if (!leaf || dcr_pki_cert_info(leaf, &info, &err) < 0) {
		dcr_err_set(&err, DCR_EFAIL, "cannot read back '%s'", cert_path);
		goto fail;
	}
	if (cli->json)
		r = print_json(cmd, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "email", email, "certificate",
			cert_path, "platform_ca", ca_path, "issuer", info.issuer, "expires", info.not_after, "fingerprint",
			info.fingerprint, "new_key", new_key));
	else if (cli->verbosity >= 0)
		printf("logged in as %s: a platform certificate valid until %s\n"
		       "  certificate   %s\n"
		       "  platform CA   %s (%s)\n"
		       "  private key   %s (%s)\n",
			email, info.not_after, cert_path, ca_path, info.issuer, key_path,
			new_key ? "new, mode 0600: keep it secret" : "kept");
	goto done;
fail:
	r = report(cmd, &err);
done:
	dcr_wipe(token, sizeof(token));
	if (key)
		dcr_wipe(key, key_len);
	if (opened)
		session_close(&session);
	X509_free(leaf);
	free(key);
	free(old_cert);
	free(checked);
	free(csr);
	free(body);
	free(chain);
	free(ca);
	return r;
}

/* ---- import, whoami ---- */

static int auth_import(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	static const char *const allowed[] = { NULL };
	char dir[PATH_MAX_LEN], key_path[PATH_MAX_LEN], cert_path[PATH_MAX_LEN], email[DCR_EMAIL_MAX + 1];
	uint8_t *key = NULL, *cert = NULL, *chain = NULL;
	size_t key_len = 0, cert_len = 0, chain_len = 0;
	struct dcr_err err;
	int r;

	if ((r = only_options(cmd, args, "import", allowed)))
		return r;
	if (args->argc != 2)
		return usage_error(cmd, "%s", args->argc < 2 ? "which certificate?" : "import takes one certificate");
	if (identity_dir(cli, dir, sizeof(dir), &err) < 0 || join(key_path, dir, "key.pem", &err) < 0 ||
	    join(cert_path, dir, "cert.pem", &err) < 0)
		return report(cmd, &err);
	if ((r = dcr_read_key_file(key_path, MAX_PEM, &key, &key_len, &err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(&err, DCR_ENOTFOUND, "no key in '%s'; run 'dcr auth keygen --email E' first", dir);
		goto out;
	}
	if ((r = read_input(args->argv[1], "certificate", false, &cert, &cert_len, &err)) < 0)
		goto out;
	if ((r = dcr_pki_check_cert(key, key_len, cert, cert_len, time(NULL), email, &chain, &chain_len, &err)) < 0) {
		dcr_err_prefix(&err, "'%s'", args->argv[1]);
		goto out;
	}
	if ((r = dcr_write_atomic(cert_path, chain, chain_len, &err)) < 0)
		goto out;
	if (cli->json)
		r = print_json(cmd, json_pack("{s:s, s:s}", "email", email, "certificate", cert_path));
	else if (cli->verbosity >= 0)
		printf("installed the certificate for %s as %s\n", email, cert_path);
	goto done;
out:
	r = report(cmd, &err);
done:
	dcr_wipe(key, key_len);
	free(key);
	free(cert);
	free(chain);
	return r;
}

static int auth_whoami(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	static const char *const allowed[] = { NULL };
	struct dcr_identity *id = NULL;
	struct dcr_pki_info info;
	char dir[PATH_MAX_LEN];
	struct dcr_err err;
	bool platform;
	int r;

	if ((r = only_options(cmd, args, "whoami", allowed)))
		return r;
	if (args->argc != 1)
		return usage_error(cmd, "whoami takes no arguments");
	if (identity_dir(cli, dir, sizeof(dir), &err) < 0)
		return report(cmd, &err);
	if ((r = dcr_identity_load(dir, &id, &err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(&err, DCR_ENOTFOUND,
				"no identity in '%s' (key.pem and cert.pem); see 'dcr auth keygen' and 'dcr auth import'",
				dir);
		return report(cmd, &err);
	}
	{
		const unsigned char *p = id->chain[0];
		X509 *leaf = d2i_X509(NULL, &p, (long)id->chain_len[0]);

		r = leaf ? dcr_pki_cert_info(leaf, &info, &err) : dcr_err_set(&err, DCR_EINVALID, "cannot parse the certificate");
		X509_free(leaf);
	}
	dcr_identity_free(id);
	if (r < 0)
		return report(cmd, &err);
	platform = is_platform(dir);
	if (cli->json)
		return print_json(cmd, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "email", info.email, "subject",
			info.subject, "issuer", info.issuer, "pki", platform ? "platform" : "organisation", "expires",
			info.not_after, "fingerprint", info.fingerprint, "identity", dir));
	printf("email        %s\n", info.email);
	printf("issuer       %s\n", info.issuer);
	printf("pki          %s\n", platform ? "platform (dcrd's in-enclave CA, see platform-ca.pem)" : "organisation");
	printf("expires      %s\n", info.not_after);
	printf("fingerprint  %s\n", info.fingerprint);
	printf("identity     %s\n", dir);
	return 0;
}

int cmd_auth(const struct command *cmd, struct cli *cli, struct parsed *args)
{
	const char *sub = args->argc ? args->argv[0] : NULL;
	char hint[128];

	if (!sub)
		return usage_error(cmd, "which subcommand? keygen, ca, import, login or whoami");
	if (strcmp(sub, "keygen") == 0)
		return auth_keygen(cmd, cli, args);
	if (strcmp(sub, "ca") == 0) {
		if (args->argc >= 2 && strcmp(args->argv[1], "init") == 0)
			return ca_init(cmd, cli, args);
		if (args->argc >= 2 && strcmp(args->argv[1], "issue") == 0)
			return ca_issue(cmd, cli, args);
		if (args->argc < 2)
			return usage_error(cmd, "ca needs init or issue");
		return usage_error(cmd, "unknown ca subcommand '%s' (init or issue)", args->argv[1]);
	}
	if (strcmp(sub, "import") == 0)
		return auth_import(cmd, cli, args);
	if (strcmp(sub, "whoami") == 0)
		return auth_whoami(cmd, cli, args);
	if (strcmp(sub, "login") == 0)
		return auth_login(cmd, cli, args);
	return usage_error(cmd, "unknown subcommand '%s'%s", sub,
		dcr_hint_phrase(dcr_suggest(sub, subcommands), hint, sizeof(hint)));
}
