/* Test helper: plays an SEV-SNP guest's configfs-tsm (reports signed by a test VCEK) and lays out a fake KDS. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "crypto.h"
#include "fileio.h"
#include "snp-fake.h"
#include "snp-synth.h"
#include "tsm-serve.h"

#include "banned.h"

#define PROG "snp-fake-guest"
#define DAY 86400

/*
 * DIR holds: ark.pem (the test ARK, for specs), tsm/ (configfs-tsm's
 * report directory, its entries made by tests/tools/fake-tsm.c preloaded
 * into dcrd), device (the file tests/tools/snp-fake-ioctl.c answers
 * ioctls on, with the reports snp-fake.c makes too), kds/
 * (what AMD's KDS serves: vcek/v1/Milan/HWID and .../cert_chain), and
 * state/ (the VCEK's and the ARK's keys, the VCEK's and ASK's certificates;
 * measurement, policy and tcb in hex, certs "host" or "kds", and secret,
 * which tests may change).
 */

static int put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	struct dcr_err err;

	if (!snp_fake_join(path, dir, name))
		return -1;
	if (dcr_write_atomic(path, data, len, &err) < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int put_str(const char *dir, const char *name, const char *s)
{
	return put(dir, name, s, strlen(s));
}

static int make(const char *dir, const char *name)
{
	char path[4096];

	if (!snp_fake_join(path, dir, name))
		return -1;
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* key as PEM in DIR/name. */
static int put_key(const char *dir, const char *name, EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int r = -1;

	if (b && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1 && (n = BIO_get_mem_data(b, &data)) > 0)
		r = put(dir, name, data, (size_t)n);
	BIO_free(b);
	return r;
}

static void opts(struct snp_synth_opts *o)
{
	time_t now = time(NULL);

	snp_synth_opts_default(o, now - DAY, now + 365 * DAY);
}

static int cmd_init(int argc, char **argv)
{
	const char *dir = argv[0], *measurement = NULL, *certs = "host";
	uint8_t m[48];
	char hex[129], name[256], tcb[17];
	struct snp_synth_opts o;
	struct snp_synth s;
	char *pem = NULL;
	size_t pem_len = 0, len;
	uint8_t *der;
	int r = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--measurement") == 0 && i + 1 < argc)
			measurement = argv[++i];
		else if (strcmp(argv[i], "--certs") == 0 && i + 1 < argc)
			certs = argv[++i];
		else
			return fprintf(stderr, "usage: " PROG " init DIR [--measurement HEX] [--certs host|kds]\n"), 2;
	}
	memset(m, 0, sizeof(m));
	if (measurement && dcr_unhex(measurement, m, 48) < 0)
		return fprintf(stderr, PROG ": --measurement must be 96 hex digits\n"), 2;
	if (!measurement)
		dcr_random(m, sizeof(m), NULL);
	opts(&o);
	snp_synth_init(&s, &o);
	if (make(dir, "") < 0 || make(dir, "state") < 0 || make(dir, "tsm") < 0 || make(dir, "kds") < 0 ||
	    make(dir, "kds/vcek") < 0 || make(dir, "kds/vcek/v1") < 0 || make(dir, "kds/vcek/v1/Milan") < 0 ||
	    put_str(dir, "device", "") < 0)
		goto out;
	snp_synth_pem_cert(s.ark, &pem, &pem_len);
	if (put(dir, "ark.pem", pem, pem_len) < 0)
		goto out;
	/* KDS: the VCEK by hwID (the query string names the TCB), and cert_chain, the ASK then the ARK. */
	pem_len = 0;
	snp_synth_pem_cert(s.ask, &pem, &pem_len);
	snp_synth_pem_cert(s.ark, &pem, &pem_len);
	dcr_hex(o.chip_id, 64, hex);
	snprintf(name, sizeof(name), "kds/vcek/v1/Milan/%s", hex);
	der = snp_synth_der(s.leaf, &len);
	r = put(dir, name, der, len);
	if (r == 0)
		r = put(dir, "state/vcek.der", der, len);
	free(der);
	der = snp_synth_der(s.ask, &len);
	if (r == 0)
		r = put(dir, "state/ask.der", der, len);
	free(der);
	if (r < 0 || put(dir, "kds/vcek/v1/Milan/cert_chain", pem, pem_len) < 0) {
		r = -1;
		goto out;
	}
	/* AMD's CRL (DER): crl revokes nothing, crl-revoked the ASK (tests swap it in). */
	{
		X509 *revoke[2] = { s.ask, NULL };
		time_t now = time(NULL);
		X509_CRL *crl = snp_synth_crl(s.ark, s.ark_key, now - DAY, now + 30 * DAY, NULL);
		X509_CRL *bad = snp_synth_crl(s.ark, s.ark_key, now - DAY, now + 30 * DAY, revoke);
		unsigned char *d1 = NULL, *d2 = NULL;
		int l1 = i2d_X509_CRL(crl, &d1), l2 = i2d_X509_CRL(bad, &d2);

		r = l1 > 0 && l2 > 0 && put(dir, "kds/vcek/v1/Milan/crl", d1, (size_t)l1) == 0 &&
			put(dir, "kds/vcek/v1/Milan/crl-revoked", d2, (size_t)l2) == 0 ? 0 : -1;
		OPENSSL_free(d1);
		OPENSSL_free(d2);
		X509_CRL_free(crl);
		X509_CRL_free(bad);
		if (r < 0)
			goto out;
	}
	r = -1;
	dcr_hex(m, 48, hex);
	snprintf(tcb, sizeof(tcb), "%016llx", (unsigned long long)o.tcb);
	if (put_str(dir, "state/measurement", hex) < 0 || put_str(dir, "state/policy", "0000000000030000") < 0 ||
	    put_str(dir, "state/tcb", tcb) < 0 || put_str(dir, "state/certs", certs) < 0)
		goto out;
	{
		uint8_t secret[32];

		dcr_random(secret, sizeof(secret), NULL);
		r = put(dir, "state/secret", secret, sizeof(secret));
		if (r < 0)
			goto out;
		r = -1;
	}
	if (put_key(dir, "state/vcek-key.pem", s.leaf_key) < 0 || put_key(dir, "state/ark-key.pem", s.ark_key) < 0)
		goto out;
	printf("measurement %s\n", hex);
	r = fflush(stdout) == 0 ? 0 : -1;
out:
	free(pem);
	snp_synth_release(&s);
	return r < 0 ? 1 : 0;
}

/* configfs-tsm: the report and the host's table for an entry's inblob (tsm-serve.h). */
static int tsm_answer(void *ctx, const uint8_t inblob[static 64], const uint8_t **out, size_t *out_len,
	const uint8_t **aux, size_t *aux_len)
{
	static uint8_t report[SNP_SYNTH_REPORT_LEN], table[SNP_FAKE_TABLE_MAX];

	if (snp_fake_report(ctx, inblob, report, table, aux_len) < 0)
		return -1;
	*out = report;
	*out_len = sizeof(report);
	*aux = table;
	return 0;
}

/* configfs-tsm in DIR/tsm, as fake-tsm.c makes its entries; while DIR/race exists, another writer races each. */
static _Noreturn void cmd_serve(const char *dir)
{
	char report[4096], race[4096];

	signal(SIGPIPE, SIG_IGN);
	if (!snp_fake_join(report, dir, "tsm") || !snp_fake_join(race, dir, "race"))
		exit(1);
	tsm_serve(PROG, report, race, tsm_answer, (void *)dir);
}

/*
 * crl DIR DAYS [--revoke-ask] OUT: AMD's CRL as the KDS would serve a
 * later one (DER, in OUT, replaced whole): by DIR's ARK, from a day ago to
 * DAYS days from now, revoking nothing or DIR's ASK.
 */
static int cmd_crl(const char *dir, const char *days, bool revoke_ask, const char *out)
{
	char path[4096];
	X509 *ark = NULL, *ask = NULL, *revoke[2] = { NULL, NULL };
	EVP_PKEY *key = NULL;
	X509_CRL *crl = NULL;
	uint8_t *der = NULL;
	unsigned char *d = NULL;
	const unsigned char *p;
	size_t len = 0;
	struct dcr_err err;
	time_t now = time(NULL);
	BIO *b = NULL;
	int l, r = 1;

	if (!snp_fake_join(path, dir, "ark.pem") || !(b = BIO_new_file(path, "r")) ||
	    !(ark = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		goto out;
	BIO_free(b);
	if (!snp_fake_join(path, dir, "state/ark-key.pem") || !(b = BIO_new_file(path, "r")) ||
	    !(key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)))
		goto out;
	if (revoke_ask) {
		if (!snp_fake_join(path, dir, "state/ask.der") || dcr_read_file(path, 1 << 16, &der, &len, &err) < 0)
			goto out;
		p = der;
		if (!(ask = revoke[0] = d2i_X509(NULL, &p, (long)len)))
			goto out;
	}
	crl = snp_synth_crl(ark, key, now - DAY, now + (time_t)strtol(days, NULL, 10) * DAY, revoke);
	if ((l = i2d_X509_CRL(crl, &d)) > 0 && dcr_write_atomic(out, d, (size_t)l, &err) == 0)
		r = 0;
out:
	if (r)
		fprintf(stderr, PROG ": crl: cannot make a CRL from '%s'\n", dir);
	OPENSSL_free(d);
	X509_CRL_free(crl);
	X509_free(ask);
	X509_free(ark);
	EVP_PKEY_free(key);
	BIO_free(b);
	free(der);
	return r;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		cmd_serve(argv[2]);
	if ((argc == 5 || (argc == 6 && strcmp(argv[4], "--revoke-ask") == 0)) && strcmp(argv[1], "crl") == 0)
		return cmd_crl(argv[2], argv[3], argc == 6, argv[argc - 1]);
	fprintf(stderr, "usage: " PROG " init DIR [--measurement HEX] [--certs host|kds] | serve DIR | "
			"crl DIR DAYS [--revoke-ask] OUT\n");
	return 2;
}
