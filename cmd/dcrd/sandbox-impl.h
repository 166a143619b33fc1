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
#define SANDBOX_PATH_MAX 4096

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

/* ---- cgroups (sandbox-cgroup.c) ---- */

/* Where dcrd puts its jobs' cgroups. */
struct sandbox_cgroups {
	int version;               /* 0: none, 1, 2 */
	bool cpu;                  /* the cpu controller too */
	bool memsw;                /* v1: memory.memsw.* (swap accounting) exists */
	char dir[3][SANDBOX_PATH_MAX]; /* v2: [0] the parent of the jobs; v1: memory, pids, cpu ("": none) */
};

/*
 * Whether the cgroup v2 directory dir is delegated to this process: marked
 * so by systemd (the extended attribute trusted.delegate, or where that is
 * absent user.delegate, is "1"), or, for another user than root (who may
 * write any cgroup), owned by the effective user and writable by it.
 */
bool sandbox_cgroup_delegated(const char *dir);

/*
 * mode "auto" (or NULL): cgroup v2 if dcrd's own cgroup is delegated to
 * it (sandbox_cgroup_delegated) and has memory and pids (dcrd then moves
 * into a leaf, DIR/dcrd, since a cgroup whose controllers its children use
 * may hold no process); else cgroup v1 if dcrd may write its memory and
 * pids hierarchies (dcrd-PID directories under its own cgroups, removed by
 * sandbox_cgroup_release; those of dcrds that are gone are swept away);
 * else none. "off": none. An absolute path: that cgroup v2 directory, or
 * DCR_EFAIL. desc says what was chosen and why not v2, or why none, for
 * dcrd's log.
 */
int sandbox_cgroup_setup(const char *mode, struct sandbox_cgroups *cg, char *desc, size_t desc_size,
	struct dcr_err *err);
void sandbox_cgroup_release(struct sandbox_cgroups *cg);

/*
 * Remove the job cgroups below base that dcrds that are gone left, killing
 * what is in them: v1 (base a dcrd-PID directory of hierarchy i, 0
 * memory, 1 pids, 2 cpu) every job-N; v2 each job-PID-N whose PID is dead
 * or this process's (a dead dcrd that had its pid). At setup, and for the
 * tests.
 */
void sandbox_cgroup_sweep_jobs(int version, size_t i, const char *base);

/* One job's cgroup(s). */
struct sandbox_cgroup_job {
	int version;               /* 0: none */
	char dir[3][SANDBOX_PATH_MAX];
	char procs[3][SANDBOX_PATH_MAX + 16]; /* the cgroup.procs files the child writes "0" to */
	size_t n_procs;
	char events[SANDBOX_PATH_MAX + 32]; /* v2 memory.events, v1 memory.oom_control */
};

/*
 * A new cgroup for a job: memory (v2 memory.max, swap 0, the whole job
 * killed on OOM; v1 memory and memory+swap limits), at most tasks
 * processes and threads, half dcrd's CPU weight. One of the same name
 * left by a dead dcrd that had this pid is removed first. With no
 * cgroups, job is zeroed and nothing happens.
 */
int sandbox_cgroup_job_create(const struct sandbox_cgroups *cg, uint64_t memory, unsigned tasks,
	struct sandbox_cgroup_job *job, struct dcr_err *err);
/* Whether the kernel killed a process of the job for exceeding its memory limit. */
bool sandbox_cgroup_job_oom(const struct sandbox_cgroup_job *job);
/*
 * Kill every process of the job (v2: cgroup.kill; else each pid of its
 * cgroup.procs by pidfd, once checked to be in the job, so that a pid
 * reused meanwhile is never killed).
 */
void sandbox_cgroup_job_kill(struct sandbox_cgroup_job *job);
/* Kill what is left, wait for it to die (a few seconds at most) and remove the cgroups. */
void sandbox_cgroup_job_destroy(struct sandbox_cgroup_job *job);

/* Parsers, for the tests. The path of this process's cgroup in /proc/self/cgroup's text (controller NULL: v2). */
int sandbox_cgroup_own(const char *text, const char *controller, char *out, size_t size);
/* Where /proc/self/mountinfo's text mounts controller's v1 hierarchy (NULL: cgroup2), and the mount's root in it. */
int sandbox_cgroup_mount(const char *text, const char *controller, char *point, size_t psize, char *root,
	size_t rsize);
/* The directory of cgroup own of a hierarchy mounted at point from root. */
int sandbox_cgroup_dir(const char *point, const char *root, const char *own, char *out, size_t size);
/* The "oom_kill N" count of a memory.events or memory.oom_control text. */
uint64_t sandbox_cgroup_oom_kills(const char *text);

#endif
