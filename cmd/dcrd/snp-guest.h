/* dcrd on an AMD SEV-SNP guest: reports through configfs-tsm or /dev/sev-guest, the derived sealing key, AMD's KDS. */
#ifndef DCRD_SNP_GUEST_H
#define DCRD_SNP_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "err.h"
#include "snp.h"

#define SNP_DEFAULT_DEVICE "/dev/sev-guest"
#define SNP_DEFAULT_KDS "https://kdsintf.amd.com"

/*
 * A report over report_data, with the host's certificate table when it
 * gives one (*aux: free(); NULL and 0 when not). Through configfs-tsm when
 * tsm_dir is a directory (dcr_tsm_report, provider "sev_guest", outblob
 * the 1184-byte report, auxblob the table). Else through device with
 * SNP_GET_EXT_REPORT, the table in a buffer of 16 KiB, or of the size the
 * kernel asks for up to DCR_SNP_CERTS_MAX. The report must parse and
 * carry report_data (DCR_EATTEST otherwise); other failures of the
 * interface are DCR_EFAIL.
 */
int snp_guest_report(const char *tsm_dir, const char *device, const uint8_t report_data[static 64],
	uint8_t report[static DCR_SNP_REPORT_LEN], uint8_t **aux, size_t *aux_len, struct dcr_err *err);

/*
 * The sealing key: SNP_GET_DERIVED_KEY from device (docs/sev-snp.md, "Sealing
 * key"): root key VCEK, guest fields POLICY, MEASUREMENT and TCB_VERSION,
 * VMPL 0, guest SVN 0, tcb_version as given. DCR_EFAIL when the device
 * refuses (its firmware error in the message).
 */
int snp_guest_derived_key(const char *device, uint64_t tcb_version, uint8_t key[static 32], struct dcr_err *err);

/*
 * The certificates the evidence carries for rep, before AMD's CRL
 * (docs/sev-snp-verification.md), as PEM in *pem (free()): the VCEK (VLEK)
 * and ASK (ASVK) from the host's table aux when it has them, else from
 * AMD's KDS at kds_url (VCEK by product, hwID and REPORTED_TCB; the ASK
 * from the product's cert_chain), each cached in cache_dir
 * ("snp-vcek-<hwid prefix>-<tcb>.der", "snp-ask-<product>.pem") so a
 * restart needs no network. DCR_EUNREACHABLE when the KDS cannot be
 * reached and nothing is cached.
 */
int snp_guest_certs(const char *kds_url, const char *cache_dir, const struct dcr_snp_report *rep,
	enum dcr_snp_product product, const uint8_t *aux, size_t aux_len, uint8_t **pem, size_t *pem_len,
	struct dcr_err *err);

/* A cached CRL is fetched again from this long (seconds) before its nextUpdate. */
#define SNP_CRL_MARGIN 3600

/*
 * AMD's CRL for the product's ARK (KDS /vcek/v1/<product>/crl, for a
 * VLEK /vlek/v1/<product>/crl, DER), as PEM in *pem (free()), and its
 * nextUpdate: the one cached in cache_dir ("snp-crl-vcek-<product>.der")
 * while it is more than SNP_CRL_MARGIN from its nextUpdate, else fetched
 * from the KDS (current, or refused) and cached; when the KDS fails, the
 * cached one while it is current at all (logged). The clients verify it.
 */
int snp_guest_crl(const char *kds_url, const char *cache_dir, enum dcr_snp_product product, bool vlek, uint8_t **pem,
	size_t *pem_len, time_t *next_update, struct dcr_err *err);

#endif
