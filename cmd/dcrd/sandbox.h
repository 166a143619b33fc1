/*
 * The sandbox a python computation runs in, and everything that keeps it
 * there, in one module (sandbox.c): bubblewrap's namespaces and mounts,
 * the unprivileged host user, the supervisor inside that runs the command
 * and zips its output, the limits, and the checks of what comes back.
 * Callers say what to run with which files and limits; they get the
 * output's ZIP and the log, or why there is none.
 */
#ifndef DCRD_SANDBOX_H
#define DCRD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* How the sandbox is set up on this host, from dcrd serve's options. */
struct sandbox_options {
	const char *user;          /* --sandbox-user USER|UID[:GROUP|GID]; NULL: the default */
	const char *cgroup;        /* --cgroup auto|off|PATH; NULL: auto */
	const char *refuse;        /* non-NULL: no sandbox here, for this reason (SGX) */
};

/*
 * Set the sandbox up on this host, once, before any sandbox_run (and
 * before dcrd starts threads: it may move dcrd into a cgroup of its own).
 * It makes the process a child subreaper: a sandbox's pid 1 orphaned by
 * bwrap's death comes to it, and sandbox_run reaps it (by pidfd, never a
 * status another thread waits for).
 * Who the sandbox is: as root, opt->user or by default the user
 * dcr-sandbox, never uid or gid 0; not as root, dcrd's own user (opt->user
 * may only name it). Where jobs' cgroups go: opt->cgroup, auto (cgroup v2
 * if delegated, else v1 if writable, else none), off, or a cgroup v2
 * directory. desc says what was chosen, for dcrd's log. A missing default
 * user or no usable cgroup in auto mode are not errors here: sandboxes
 * then fail with the reason (DCR_ECOMPUTE), or run with per-process
 * limits only. DCR_EUSAGE or DCR_ENOTFOUND for an unusable opt->user,
 * DCR_EUSAGE for a malformed opt->cgroup, DCR_EFAIL for a PATH that
 * cannot be used.
 */
int sandbox_configure(const struct sandbox_options *opt, char *desc, size_t desc_size, struct dcr_err *err);

/* Remove what sandbox_configure made (cgroup directories); at dcrd's end. */
void sandbox_shutdown(void);

/*
 * One read-only file in the sandbox: its absolute path and its bytes,
 * from fd or in data. Files that give the same fd are one file in the
 * sandbox, at the first of their paths, and symbolic links to it at the
 * others: a dataset mounted at twelve paths is held once.
 */
struct sandbox_file {
	const char *path;          /* under /code, /input or /opt/dcr (modules on PYTHONPATH) */
	int fd;                    /* >= 0: a file to read from its start (a sealed memfd); the caller keeps it */
	const uint8_t *data;       /* fd < 0: the bytes */
	size_t len;
};

/*
 * A new memfd for a sandbox_file's fd, to write a file's bytes into, and
 * its seals once they are all there (no more writes, no growing or
 * shrinking): -1 with errno, and 0 or -1 with errno.
 */
int sandbox_memfd(const char *name);
int sandbox_memfd_seal(int fd);

/* What to run. */
struct sandbox_job {
	char *const *argv;         /* the command, argv[0] looked up in PATH=/usr/bin:/bin */
	size_t argc;
	const char *output;        /* the output directory: /output or a directory under it */
	const struct sandbox_file *files;
	size_t n_files;
	uint64_t time_ms;          /* wall clock, from the start of the sandbox */
	uint64_t memory;           /* bytes */
};

struct sandbox_result {
	uint8_t *zip;              /* free(): a ZIP of the output directory */
	size_t zip_len;
	char *logs;                /* free(): what the command printed (stdout and stderr), at most 1 MiB, NUL-ended */
	size_t logs_len;
	int exit_status;           /* of the command; 128 + N when killed by signal N */
};

/*
 * Run job in a new sandbox and wait for it: no network, a fresh root of
 * read-only system directories, the files read-only, a writable output
 * directory and private /tmp, within the job's limits. The output
 * directory comes back as a checked ZIP. A command that exits non-zero,
 * is killed or exceeds a limit is DCR_ECOMPUTE, with the logs still in
 * out for the caller to show or not; DCR_EINVALID for paths that break
 * the rules; DCR_EFAIL when the sandbox cannot be set up here.
 */
int sandbox_run(const struct sandbox_job *job, struct sandbox_result *out, struct dcr_err *err);

/* Free out's buffers (wiping the logs, which may quote data); accepts a zeroed out. */
void sandbox_result_release(struct sandbox_result *out);

/*
 * The bytes of the one file in a ZIP that sandbox_run returned (and so
 * checked), for a computation whose result is that file (result: file in
 * dcr-room(5)): *out (free(); a zero-length file gives a 1-byte buffer and
 * *out_len 0). Directories do not count; no file or more than one is
 * DCR_ECOMPUTE saying how many, never naming them (names are data).
 */
int sandbox_zip_single(const uint8_t *zip, size_t len, uint8_t **out, size_t *out_len, struct dcr_err *err);

/*
 * Whether prog, a python computation's program as its room names it (a
 * name looked up in the sandbox's PATH, or an absolute path), is an
 * executable of the sandbox's image: the host's /usr (but /usr/local),
 * with python as another name of python3. 0, or DCR_EINVALID saying why.
 * For dcr_room_files's program hook.
 */
int sandbox_program(const char *prog, struct dcr_err *err);

/*
 * What sandbox_available found: whether python computations can run and
 * why not, and what the sandbox offers, the python version and that of
 * each distribution dcr-room(5) lists (empty: not installed). Versions are
 * printable ASCII without spaces, "?" for anything else.
 */
#define SANDBOX_PACKAGES 12
struct sandbox_report {
	bool available;
	char reason[DCR_ERR_MSG_MAX];
	char python[32];
	struct {
		const char *name;          /* static */
		char version[64];
	} packages[SANDBOX_PACKAGES];
};

/*
 * Whether sandboxes can run here (bubblewrap can make its namespaces,
 * python3, a sandbox user): runs a probe in a real sandbox, after
 * sandbox_configure and before the report is read by other threads; 0 or
 * DCR_EFAIL with why. The report keeps what it found.
 */
int sandbox_available(struct dcr_err *err);

/* The last sandbox_available's findings; "not checked" before the first. */
const struct sandbox_report *sandbox_report(void);

/* Say what the report holds, once, on dcrd's log. */
void sandbox_log(void);

/*
 * Confine the calling process, the SQL worker, for good: no new
 * privileges, and a seccomp filter with the python sandbox's denials
 * (sandbox-seccomp.c: mounts, namespaces, ptrace and other processes'
 * memory, keyrings, BPF, io_uring, modules, clocks, shared memory no rlimit
 * counts...) and more: no file reached by name (open, create, remove,
 * rename, link, chmod, exec), no socket made, connected, bound or
 * accepted, no signal to another process. Denied calls fail with
 * deny_errno, but access() and faccessat(), which say ENOENT. DCR_EIO
 * when the kernel interface has no seccomp or no_new_privs (Gramine's),
 * DCR_EFAIL when it refuses otherwise or the architecture has no filter.
 * loading: the first of two filters for a worker that loads tables into
 * the table store (files by path, memfds): all of the above but the calls
 * on files by name and access(); memfd_create is allowed. The second,
 * stacked on it once the tables are in place, is the full filter.
 */
int sandbox_confine_worker(int deny_errno, bool loading, struct dcr_err *err);

#endif
