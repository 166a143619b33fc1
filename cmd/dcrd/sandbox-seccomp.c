/* The sandbox's seccomp filter (sandbox-impl.h): a classic BPF program that denies what data code never needs. */
#define _GNU_SOURCE /* the syscall numbers of <sys/syscall.h> */

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "sandbox-impl.h"
#include "sandbox.h"

#include "banned.h"

#if defined(__x86_64__) && !defined(__ILP32__)
#define ARCH AUDIT_ARCH_X86_64
#define X32_BIT 0x40000000u          /* x32 system calls: their numbers with this bit, same arch value */
#elif defined(__aarch64__) && !defined(__ILP32__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

/* Since Linux 5.1 new system calls have one number on every architecture but alpha. */
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif

#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452
#endif

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
		  CLONE_NEWCGROUP | 0x80u /* CLONE_NEWTIME */)
#define PER_QUERY 0xffffffffu        /* personality(0xffffffff) reads the persona without changing it */

#ifdef ARCH
/*
 * Denied outright, with the caller's errno: mounts and namespaces (the
 * sandbox's view of the system is fixed), other processes' memory and
 * descriptors, the kernel's keyrings, BPF and performance counters,
 * userfaultfd and io_uring (large attack surface, never needed by data
 * code), modules, kexec, reboot, swap, accounting, the clocks, port I/O,
 * the kernel log, quotas, file handles (which bypass the mount
 * namespace), host and domain names, fanotify, memory placement of other
 * processes, and the obsolete calls nothing uses.
 */
static const int denied[] = {
	__NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_open_tree, __NR_open_tree_attr,
	__NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_mount_setattr,
	__NR_unshare, __NR_setns,
	__NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_kcmp, __NR_pidfd_getfd,
	__NR_process_madvise,
	__NR_keyctl, __NR_add_key, __NR_request_key,
	__NR_bpf, __NR_perf_event_open, __NR_userfaultfd,
	__NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
	__NR_init_module, __NR_finit_module, __NR_delete_module, __NR_kexec_load, __NR_kexec_file_load,
	__NR_reboot, __NR_swapon, __NR_swapoff, __NR_acct,
	__NR_settimeofday, __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex,
	__NR_syslog, __NR_quotactl, __NR_quotactl_fd, __NR_open_by_handle_at, __NR_name_to_handle_at,
	__NR_sethostname, __NR_setdomainname, __NR_fanotify_init, __NR_lookup_dcookie, __NR_vhangup,
	__NR_nfsservctl, __NR_memfd_secret, __NR_migrate_pages, __NR_move_pages,
#ifdef __x86_64__
	__NR_iopl, __NR_ioperm, __NR_modify_ldt, __NR_uselib, __NR__sysctl, __NR_ustat, __NR_sysfs,
#endif
};

/* Without a memory cgroup nothing would count these against the job: shared memory that no rlimit sees. */
static const int unaccounted[] = { __NR_memfd_create, __NR_shmget };

/*
 * The sockets data code may make: a family, and for each type (without
 * SOCK_NONBLOCK and SOCK_CLOEXEC) the protocols allowed. Other families
 * are refused (AF_VSOCK reaches the hypervisor, AF_ALG the kernel's
 * crypto); so are other types and protocols (SCTP, DCCP, L2TP, raw
 * sockets, netlink beyond routing), which reach code few programs use and
 * whose modules the kernel would load, as root, for the asking.
 */
#define MAX_SOCKET_TYPES 3
#define MAX_PROTOCOLS 2
static const struct socket_rule {
	uint32_t family;
	struct {
		uint32_t type, protocols[MAX_PROTOCOLS];
		size_t n_protocols;
	} types[MAX_SOCKET_TYPES];
	size_t n_types;
} socket_rules[] = {
	{ AF_UNIX, { { SOCK_STREAM, { 0 }, 1 }, { SOCK_DGRAM, { 0 }, 1 }, { SOCK_SEQPACKET, { 0 }, 1 } }, 3 },
	{ AF_INET, { { SOCK_STREAM, { 0, IPPROTO_TCP }, 2 }, { SOCK_DGRAM, { 0, IPPROTO_UDP }, 2 } }, 2 },
	{ AF_INET6, { { SOCK_STREAM, { 0, IPPROTO_TCP }, 2 }, { SOCK_DGRAM, { 0, IPPROTO_UDP }, 2 } }, 2 },
	{ AF_NETLINK, { { SOCK_RAW, { NETLINK_ROUTE }, 1 }, { SOCK_DGRAM, { NETLINK_ROUTE }, 1 } }, 2 },
};

struct bpf {
	struct sock_filter *p;
	size_t n, cap;
};

static void emit(struct bpf *b, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (b->n < b->cap)
		b->p[b->n] = (struct sock_filter){ code, jt, jf, k };
	b->n++;
}

static void ret(struct bpf *b, uint32_t action)
{
	emit(b, BPF_RET | BPF_K, action, 0, 0);
}

static void load(struct bpf *b, uint32_t offset)
{
	emit(b, BPF_LD | BPF_W | BPF_ABS, offset, 0, 0);
}

/* The low 32 bits of argument i: what the kernel reads of an int or unsigned argument. */
static uint32_t arg_low(int i)
{
	return (uint32_t)(offsetof(struct seccomp_data, args) + 8 * (size_t)i +
			  (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0));
}

/* "if nr == number then ...": the start of a block; block_end makes a false test jump past it. */
static size_t block_start(struct bpf *b, int number)
{
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)number, 0, 0);
	return b->n - 1;
}

static void block_end(struct bpf *b, size_t at)
{
	if (b->n < b->cap && b->n - at - 1 <= UINT8_MAX)
		b->p[at].jf = (uint8_t)(b->n - at - 1);
	else
		b->n = b->cap + 1;  /* too long: reported as such */
}

/* The system call's argument i (low word), then: deny when it is one of values. */
static void deny_values(struct bpf *b, int i, const uint32_t *values, size_t n, uint32_t deny)
{
	load(b, arg_low(i));
	for (size_t v = 0; v < n; v++) {
		emit(b, BPF_JMP | BPF_JEQ | BPF_K, values[v], 0, 1);
		ret(b, deny);
	}
	ret(b, SECCOMP_RET_ALLOW);
}

/* The argument i (low word), then: allow only when it is one of values. */
static void allow_values(struct bpf *b, int i, const uint32_t *values, size_t n, uint32_t deny)
{
	load(b, arg_low(i));
	for (size_t v = 0; v < n; v++) {
		emit(b, BPF_JMP | BPF_JEQ | BPF_K, values[v], 0, 1);
		ret(b, SECCOMP_RET_ALLOW);
	}
	ret(b, deny);
}

/*
 * socket and socketpair (family, type, protocol): allow what one of the n
 * rules allows; another family fails with no_family, another type or
 * protocol of an allowed family with deny.
 */
static void allow_sockets(struct bpf *b, const struct socket_rule *rules, size_t n, uint32_t no_family,
	uint32_t deny)
{
	for (size_t f = 0; f < n; f++) {
		size_t family;

		load(b, arg_low(0));
		family = block_start(b, (int)rules[f].family);
		load(b, arg_low(1));
		emit(b, BPF_ALU | BPF_AND | BPF_K, ~(uint32_t)(SOCK_NONBLOCK | SOCK_CLOEXEC), 0, 0);
		for (size_t t = 0; t < rules[f].n_types; t++) {
			size_t type = block_start(b, (int)rules[f].types[t].type);

			allow_values(b, 2, rules[f].types[t].protocols, rules[f].types[t].n_protocols, deny);
			block_end(b, type);
		}
		ret(b, deny);
		block_end(b, family);
	}
	ret(b, no_family);
}
#endif

#ifdef ARCH
/* Another ABI (i386 through int 0x80, x32) numbers system calls otherwise: kill, whatever it asked. Then the number. */
static void prologue(struct bpf *b)
{
	load(b, offsetof(struct seccomp_data, arch));
	emit(b, BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
	ret(b, SECCOMP_RET_KILL_PROCESS);
	load(b, offsetof(struct seccomp_data, nr));
#ifdef X32_BIT
	emit(b, BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
	ret(b, SECCOMP_RET_KILL_PROCESS);
#endif
}

/* The sandbox's rules, the system call number loaded; ends allowing what they do not deny. */
static void body(struct bpf *bp, bool bounded_memory, uint32_t deny)
{
	const uint32_t no_family = SECCOMP_RET_ERRNO | EAFNOSUPPORT;
	const uint32_t ttys[] = { TIOCSTI, TIOCLINUX };
	const uint32_t personas[] = { 0 /* PER_LINUX */, PER_QUERY };
	struct bpf b = *bp;
	size_t at;

	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied[i], 0, 1);
		ret(&b, deny);
	}
	for (size_t i = 0; !bounded_memory && i < sizeof(unaccounted) / sizeof(unaccounted[0]); i++) {
		emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)unaccounted[i], 0, 1);
		ret(&b, deny);
	}
	/* clone3 hides its flags in memory the filter cannot read: ENOSYS, and libc falls back to clone. */
	emit(&b, BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
	ret(&b, SECCOMP_RET_ERRNO | ENOSYS);
	at = block_start(&b, __NR_clone);
	load(&b, arg_low(0));
	emit(&b, BPF_JMP | BPF_JSET | BPF_K, NS_FLAGS, 0, 1);
	ret(&b, deny);
	ret(&b, SECCOMP_RET_ALLOW);
	block_end(&b, at);
	/* Faking input on a terminal: the kernel reads the request as 32 bits, so do we. */
	at = block_start(&b, __NR_ioctl);
	deny_values(&b, 1, ttys, sizeof(ttys) / sizeof(ttys[0]), deny);
	block_end(&b, at);
	at = block_start(&b, __NR_personality);
	allow_values(&b, 0, personas, sizeof(personas) / sizeof(personas[0]), deny);
	block_end(&b, at);
	at = block_start(&b, __NR_socket);
	allow_sockets(&b, socket_rules, sizeof(socket_rules) / sizeof(socket_rules[0]), no_family, deny);
	block_end(&b, at);
	/* A pair is local: AF_UNIX only (the first rule). */
	at = block_start(&b, __NR_socketpair);
	allow_sockets(&b, socket_rules, 1, no_family, deny);
	block_end(&b, at);
	if (!bounded_memory) {
		/* Shared anonymous memory (MAP_SHARED, or MAP_SHARED_VALIDATE, with MAP_ANONYMOUS). */
		at = block_start(&b, __NR_mmap);
		load(&b, arg_low(3));
		emit(&b, BPF_JMP | BPF_JSET | BPF_K, MAP_ANONYMOUS, 0, 2);
		emit(&b, BPF_JMP | BPF_JSET | BPF_K, MAP_SHARED, 0, 1);
		ret(&b, deny);
		ret(&b, SECCOMP_RET_ALLOW);
		block_end(&b, at);
	}
	ret(&b, SECCOMP_RET_ALLOW);
	*bp = b;
}
#endif

int sandbox_seccomp_build(bool bounded_memory, int deny_errno, struct sock_filter *prog, size_t cap,
	struct dcr_err *err)
{
#ifdef ARCH
	struct bpf b = { prog, 0, cap };

	prologue(&b);
	body(&b, bounded_memory, SECCOMP_RET_ERRNO | ((uint32_t)deny_errno & SECCOMP_RET_DATA));
	if (b.n > cap)
		return dcr_err_set(err, DCR_EFAIL, "the sandbox's seccomp filter does not fit in %zu instructions", cap);
	return (int)b.n;
#else
	(void)bounded_memory;
	(void)deny_errno;
	(void)prog;
	(void)cap;
	return dcr_err_set(err, DCR_EFAIL, "the python sandbox has no seccomp filter for this architecture "
		"(x86_64 and aarch64 only)");
#endif
}

#ifdef ARCH
/*
 * What the SQL worker may not do beyond the sandbox's denials: run a
 * program, make a socket or use one to reach anything (it talks to dcrd on
 * a socket it inherits, connected already), or signal any process but its
 * own; and, once it no longer loads tables (worker_files), reach a file by
 * its name (open, create, remove, rename, link, change).
 */
static const int worker_denied[] = {
	__NR_execve, __NR_execveat,
	__NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen, __NR_accept, __NR_accept4,
	__NR_tkill, __NR_pidfd_open, __NR_pidfd_send_signal, __NR_rt_sigqueueinfo,
};

static const int worker_files[] = {
#ifdef __x86_64__
	__NR_open, __NR_creat, __NR_mkdir, __NR_rmdir, __NR_unlink, __NR_rename, __NR_link, __NR_symlink,
	__NR_chmod, __NR_chown, __NR_lchown, __NR_mknod, __NR_utime, __NR_utimes, __NR_futimesat,
#endif
	__NR_openat, __NR_openat2, __NR_mkdirat, __NR_unlinkat, __NR_renameat, __NR_renameat2, __NR_linkat,
	__NR_symlinkat, __NR_truncate, __NR_fchmodat, __NR_fchmodat2, __NR_fchownat, __NR_mknodat, __NR_utimensat,
	__NR_chdir, __NR_setxattr, __NR_lsetxattr, __NR_removexattr, __NR_lremovexattr, __NR_inotify_add_watch,
};

/*
 * Whether a file exists, asked by name: "no" (ENOENT), so that code which
 * looks before it opens (DuckDB reads /proc/self/cgroup if it is there,
 * and aborts when it cannot) takes it for absent.
 */
static const int worker_absent[] = {
#ifdef __x86_64__
	__NR_access,
#endif
	__NR_faccessat, __NR_faccessat2,
};

/* The system call number is loaded; if it is nr, allow it only when argument 0 is one of values. */
static void self_only(struct bpf *b, int nr, const uint32_t *values, size_t n, uint32_t deny)
{
	size_t at = block_start(b, nr);

	allow_values(b, 0, values, n, deny);
	block_end(b, at);
	load(b, offsetof(struct seccomp_data, nr));
}
#endif

int sandbox_confine_worker(int deny_errno, bool loading, struct dcr_err *err)
{
#ifdef ARCH
	const uint32_t deny = SECCOMP_RET_ERRNO | ((uint32_t)deny_errno & SECCOMP_RET_DATA);
	const uint32_t self[] = { 0 /* its own process group, which is the worker alone */, (uint32_t)getpid() };
	struct sock_filter prog[SANDBOX_SECCOMP_MAX];
	struct sock_fprog fp;
	struct bpf b = { prog, 0, SANDBOX_SECCOMP_MAX };

	/* The worker's own denials first (the sandbox's rules allow some sockets), then the sandbox's. */
	prologue(&b);
	for (size_t i = 0; i < sizeof(worker_denied) / sizeof(worker_denied[0]); i++) {
		emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)worker_denied[i], 0, 1);
		ret(&b, deny);
	}
	for (size_t i = 0; !loading && i < sizeof(worker_files) / sizeof(worker_files[0]); i++) {
		emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)worker_files[i], 0, 1);
		ret(&b, deny);
	}
	for (size_t i = 0; !loading && i < sizeof(worker_absent) / sizeof(worker_absent[0]); i++) {
		emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)worker_absent[i], 0, 1);
		ret(&b, SECCOMP_RET_ERRNO | ENOENT);
	}
	/* The tables a job loads are databases in memfds (duckwork.c), made before the second filter. */
	if (loading) {
		emit(&b, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)__NR_memfd_create, 0, 1);
		ret(&b, SECCOMP_RET_ALLOW);
	}
	self_only(&b, __NR_kill, self, 2, deny);
	self_only(&b, __NR_tgkill, self + 1, 1, deny);
	self_only(&b, __NR_rt_tgsigqueueinfo, self + 1, 1, deny);
	/* Without a memory cgroup: shared memory is denied, as RLIMIT_DATA does not count it. */
	body(&b, false, deny);
	if (b.n > SANDBOX_SECCOMP_MAX)
		return dcr_err_set(err, DCR_EFAIL, "the SQL worker's seccomp filter does not fit in %d instructions",
			SANDBOX_SECCOMP_MAX);
	fp = (struct sock_fprog){ .len = (unsigned short)b.n, .filter = prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0)
		return dcr_err_errno(err, errno == EINVAL || errno == ENOSYS ? DCR_EIO : DCR_EFAIL, errno,
			"cannot confine the SQL worker (seccomp)");
	return 0;
#else
	(void)deny_errno;
	(void)loading;
	return dcr_err_set(err, DCR_EFAIL, "the SQL worker has no seccomp filter for this architecture "
		"(x86_64 and aarch64 only)");
#endif
}
