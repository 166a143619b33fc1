/* Test helper: the reports of the fake SEV-SNP guest that tests/tools/snp-fake-guest.c lays out in a folder. */
#include "snp-fake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "crypto.h"
#include "fileio.h"

#include "banned.h"

#define PROG "snp-fake"
#define DAY 86400
#define ENTRY 24 /* a table entry: GUID, offset and length (little-endian 32 bits each) */

bool snp_fake_join(char buf[static 4096], const char *dir, const char *name)
{
	int n = snprintf(buf, 4096, "%s/%s", dir, name);

	if (n < 0 || n >= 4096) {
		fprintf(stderr, PROG ": path '%s/%s' is too long\n", dir, name);
		return false;
	}
	return true;
}

int snp_fake_get_str(const char *dir, const char *name, char *buf, size_t size)
{
	char path[4096];
	uint8_t *data;
	size_t len;
	struct dcr_err err;

	if (!snp_fake_join(path, dir, name))
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

static void le32(uint8_t *p, size_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* The VCEK and ASK entries, the end entry, then their DER: the table's length, or 0 after a message. */
static size_t host_table(const char *dir, uint8_t table[static SNP_FAKE_TABLE_MAX])
{
	static const uint8_t vcek_guid[16] = { 0x8d, 0x75, 0xda, 0x63, 0x64, 0xe6, 0x64, 0x45, 0xad, 0xc5, 0xf4, 0xb9,
		0x3b, 0xe8, 0xac, 0xcd };
	static const uint8_t ask_guid[16] = { 0x79, 0xb3, 0xb7, 0x4a, 0xac, 0xbb, 0xe4, 0x4f, 0xa0, 0x2f, 0x05, 0xae,
		0xf3, 0x27, 0xc7, 0x82 };
	const uint8_t *guids[2] = { vcek_guid, ask_guid };
	const char *files[2] = { "state/vcek.der", "state/ask.der" };
	size_t off = ENTRY * 3;
	char path[4096];

	memset(table, 0, SNP_FAKE_TABLE_MAX);
	for (int i = 0; i < 2; i++) {
		struct dcr_err err;
		uint8_t *der;
		size_t len;

		if (!snp_fake_join(path, dir, files[i]))
			return 0;
		if (dcr_read_file(path, 8192, &der, &len, &err) < 0) {
			fprintf(stderr, PROG ": %s\n", err.msg);
			return 0;
		}
		memcpy(table + ENTRY * i, guids[i], 16);
		le32(table + ENTRY * i + 16, off);
		le32(table + ENTRY * i + 20, len);
		memcpy(table + off, der, len);
		off += len;
		free(der);
	}
	return off;
}

int snp_fake_report(const char *dir, const uint8_t rd[static 64], uint8_t report[static SNP_SYNTH_REPORT_LEN],
	uint8_t table[static SNP_FAKE_TABLE_MAX], size_t *table_len)
{
	char mhex[128], phex[32], thex[32], certs[16], path[4096];
	struct snp_synth_opts o;
	time_t now = time(NULL);
	uint8_t m[48];
	EVP_PKEY *key;
	FILE *f;

	*table_len = 0;
	if (snp_fake_get_str(dir, "state/measurement", mhex, sizeof(mhex)) < 0 ||
	    snp_fake_get_str(dir, "state/policy", phex, sizeof(phex)) < 0 ||
	    snp_fake_get_str(dir, "state/tcb", thex, sizeof(thex)) < 0 ||
	    snp_fake_get_str(dir, "state/certs", certs, sizeof(certs)) < 0 || dcr_unhex(mhex, m, 48) < 0)
		return -1;
	snp_synth_opts_default(&o, now - DAY, now + 365 * DAY);
	o.tcb = strtoull(thex, NULL, 16);
	snp_synth_report(report, 3, &o, m, rd);
	snp_synth_le64(report + SNP_OFF_POLICY, strtoull(phex, NULL, 16));
	if (!snp_fake_join(path, dir, "state/vcek-key.pem") || !(f = fopen(path, "r")))
		return -1;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key)
		return -1;
	snp_synth_sign(report, key);
	EVP_PKEY_free(key);
	if (strcmp(certs, "kds") == 0)
		return 0;
	if (!(*table_len = host_table(dir, table)))
		return -1;
	if (strcmp(certs, "big") == 0)
		*table_len = 20 * 1024;
	else if (strcmp(certs, "malformed") == 0)
		le32(table + ENTRY + 20, SNP_FAKE_TABLE_MAX); /* the ASK's length: far past the table's end */
	else if (strcmp(certs, "host") != 0)
		return fprintf(stderr, PROG ": state/certs '%s' is not host, big, malformed or kds\n", certs), -1;
	return 0;
}
