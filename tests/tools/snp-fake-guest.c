/* Test helper: plays an SEV-SNP guest's configfs-tsm entry (reports signed by a test VCEK) and lays out a fake KDS. */
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
#include "snp-synth.h"

#include "banned.h"

#define PROG "snp-fake-guest"
#define DAY 86400

/*
 * DIR holds: ark.pem (the test ARK, for specs), tsm/dcrd/ (the configfs-tsm
 * entry: FIFOs inblob, outblob, auxblob; files provider, generation),
 * device (the file tests/tools/snp-fake-ioctl.c answers ioctls on), kds/
 * (what AMD's KDS serves: vcek/v1/Milan/HWID and .../cert_chain), and
 * state/ (the VCEK's key and certificates; measurement, policy and tcb in
 * hex, certs "host" or "kds", and secret, which tests may change).
 */

static bool join(char buf[static 4096], const char *dir, const char *name)
{
	int n = snprintf(buf, 4096, "%s/%s", dir, name);

	if (n < 0 || n >= 4096) {
		fprintf(stderr, PROG ": path '%s/%s' is too long\n", dir, name);
		return false;
	}
	return true;
}

static int put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	struct dcr_err err;

	if (!join(path, dir, name))
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

static int make(const char *dir, const char *name, bool fifo)
{
	char path[4096];

	if (!join(path, dir, name))
		return -1;
	if ((fifo ? mkfifo(path, 0600) : mkdir(path, 0700)) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create '%s': %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The text of DIR/name, at most size - 1 bytes, without a trailing line feed. */
static int get_str(const char *dir, const char *name, char *buf, size_t size)
{
	char path[4096];
	uint8_t *data;
	size_t len;
	struct dcr_err err;

	if (!join(path, dir, name))
		return -1;
	if (dcr_read_file(path, size - 1, &data, &len, &err) < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		return -1;
	}
	while (len && data[len - 1] == '\n')
		len--;
	memcpy(buf, data, len);
	buf[len] = '\0';
	free(data);
	return 0;
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
	BIO *b;
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
	if (make(dir, "", false) < 0 || make(dir, "state", false) < 0 || make(dir, "tsm", false) < 0 ||
	    make(dir, "tsm/dcrd", false) < 0 || make(dir, "kds", false) < 0 || make(dir, "kds/vcek", false) < 0 ||
	    make(dir, "kds/vcek/v1", false) < 0 || make(dir, "kds/vcek/v1/Milan", false) < 0)
		goto out;
	if (make(dir, "tsm/dcrd/inblob", true) < 0 || make(dir, "tsm/dcrd/outblob", true) < 0 ||
	    make(dir, "tsm/dcrd/auxblob", true) < 0 || put_str(dir, "tsm/dcrd/provider", "sev_guest\n") < 0 ||
	    put_str(dir, "tsm/dcrd/generation", "0\n") < 0 || put_str(dir, "device", "") < 0)
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
	if (!(b = BIO_new(BIO_s_mem())) || PEM_write_bio_PrivateKey(b, s.leaf_key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	{
		char *data;
		long n = BIO_get_mem_data(b, &data);

		r = put(dir, "state/vcek-key.pem", data, (size_t)n);
		BIO_free(b);
		if (r < 0)
			goto out;
	}
	printf("measurement %s\n", hex);
	r = fflush(stdout) == 0 ? 0 : -1;
out:
	free(pem);
	snp_synth_release(&s);
	return r < 0 ? 1 : 0;
}

static int fifo_io(const char *dir, const char *name, bool write_it, uint8_t *buf, size_t len, size_t *got)
{
	char path[4096];
	ssize_t n;
	size_t used = 0;
	int fd;

	if (!join(path, dir, name))
		return -1;
	if ((fd = open(path, write_it ? O_WRONLY : O_RDONLY)) < 0) {
		fprintf(stderr, PROG ": cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (write_it) {
		n = dcr_write_all(fd, buf, len) < 0 ? -1 : (ssize_t)len;
	} else {
		while (used < len && (n = read(fd, buf + used, len - used)) > 0)
			used += (size_t)n;
		n = (ssize_t)used;
	}
	close(fd);
	if (got)
		*got = (size_t)(n < 0 ? 0 : n);
	return n < 0 ? -1 : 0;
}

/* One report: read inblob, sign a report over it, bump generation, answer outblob and auxblob. */
static int serve_one(const char *dir)
{
	char mhex[128], phex[32], thex[32], certs[16], gen[32], path[4096];
	uint8_t rd[64], m[48], report[SNP_SYNTH_REPORT_LEN], table[24 * 3 + 8192];
	struct snp_synth_opts o;
	unsigned long long g;
	size_t got = 0, table_len = 0;
	EVP_PKEY *key = NULL;
	FILE *f;
	int r = -1;

	if (fifo_io(dir, "tsm/dcrd/inblob", false, rd, sizeof(rd), &got) < 0)
		return -1;
	if (got != sizeof(rd))
		return 0; /* opened and closed without the 64 bytes: not a request */
	if (get_str(dir, "state/measurement", mhex, sizeof(mhex)) < 0 ||
	    get_str(dir, "state/policy", phex, sizeof(phex)) < 0 ||
	    get_str(dir, "state/tcb", thex, sizeof(thex)) < 0 || get_str(dir, "state/certs", certs, sizeof(certs)) < 0 ||
	    get_str(dir, "tsm/dcrd/generation", gen, sizeof(gen)) < 0 || dcr_unhex(mhex, m, 48) < 0)
		return -1;
	opts(&o);
	o.tcb = strtoull(thex, NULL, 16);
	snp_synth_report(report, 3, &o, m, rd);
	snp_synth_le64(report + SNP_OFF_POLICY, strtoull(phex, NULL, 16));
	if (!join(path, dir, "state/vcek-key.pem") || !(f = fopen(path, "r")))
		return -1;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		return -1;
	snp_synth_sign(report, key);
	EVP_PKEY_free(key);
	g = strtoull(gen, NULL, 10) + 1;
	snprintf(gen, sizeof(gen), "%llu\n", g);
	if (put_str(dir, "tsm/dcrd/generation", gen) < 0)
		return -1;
	memset(table, 0, sizeof(table));
	if (strcmp(certs, "host") == 0) {
		/* The certificate table: VCEK and ASK entries, the end entry, then the DER. */
		static const uint8_t vcek_guid[16] = { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9,
			0x3b, 0xe8, 0xac, 0xcd };
		static const uint8_t ask_guid[16] = { 0x79, 0xb3, 0xb7, 0x4a, 0xac, 0xbb, 0xe4, 0x4f, 0xa0, 0x2f, 0x05, 0xae,
			0xf3, 0x27, 0xc7, 0x82 };
		const uint8_t *guids[2] = { vcek_guid, ask_guid };
		const char *files[2] = { "state/vcek.der", "state/ask.der" };
		size_t off = 24 * 3;

		for (int i = 0; i < 2; i++) {
			uint8_t *der;
			size_t len;
			struct dcr_err err;

			if (!join(path, dir, files[i]) || dcr_read_file(path, 8192, &der, &len, &err) < 0 ||
			    off + len > sizeof(table))
				return -1;
			memcpy(table + 24 * i, guids[i], 16);
			for (int k = 0; k < 4; k++)
				table[24 * i + 16 + k] = (uint8_t)(off >> (8 * k)), table[24 * i + 20 + k] = (uint8_t)(len >> (8 * k));
			memcpy(table + off, der, len);
			off += len;
			free(der);
		}
		table_len = off;
	}
	if (fifo_io(dir, "tsm/dcrd/outblob", true, report, sizeof(report), NULL) < 0 ||
	    fifo_io(dir, "tsm/dcrd/auxblob", true, table, table_len, NULL) < 0)
		return -1;
	r = 0;
	return r;
}

static _Noreturn void cmd_serve(const char *dir)
{
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		if (serve_one(dir) < 0) {
			fprintf(stderr, PROG ": a request failed\n");
			sleep(1);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "serve") == 0)
		cmd_serve(argv[2]);
	fprintf(stderr, "usage: " PROG " init DIR [--measurement HEX] [--certs host|kds] | serve DIR\n");
	return 2;
}
