/* The Linux kernel's configfs-tsm report interface: attestation reports of a confidential VM (TDX, SEV-SNP). */
#ifndef DCR_TSM_H
#define DCR_TSM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Where the kernel mounts it (Documentation/ABI/testing/configfs-tsm-report). */
#define DCR_TSM_REPORT_DIR "/sys/kernel/config/tsm/report"
#define DCR_TSM_INBLOB_LEN 64
#define DCR_TSM_PROVIDER_MAX 32

/* What one report gave: outblob, and auxblob when asked for (NULL when empty or not asked). free() both. */
struct dcr_tsm_blobs {
	uint8_t *out;
	size_t out_len;
	uint8_t *aux;
	size_t aux_len;
};

/*
 * One report through configfs-tsm under report_dir, the steps of
 * docs/attestation.md "configfs-tsm": make an entry of our own
 * (mkdir report_dir/dcr-PID-RANDOM, mode 0700); read provider, which must
 * be want_provider ("tdx_guest", "sev_guest"; DCR_EATTEST naming what it
 * is otherwise); read generation; write the 64 bytes of inblob in one
 * write; read outblob (at most out_max bytes, not empty) and, if aux_max
 * is not 0, auxblob (at most aux_max bytes, may be empty); read
 * generation again, which must be exactly one more (else another writer
 * used the entry: DCR_EFAIL, nothing returned); then remove the entry.
 * A missing report_dir is DCR_ENOTFOUND (no configfs-tsm: not a
 * confidential VM, or configfs not mounted); other failures of the
 * interface DCR_EFAIL naming the file and errno's text. On failure *out
 * is all NULL and 0.
 */
int dcr_tsm_report(const char *report_dir, const char *want_provider, const uint8_t inblob[static DCR_TSM_INBLOB_LEN],
	size_t out_max, size_t aux_max, struct dcr_tsm_blobs *out, struct dcr_err *err);

/* Free what a report gave, and zero *b. */
void dcr_tsm_blobs_free(struct dcr_tsm_blobs *b);

#endif
