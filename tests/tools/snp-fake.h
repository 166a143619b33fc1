/* Test helper: the reports of the fake SEV-SNP guest that tests/tools/snp-fake-guest.c lays out in a folder. */
#ifndef DCR_TEST_SNP_FAKE_H
#define DCR_TEST_SNP_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snp-synth.h"

/* Room for the host's certificate table: the "big" one is 20 KiB, more than /dev/sev-guest's 16 KiB. */
#define SNP_FAKE_TABLE_MAX (32 * 1024)

/* DIR/name in buf, or a message and false when it does not fit. */
bool snp_fake_join(char buf[static 4096], const char *dir, const char *name);
/* The text of DIR/name, at most size - 1 bytes, without a trailing line feed; -1 after a message. */
int snp_fake_get_str(const char *dir, const char *name, char *buf, size_t size);

/*
 * The version 3 report the guest in dir makes for rd (its measurement,
 * policy and TCB in DIR/state), signed with its VCEK; and the certificate
 * table its host gives with it, as DIR/state/certs says: "host" the VCEK
 * and ASK entries (GUIDs of the SEV-SNP GHCB spec), the all-zero end
 * entry, then the DER; "big" the same padded with zeros to 20 KiB, more
 * than the guest driver takes; "malformed" an entry whose certificate
 * runs past the table; "kds" none (*table_len 0). -1 after a message.
 */
int snp_fake_report(const char *dir, const uint8_t rd[static 64], uint8_t report[static SNP_SYNTH_REPORT_LEN],
	uint8_t table[static SNP_FAKE_TABLE_MAX], size_t *table_len);

#endif
