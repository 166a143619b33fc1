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

#include "call.h"
#include "crypto.h"
#include "dcr.h"
#include "fileio.h"
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

/* Read a file, turning "missing" into exit status 4 with what it was. */
static int read_input(const char *path, const char *what, uint8_t **out, size_t *len, struct dcr_err *err)
{
	int r = dcr_read_file(path, MAX_PEM, out, len, err);

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
	if (!force && exists(out_path)) {
		dcr_err_set(&err, DCR_EEXIST, "'%s' already exists; not replacing it (use -o FILE or --force)", out_path);
		return report(cmd, &err);
	}
	if ((r = read_input(key_path, "CA key (use --dir DIR)", &key, &key_len, &err)) < 0 ||
	    (r = read_input(cert_path, "CA certificate", &ca, &ca_len, &err)) < 0 ||
	    (r = read_input(args->argv[2], "certificate request", &csr, &csr_len, &err)) < 0)
		goto out;
	if ((r = dcr_pki_issue(key, key_len, ca, ca_len, csr, csr_len, days, time(NULL), email, &chain, &chain_len,
		     &err)) < 0) {
		dcr_err_prefix(&err, "'%s'", r == DCR_EINVALID ? args->argv[2] : dir);
		goto out;
	}
	r = force ? dcr_write_atomic(out_path, chain, chain_len, &err)
		  : dcr_keyfile_write(out_path, chain, chain_len, &err);
	if (r == 0)
		r = make_public(out_path, &err);
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
	if ((r = dcr_read_file(key_path, MAX_PEM, &key, &key_len, &err)) < 0) {
		if (r == DCR_ENOTFOUND)
			dcr_err_set(&err, DCR_ENOTFOUND, "no key in '%s'; run 'dcr auth keygen --email E' first", dir);
		goto out;
	}
	if ((r = read_input(args->argv[1], "certificate", &cert, &cert_len, &err)) < 0)
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
	r = dcr_pki_cert_info(sk_X509_value(id->chain, 0), &info, &err);
	dcr_identity_free(id);
	if (r < 0)
		return report(cmd, &err);
	if (cli->json)
		return print_json(cmd, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "email", info.email, "subject",
			info.subject, "issuer", info.issuer, "expires", info.not_after, "fingerprint", info.fingerprint,
			"identity", dir));
	printf("email        %s\n", info.email);
	printf("issuer       %s\n", info.issuer);
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
	if (strcmp(sub, "login") == 0) {
		fprintf(stderr, "dcr: %s: login: not implemented yet\n", cmd->name);
		return 1;
	}
	return usage_error(cmd, "unknown subcommand '%s'%s", sub,
		dcr_hint_phrase(dcr_suggest(sub, subcommands), hint, sizeof(hint)));
}
