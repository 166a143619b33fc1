/*
 * Inside the sandbox module: what sandbox.c shares with sandbox-seccomp.c,
 * and what the unit tests reach directly. Not for the rest of dcrd, which
 * uses sandbox.h.
 */
#ifndef DCRD_SANDBOX_IMPL_H
#define DCRD_SANDBOX_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/filter.h>

#include "err.h"

#define SANDBOX_SECCOMP_MAX 512      /* instructions; the filter has about 200 */

/*
 * The seccomp filter every process of the sandbox runs under, supervisor
 * included, written to prog (room for cap instructions); returns its
 * length. Calls it denies fail with deny_errno (EPERM in dcrd; tests pick
 * an errno no kernel path gives, to tell the filter's refusal from the
 * kernel's). Without bounded_memory (no memory cgroup holds the job) it
 * also denies shared memory no rlimit counts: memfd_create, shmget and
 * shared anonymous mmap. Another architecture than the build's (i386 or
 * x32 system calls on x86_64) kills the process. DCR_EFAIL on a build for
 * an architecture the filter does not know.
 */
int sandbox_seccomp_build(bool bounded_memory, int deny_errno, struct sock_filter *prog, size_t cap,
	struct dcr_err *err);

/*
 * The ZIP a sandbox returned (len bytes at data), checked to be exactly
 * what the supervisor writes, whatever the command did: at most
 * SANDBOX_ZIP_ENTRIES_MAX entries holding at most max_size bytes, sorted
 * by name with no name twice, every name under dcr_outname_check, only
 * directories (mode 0755) and regular files (mode 0644) of Unix origin,
 * stored or deflated, unencrypted, each inside a directory that is an
 * entry too. DCR_ECOMPUTE naming the first entry at fault by its index
 * (names are data).
 */
#define SANDBOX_ZIP_ENTRIES_MAX 10000
int sandbox_zip_check(const uint8_t *data, size_t len, uint64_t max_size, struct dcr_err *err);

#endif
