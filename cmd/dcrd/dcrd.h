/* dcrd internals shared between its source files. */
#ifndef DCRD_H
#define DCRD_H

#include <stddef.h>
#include <stdint.h>

#include "attest.h"
#include "err.h"
#include "ohttp.h"

/* The enclave's identity: its keys, sealed in the data directory, and its evidence. */
struct enclave {
	uint8_t sealing_key[32];   /* sim: a key file in the data directory */
	uint8_t hpke_sk[32];
	uint8_t sign_sk[32];
	uint8_t sim_sk[32];        /* signs simulated quotes */
	uint8_t measurement[32];   /* SHA-256 of this executable */
	struct dcr_ohttp_keyconfig ohttp;
	struct dcr_enclave_public pub;
	uint8_t *evidence;
	size_t evidence_len;
};

/*
 * Load the enclave keys from data_dir, or create and seal them on first
 * start; then build the evidence. enclave_close wipes the secrets.
 */
int enclave_open(struct enclave *e, const char *data_dir, struct dcr_err *err);
void enclave_close(struct enclave *e);

int cmd_serve(int argc, char **argv);

#endif
