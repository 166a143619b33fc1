/* The python sandbox (sandbox.h): bubblewrap, its supervisor, limits and checks; plaintext kept in memory (memfds, pipes, tmpfs). */
#define _GNU_SOURCE /* memfd_create, pipe2, close_range, sigabbrev_np, getresuid */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "sandbox-impl.h"
#include "sandbox.h"
#include "util.h"

#include "banned.h"

#define BWRAP "/usr/bin/bwrap"
#define PYTHON "/usr/bin/python3"
#define PYTHON_LINK "/usr/local/bin/python" /* "python" works as the usual name of python3 */
#define SANDBOX_PATH "/usr/local/bin:/usr/bin:/bin"
#define MATPLOTLIBRC "/usr/share/matplotlib/mpl-data/matplotlibrc"
#define SANDBOX_ID "65534"              /* nobody and nogroup inside; no capabilities */
#define SANDBOX_USER "dcr-sandbox"       /* the host user the sandbox runs as when dcrd is root */
#define OPT_DIR "/opt/dcr"
#define RUN_PATH OPT_DIR "/run.py"
#define CUSTOMIZE_PATH OPT_DIR "/usercustomize.py"
#define CODE_DIR "/code"
#define OUTPUT_TOP "/output"
#define SHM_MAX (UINT64_C(64) << 20)     /* /dev/shm: semaphores, small shared arrays */
#define NPROC_MAX 4096
#define NOFILE_MAX 4096                  /* FILES_MAX and bwrap's own descriptors fit below it */
#define SIGPENDING_MAX 4096
#define MEMLOCK_MAX (64 << 10)
#define STACK_SIZE (8 << 20)             /* Linux's default */
#define RLIMITS_MAX 16
#define LOG_MAX ((size_t)1 << 20)
#define TRUNCATED "\n[output truncated]\n"
#define ZIP_SLACK (UINT64_C(128) << 20)  /* headers and incompressible data on top of the files */
#define FILES_MAX 1024
#define PATH_LEN_MAX 4096
#define GRACE_MS 10000                   /* after SIGKILL, for the sandbox's pipes to close */
#define CHUNK 65536
#define MAGIC "dcr-run 1\n"              /* the supervisor runs: the sandbox was set up */
#define STATUS_LINE_MAX 32

/* The child's descriptors by number: bwrap's stdio, the supervisor's ZIP pipe, the seccomp filter, one memfd per file. */
enum { FD_STDIN, FD_STDOUT, FD_STDERR, FD_ZIP, FD_SECCOMP, FD_FIRST_FILE };

/*
 * The supervisor: the sandbox's command is "python3 -I -S /opt/dcr/run.py
 * COMMAND...", pid 1 of the sandbox (bwrap --as-pid-1). It makes itself
 * non-dumpable, then writes MAGIC and, once the command has ended, a
 * status line and a ZIP of the output directory to fd 3, so that the
 * output comes back through a pipe and the exit status cannot be confused
 * with bwrap's own failures. The command runs as the same user: being
 * non-dumpable keeps it out of the supervisor's memory and descriptors,
 * being pid 1 out of reach of its signals.
 */
static const char run_py[] =
	"'''dcr's supervisor, pid 1 of the sandbox: run the command, then zip the\n"
	"output directory ($DCR_OUTPUT) onto fd 3 for dcrd, after a status line.'''\n"
	"import ctypes\n"
	"import os\n"
	"import signal\n"
	"import stat\n"
	"import subprocess\n"
	"import sys\n"
	"import zipfile\n"
	"\n"
	"EPOCH = (1980, 1, 1, 0, 0, 0)\n"
	"NAME_MAX = 1024\n"
	"PR_GET_DUMPABLE = 3\n"
	"PR_SET_DUMPABLE = 4\n"
	"\n"
	"\n"
	"def log(msg):\n"
	"    print('dcr: ' + msg, file=sys.stderr, flush=True)\n"
	"\n"
	"\n"
	"def protect():\n"
	"    '''Out of the command's reach, though it runs as the same user: not\n"
	"    dumpable, so /proc/1/mem, /proc/1/fd and the like are closed to it\n"
	"    (ptrace is denied anyway); and as pid 1, only signals it handles reach\n"
	"    it from inside the sandbox, and it handles none.'''\n"
	"    libc = ctypes.CDLL(None, use_errno=True)\n"
	"    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 or libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0:\n"
	"        raise OSError(ctypes.get_errno(), 'cannot make the supervisor non-dumpable')\n"
	"    signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
	"\n"
	"\n"
	"def reap_all():\n"
	"    while True:\n"
	"        try:\n"
	"            os.waitpid(-1, 0)\n"
	"        except ChildProcessError:\n"
	"            return\n"
	"        except InterruptedError:\n"
	"            continue\n"
	"\n"
	"\n"
	"def run(cmd):\n"
	"    '''The command's status line: b'exit N' or b'signal N'.'''\n"
	"    try:\n"
	"        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True)\n"
	"    except OSError as e:\n"
	"        log('cannot run %r: %s' % (cmd[0], e.strerror))\n"
	"        return b'exit 127\\n'\n"
	"    # As pid 1 every orphan of the sandbox is ours: reap them all until\n"
	"    # the command itself ends.\n"
	"    while True:\n"
	"        try:\n"
	"            pid, status = os.waitpid(-1, 0)\n"
	"        except InterruptedError:\n"
	"            continue\n"
	"        if pid == p.pid:\n"
	"            break\n"
	"    p.returncode = os.waitstatus_to_exitcode(status)\n"
	"    # Whatever it left running must not change the output while it is\n"
	"    # zipped: -1 from pid 1 is every other process of the sandbox.\n"
	"    try:\n"
	"        os.kill(-1, signal.SIGKILL)\n"
	"    except OSError:\n"
	"        pass\n"
	"    reap_all()\n"
	"    if p.returncode < 0:\n"
	"        return b'signal %d\\n' % -p.returncode\n"
	"    return b'exit %d\\n' % p.returncode\n"
	"\n"
	"\n"
	"def name_problem(name):\n"
	"    '''Why an entry's name (a directory's with its final '/') breaks dcr's\n"
	"    rule for result names (dcr-formats(5)), or None. Parts are never\n"
	"    empty, '.', '..' or over 255 bytes in a directory listing.'''\n"
	"    try:\n"
	"        raw = name.encode('utf-8')\n"
	"    except UnicodeEncodeError:\n"
	"        return 'is not UTF-8'\n"
	"    if len(raw) > NAME_MAX:\n"
	"        return 'is longer than %d bytes' % NAME_MAX\n"
	"    if any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in name):\n"
	"        return 'has a control character'\n"
	"    return None\n"
	"\n"
	"\n"
	"def entries(top):\n"
	"    '''(name, path) of the directories and regular files below top, sorted\n"
	"    by name; symbolic links are not followed, and they, special files and\n"
	"    names that break the rule (with what is below them) are left out.'''\n"
	"    found = []\n"
	"    todo = ['']\n"
	"    while todo:\n"
	"        rel = todo.pop()\n"
	"        for name in os.listdir(os.path.join(top, rel)):\n"
	"            r = rel + name\n"
	"            path = os.path.join(top, r)\n"
	"            mode = os.lstat(path).st_mode\n"
	"            why = name_problem(r + '/' if stat.S_ISDIR(mode) else r)\n"
	"            if why:\n"
	"                log('left out %r from the output: its name %s' % (r, why))\n"
	"                continue\n"
	"            if stat.S_ISDIR(mode):\n"
	"                found.append((r + '/', path))\n"
	"                todo.append(r + '/')\n"
	"            elif stat.S_ISREG(mode):\n"
	"                found.append((r, path))\n"
	"            else:\n"
	"                kind = 'symbolic link' if stat.S_ISLNK(mode) else 'special file'\n"
	"                log('left out %s %r from the output: only regular files and directories are kept' % (kind, r))\n"
	"    return sorted(found)\n"
	"\n"
	"\n"
	"def pack(top, sink):\n"
	"    '''A ZIP of top onto sink: sorted names, fixed times and modes, so the\n"
	"    same files give the same bytes.'''\n"
	"    with zipfile.ZipFile(sink, 'w', zipfile.ZIP_DEFLATED) as z:\n"
	"        for name, path in entries(top):\n"
	"            info = zipfile.ZipInfo(name, EPOCH)\n"
	"            if name.endswith('/'):\n"
	"                info.external_attr = (0o40755 << 16) | 0x10\n"
	"                z.writestr(info, b'')\n"
	"                continue\n"
	"            info.external_attr = 0o100644 << 16\n"
	"            info.compress_type = zipfile.ZIP_DEFLATED\n"
	"            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)\n"
	"            with open(fd, 'rb') as src:\n"
	"                st = os.fstat(fd)\n"
	"                if not stat.S_ISREG(st.st_mode):\n"
	"                    log('left out %r from the output: it changed while being zipped' % name)\n"
	"                    continue\n"
	"                info.file_size = st.st_size\n"
	"                with z.open(info, 'w') as dst:\n"
	"                    while True:\n"
	"                        chunk = src.read(1 << 20)\n"
	"                        if not chunk:\n"
	"                            break\n"
	"                        dst.write(chunk)\n"
	"\n"
	"\n"
	"def main():\n"
	"    status = 1\n"
	"    try:\n"
	"        protect()\n"
	"    except OSError as e:\n"
	"        log('%s: %s' % (e.strerror, os.strerror(e.errno) if e.errno else ''))\n"
	"        os._exit(1)\n"
	"    try:\n"
	"        os.set_inheritable(3, False)\n"
	"        with os.fdopen(3, 'wb') as sink:\n"
	"            sink.write(b'dcr-run 1\\n')\n"
	"            sink.flush()\n"
	"            sink.write(run(sys.argv[1:]))\n"
	"            sink.flush()\n"
	"            pack(os.environ['DCR_OUTPUT'], sink)\n"
	"        status = 0\n"
	"    except Exception as e:  # noqa: BLE001 (one line in the logs, not a traceback)\n"
	"        log('cannot zip the output directory: %s' % e)\n"
	"    sys.stderr.flush()\n"
	"    os._exit(status)\n"
	"\n"
	"\n"
	"main()\n";

/* The host-wide entries of /proc that root could write to, covered read-only where they exist. */
static const char *const proc_covered[] = {
	"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/acpi", "/proc/driver",
	"/proc/tty", "/proc/scsi", "/proc/mtrr", "/proc/pressure", "/proc/latency_stats", "/proc/timer_stats",
};

/* Names for the sandbox's ids, for programs that look themselves up. */
static const char passwd[] = "nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n";
static const char group[] = "nogroup:x:65534:\n";

/*
 * Who the sandbox is on the host. Never uid 0: bwrap run by root maps the
 * sandbox's user to host root, which may write /proc/sys (core_pattern,
 * and with it code run as root outside every namespace). As root, dcrd
 * drops to an unprivileged user before bwrap; otherwise the sandbox is
 * dcrd's own user. why is set when no such user can be had.
 */
static struct {
	bool drop;
	uid_t uid;
	gid_t gid;
	char why[DCR_ERR_MSG_MAX];
} who = { .why = "the python sandbox is not configured (sandbox_configure)" };

/* Where jobs' cgroups go, if anywhere. */
static struct sandbox_cgroups cgroups;

/* A decimal id, below (uid_t)-1 (which means "unchanged" to setresuid). */
static bool parse_id(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* USER|UID[:GROUP|GID] to ids: a name's primary group, or for a bare UID with no entry, GID = UID. */
static int parse_user(const char *spec, uid_t *uid, gid_t *gid, struct dcr_err *err)
{
	const char *colon = strchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	char name[256], buf[4096];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	uint32_t id;

	if (n == 0 || n >= sizeof(name))
		return dcr_err_set(err, DCR_EUSAGE, "invalid sandbox user '%s' (want USER or UID, optionally :GROUP "
			"or :GID)", spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	if (parse_id(name, n, &id)) {
		*uid = (uid_t)id;
		*gid = (gid_t)id;
		if (getpwuid_r(*uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp)
			*gid = pwp->pw_gid;
	} else {
		if (getpwnam_r(name, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp)
			return dcr_err_set(err, DCR_ENOTFOUND, "no user '%s' for the python sandbox", name);
		*uid = pwp->pw_uid;
		*gid = pwp->pw_gid;
	}
	if (colon) {
		const char *g = colon + 1;

		if (parse_id(g, strlen(g), &id))
			*gid = (gid_t)id;
		else if (!*g || getgrnam_r(g, &gr, buf, sizeof(buf), &grp) != 0 || !grp)
			return dcr_err_set(err, DCR_ENOTFOUND, "no group '%s' for the python sandbox", g);
		else
			*gid = grp->gr_gid;
	}
	if (*uid == 0 || *gid == 0)
		return dcr_err_set(err, DCR_EUSAGE, "the python sandbox must not run as root (user '%s' is uid %u, "
			"gid %u)", spec, (unsigned)*uid, (unsigned)*gid);
	return 0;
}

/* Who the sandbox runs as (the user part of sandbox_configure). */
static int configure_user(const char *user, char *desc, size_t desc_size, struct dcr_err *err)
{
	uid_t uid;
	gid_t gid;
	int r;

	if (geteuid() != 0) {
		/* Without privileges dcrd cannot become anyone else; the sandbox is its own user. */
		if (user && ((r = parse_user(user, &uid, &gid, err)) < 0 || uid != geteuid() || gid != getegid()))
			return r < 0 ? r : dcr_err_set(err, DCR_EUSAGE, "--sandbox-user needs dcrd to run as root "
				"(it runs as uid %u)", (unsigned)geteuid());
		who.drop = false;
		who.uid = geteuid();
		who.gid = getegid();
		who.why[0] = '\0';
		snprintf(desc, desc_size, "the python sandbox runs as dcrd's own user (uid %u)", (unsigned)who.uid);
		return 0;
	}
	if ((r = parse_user(user ? user : SANDBOX_USER, &uid, &gid, err)) < 0) {
		if (user)
			return r;
		/* The default user is missing: dcrd serves, python computations fail and say why. */
		snprintf(who.why, sizeof(who.why), "dcrd runs as root and there is no user '%s' to run the python "
			"sandbox as: create it (useradd --system --no-create-home --shell /usr/sbin/nologin %s, as "
			"scripts/install-deps.sh does) or give dcrd serve --sandbox-user", SANDBOX_USER, SANDBOX_USER);
		who.drop = false;
		snprintf(desc, desc_size, "python computations cannot run: %s", who.why);
		return 0;
	}
	who.drop = true;
	who.uid = uid;
	who.gid = gid;
	who.why[0] = '\0';
	snprintf(desc, desc_size, "the python sandbox runs as uid %u, gid %u (%s)", (unsigned)uid, (unsigned)gid,
		user ? user : SANDBOX_USER);
	return 0;
}

int sandbox_configure(const struct sandbox_options *opt, char *desc, size_t desc_size, struct dcr_err *err)
{
	char user[DCR_ERR_MSG_MAX + 64], limits[2 * SANDBOX_PATH_MAX];
	int r;

	sandbox_cgroup_release(&cgroups);
	if (opt && opt->refuse) {
		snprintf(who.why, sizeof(who.why), "%s", opt->refuse);
		snprintf(desc, desc_size, "python computations are refused: %s", opt->refuse);
		return 0;
	}
	/*
	 * What bwrap leaves when it dies before the sandbox's pid 1 (an OOM
	 * kill) comes to dcrd, which reaps it, rather than to the host's init;
	 * dcrd as PID 1 of a container gets it anyway.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return dcr_err_errno(err, DCR_EFAIL, errno, "cannot make dcrd the reaper of its sandboxes' processes");
	if ((r = configure_user(opt ? opt->user : NULL, user, sizeof(user), err)) < 0 ||
	    (r = sandbox_cgroup_setup(opt ? opt->cgroup : NULL, &cgroups, limits, sizeof(limits), err)) < 0)
		return r;
	snprintf(desc, desc_size, "%s; %s", user, limits);
	return 0;
}

void sandbox_shutdown(void)
{
	sandbox_cgroup_release(&cgroups);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- buffers of plaintext ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_release(struct buf *b)
{
	if (b->p)
		dcr_wipe(b->p, b->cap);
	free(b->p);
	*b = (struct buf){ 0 };
}

/*
 * Room for want more bytes, doubling but to no more than limit when that
 * is enough. Moves by hand, not with realloc, so that no copy of the
 * plaintext is freed unwiped.
 */
static int buf_reserve(struct buf *b, size_t want, size_t limit)
{
	if (want > SIZE_MAX - b->len)
		return -1;
	return dcr_secure_reserve(&b->p, &b->cap, b->len, b->len + want, limit);
}

/* ---- bwrap's argument vector ---- */

struct args {
	char **v;
	size_t n, cap;
	bool failed;
};

static void args_add(struct args *a, const char *s)
{
	char **v;

	if (a->failed)
		return;
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 128;

		if (!(v = realloc(a->v, cap * sizeof(*v)))) {
			a->failed = true;
			return;
		}
		a->v = v;
		a->cap = cap;
	}
	if (!(a->v[a->n] = strdup(s))) {
		a->failed = true;
		return;
	}
	a->v[++a->n] = NULL;
}

/* Append each argument up to the NULL. */
__attribute__((sentinel)) static void args_push(struct args *a, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, a);
	while ((s = va_arg(ap, const char *)))
		args_add(a, s);
	va_end(ap);
}

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	*a = (struct args){ 0 };
}

/*
 * --dir for each directory above path (from the top) that is not also above
 * prev, the path placed before it: with sorted paths, each directory once.
 * bwrap would make missing parents itself, but mode 0700 in some cases.
 */
static void args_parents(struct args *a, const char *path, const char *prev)
{
	char dir[PATH_LEN_MAX + 1];

	for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		size_t len = (size_t)(s - path);

		if (prev && strncmp(prev, path, len + 1) == 0)
			continue;
		memcpy(dir, path, len);
		dir[len] = '\0';
		args_push(a, "--dir", dir, (char *)NULL);
	}
}

/*
 * File i: --ro-bind-data from the descriptor the child gets as slot[i], or
 * for a file that shares an earlier one's descriptor (slot -1) a symbolic
 * link to that one, so that its bytes are in the sandbox once.
 */
static void args_file(struct args *a, const struct sandbox_file *files, size_t i, const int *slot)
{
	char fd[24]; /* any int in decimal */

	args_parents(a, files[i].path, i ? files[i - 1].path : NULL);
	if (slot[i] < 0) {
		for (size_t j = 0; j < i; j++)
			if (files[j].fd == files[i].fd && slot[j] >= 0) {
				args_push(a, "--symlink", files[j].path, files[i].path, (char *)NULL);
				return;
			}
	}
	snprintf(fd, sizeof(fd), "%d", slot[i]);
	args_push(a, "--ro-bind-data", fd, files[i].path, (char *)NULL);
}

/*
 * The whole command line. placed holds n_root files for the root (they go into
 * the read-only root) and then the computation's, under /code and /input.
 * Each tmpfs that must not change is remounted read-only once filled; the
 * root last.
 */
static void args_build(struct args *a, const char *bwrap, const char *output, uint64_t mem,
	const struct sandbox_file *placed, size_t n_root, size_t n_placed, const int *slot, char *const *cmd,
	size_t n_cmd)
{
	char size[24], shm[24], seccomp[24];

	snprintf(size, sizeof(size), "%" PRIu64, mem);
	snprintf(shm, sizeof(shm), "%" PRIu64, mem < SHM_MAX ? mem : SHM_MAX);
	snprintf(seccomp, sizeof(seccomp), "%d", FD_SECCOMP);
	args_push(a, bwrap,
		"--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--as-pid-1",
		"--seccomp", seccomp,
		"--uid", SANDBOX_ID, "--gid", SANDBOX_ID, "--hostname", "dcr", "--cap-drop", "ALL",
		"--clearenv", "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", "/tmp",
		"--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
		"--setenv", "PYTHONPATH", OPT_DIR, "--setenv", "PYTHONSAFEPATH", "1", "--setenv", "DCR_OUTPUT", output,
		/* matplotlib: no display; Debian's own defaults, without /etc/matplotlibrc (not in the sandbox) */
		"--setenv", "MPLBACKEND", "Agg", "--setenv", "MATPLOTLIBRC", MATPLOTLIBRC,
		/* Debian's packages only: what the host installed in /usr/local stays out, dcr's python link in */
		"--ro-bind", "/usr", "/usr", "--tmpfs", "/usr/local", "--dir", "/usr/local/bin",
		"--symlink", PYTHON, PYTHON_LINK, "--remount-ro", "/usr/local",
		"--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
		"--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
		/* BLAS and LAPACK are found through these links */
		"--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
		"--proc", "/proc", (char *)NULL);
	/*
	 * What in /proc could change the host, read-only. bwrap covers some
	 * of these only when it finds the directory writable, which it never
	 * is for an unprivileged sandbox; the files in it may be. Sysctls
	 * show the reader's namespaces whichever /proc they are read from.
	 */
	for (size_t i = 0; i < sizeof(proc_covered) / sizeof(proc_covered[0]); i++)
		args_push(a, "--ro-bind-try", proc_covered[i], proc_covered[i], (char *)NULL);
	args_push(a, "--dev", "/dev", "--size", shm, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
		"--size", size, "--tmpfs", "/tmp", (char *)NULL);
	for (size_t i = 0; i < n_root; i++)
		args_file(a, placed, i, slot);
	args_push(a, "--tmpfs", "/code", "--tmpfs", "/input", (char *)NULL);
	for (size_t i = n_root; i < n_placed; i++)
		args_file(a, placed, i, slot);
	args_push(a, "--remount-ro", "/code", "--remount-ro", "/input", (char *)NULL);
	args_parents(a, output, NULL);
	args_push(a, "--size", size, "--tmpfs", output, "--remount-ro", "/", "--chdir", "/tmp",
		"--", PYTHON, "-I", "-S", RUN_PATH, (char *)NULL);
	for (size_t i = 0; i < n_cmd; i++)
		args_add(a, cmd[i]);
}

/*
 * The code nodes' modules come after the standard library and site-packages
 * on sys.path, so that none can replace a module the entry script imports
 * (json, numpy, dcr_enclave: dcr-room(5), THE SANDBOX). PYTHONSAFEPATH keeps
 * the script's folder, /code, from the front of sys.path, and PYTHONPATH
 * holds /opt/dcr alone; site imports this module from there once it has
 * added site-packages, and it appends /code.
 */
static const char customize_py[] =
	"'''dcr: the code nodes' modules (" CODE_DIR ") last on sys.path, after the\n"
	"standard library and site-packages, so that none can replace them.'''\n"
	"import sys\n"
	"\n"
	"sys.path[:] = [p for p in sys.path if p != '" CODE_DIR "'] + ['" CODE_DIR "']\n";

/* ---- checks ---- */

/* Whether path is under root (or root itself when allowed): absolute, no empty, "." or ".." component, no control characters. */
static bool path_ok(const char *path, const char *root, bool root_itself)
{
	size_t rlen = strlen(root), len = strlen(path);

	if (len > PATH_LEN_MAX || strncmp(path, root, rlen) != 0)
		return false;
	if (path[rlen] == '\0')
		return root_itself;
	if (path[rlen] != '/')
		return false;
	for (const char *s = path + rlen; *s; ) {
		const char *end = strchr(s + 1, '/');
		size_t n = end ? (size_t)(end - s - 1) : strlen(s + 1);

		if (n == 0 || (n == 1 && s[1] == '.') || (n == 2 && s[1] == '.' && s[2] == '.'))
			return false;
		for (size_t i = 1; i <= n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				return false;
		s += n + 1;
	}
	return true;
}

/* ---- the child: between fork and exec, async-signal-safe calls only ---- */

struct child_limit {
	int resource;
	struct rlimit value;
};

struct spawn {
	const char *path;          /* bwrap */
	char **argv;
	int *src;                  /* what the child gets as descriptor 0, 1, ... */
	int *high;                 /* scratch of as many */
	size_t n;
	unsigned max_fd;           /* for closing by hand without close_range */
	pid_t parent;
	struct child_limit rlimits[RLIMITS_MAX]; /* every limit the sandbox may not inherit from dcrd */
	size_t n_rlimits;
	sigset_t none;
	bool drop;                 /* become uid and gid, with no supplementary groups */
	uid_t uid;
	gid_t gid;
	const struct sandbox_cgroup_job *cg; /* join its cgroups first */
};

/* "dcr: what: errno N\n" on the logs, and out; strerror is not async-signal-safe. */
static _Noreturn void child_fail(const char *what)
{
	char msg[128], num[16];
	size_t len = 0, n = 0;
	int e = errno;

	do
		num[n++] = (char)('0' + e % 10);
	while ((e /= 10) && n < sizeof(num));
	for (const char *s = "dcr: "; *s && len < sizeof(msg); )
		msg[len++] = *s++;
	for (const char *s = what; *s && len < sizeof(msg) - 32; )
		msg[len++] = *s++;
	for (const char *s = ": errno "; *s; )
		msg[len++] = *s++;
	while (n)
		msg[len++] = num[--n];
	msg[len++] = '\n';
	(void)!write(FD_STDERR, msg, len);
	_exit(127);
}

static _Noreturn void child(const struct spawn *s)
{
	static char *const no_env[] = { NULL };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int filter;

	/*
	 * Handlers of dcrd's must not run here, nor ignored signals stay
	 * ignored in the sandbox. SIGKILL, SIGSTOP and glibc's own signals
	 * refuse, which is fine.
	 */
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	if (setsid() < 0)
		_exit(127);
	/* Renumber in two steps, through numbers above the targets, so no source is overwritten before it is copied. */
	for (size_t i = 0; i < s->n; i++)
		if ((s->high[i] = fcntl(s->src[i], F_DUPFD_CLOEXEC, (int)s->n)) < 0)
			_exit(127);
	for (size_t i = 0; i < s->n; i++)
		if (dup2(s->high[i], (int)i) < 0)
			_exit(127);
	if (close_range((unsigned)s->n, ~0u, 0) < 0)
		for (unsigned fd = (unsigned)s->n; fd < s->max_fd; fd++)
			close((int)fd);
	for (size_t i = 0; i < s->n_rlimits; i++)
		if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].value) < 0)
			child_fail("cannot set the sandbox's resource limits");
	/*
	 * RLIMIT_CORE 0 stops the kernel's core files, not a core_pattern
	 * pipe (systemd-coredump honours the limit, others may not): with
	 * this filter, inherited by every process of the sandbox, a core holds
	 * none of their memory. No such file (no core dump support): fine.
	 */
	if ((filter = open("/proc/self/coredump_filter", O_WRONLY | O_CLOEXEC)) >= 0) {
		if (write(filter, "0", 1) != 1)
			child_fail("cannot set the sandbox's coredump filter");
		close(filter);
	}
	/* The job's cgroups, while still privileged enough to move in: bwrap and all it starts stay there. */
	for (size_t i = 0; i < s->cg->n_procs; i++) {
		int fd = open(s->cg->procs[i], O_WRONLY | O_CLOEXEC);

		if (fd < 0 || write(fd, "0", 1) != 1)
			child_fail("cannot join the job's cgroup");
		close(fd);
	}
	if (s->drop) {
		uid_t ru, eu, su;
		gid_t rg, eg, sg;

		/*
		 * Raw system calls: this thread is the only one, and glibc's
		 * wrappers would try to change every thread of dcrd's.
		 */
		if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, s->gid, s->gid, s->gid) < 0 ||
		    syscall(SYS_setresuid, s->uid, s->uid, s->uid) < 0)
			child_fail("cannot become the sandbox user");
		if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != s->uid || eu != s->uid ||
		    su != s->uid || rg != s->gid || eg != s->gid || sg != s->gid || getgroups(0, NULL) != 0 ||
		    syscall(SYS_setresuid, 0, 0, 0) == 0) {
			errno = EPERM;
			child_fail("still privileged after becoming the sandbox user");
		}
	}
	/* Nothing bwrap executes may gain privileges (not even a setuid bwrap). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail("cannot set no_new_privs");
	/*
	 * If dcrd dies, so does bwrap, and with it (--die-with-parent) the
	 * sandbox. The signal comes when the forking thread ends, and that
	 * thread waits in sandbox_run until bwrap has ended. Set after the change
	 * of user, which clears it.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != s->parent)
		_exit(127);
	/* dcrd's working directory may be closed to the sandbox user. */
	if (chdir("/") < 0)
		child_fail("cannot change to /");
	(void)sigprocmask(SIG_SETMASK, &s->none, NULL);
	execve(s->path, s->argv, no_env);
	child_fail("cannot execute bwrap");
}

/* ---- the parent ---- */

struct run {
	struct sandbox_cgroup_job *cg;
	struct buf logs, zip;
	size_t logs_total;         /* all the command printed, kept or not */
	uint64_t zip_max;
	bool zip_over, nomem, timed_out, killed, oom;
	bool hard;                 /* bwrap and the job's cgroup killed too */
	int pid1;                  /* a pidfd of the sandbox's pid 1, bwrap's child; -1 until had */
	bool pid1_sought;
	int wstatus;
	bool waited;
};

/* The parent of process pid, from /proc/PID/stat; -1 if it cannot be read. */
static pid_t parent_of(pid_t pid)
{
	char path[40], line[512], *paren;
	long ppid;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	/* "PID (COMM) STATE PPID ...": the command may hold anything, up to the last ')'. */
	if (!(paren = strrchr(line, ')')) || sscanf(paren + 1, " %*c %ld", &ppid) != 1)
		return -1;
	return (pid_t)ppid;
}

/* A pidfd of process pid if its parent is parent; -1 if it has none such. */
static int pidfd_of_child(pid_t pid, pid_t parent)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	/*
	 * Read after opening: while the pidfd's process is unreaped its pid
	 * is not reused, so the parent read is that process's (a process
	 * that took the pid before the open is not parent's child).
	 */
	if (fd >= 0 && parent_of(pid) != parent) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The sandbox's pid 1, bwrap's only child, as a pidfd in r->pid1 (once bwrap has made it). */
static void find_pid1(struct run *r, pid_t bwrap)
{
	char path[64], buf[32];
	ssize_t n;
	long child;
	int fd;

	if (r->pid1 >= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)bwrap, (int)bwrap);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if ((child = strtol(buf, NULL, 10)) > 0)
		r->pid1 = pidfd_of_child((pid_t)child, bwrap);
}

/*
 * Stop the sandbox. Its pid 1 first: the PID namespace dies with it, and
 * bwrap, still alive, reaps it and ends. Killing bwrap first orphaned pid
 * 1, a zombie for whichever process reaps orphans (the host's init, or
 * dcrd as PID 1 of a container). Only when there is no pid 1 yet, or it
 * cannot be signalled: bwrap's group (the child called setsid; pid is an
 * unreaped child of ours, so it names no other process) and the job's
 * cgroup, as sandbox_kill_hard does when bwrap does not end in time.
 */
static void sandbox_kill_hard(struct run *r, pid_t pid)
{
	if (r->hard)
		return;
	(void)kill(-pid, SIGKILL);
	(void)kill(pid, SIGKILL);
	if (r->cg)
		sandbox_cgroup_job_kill(r->cg);
	r->killed = r->hard = true;
}

static void sandbox_kill(struct run *r, pid_t pid)
{
	if (r->killed)
		return;
	find_pid1(r, pid);
	if (r->pid1 >= 0 && syscall(SYS_pidfd_send_signal, r->pid1, SIGKILL, NULL, 0) == 0)
		r->killed = true;
	else
		sandbox_kill_hard(r, pid);
}

/* Read what is there on fd into the logs (up to LOG_MAX) or the ZIP (up to zip_max); false at end of file. */
static bool drain(struct run *r, int fd, bool is_zip, uint8_t *scratch, pid_t pid)
{
	struct buf *b = is_zip ? &r->zip : &r->logs;
	size_t room = is_zip ? (r->zip.len < r->zip_max ? r->zip_max - r->zip.len : 0)
			     : LOG_MAX - r->logs.len;
	uint8_t *into = scratch;
	size_t want = CHUNK;
	ssize_t n;

	if (room && !r->nomem) {
		if (buf_reserve(b, room < CHUNK ? room : CHUNK, is_zip ? (size_t)r->zip_max : LOG_MAX + 1) < 0) {
			r->nomem = true;
			sandbox_kill(r, pid);
		} else {
			into = b->p + b->len;
			want = room < CHUNK ? room : CHUNK;
		}
	}
	do
		n = read(fd, into, want);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	if (!is_zip)
		r->logs_total += (size_t)n;
	if (into != scratch)
		b->len += (size_t)n;
	else if (is_zip)
		r->zip_over = true;
	/* The supervisor runs: bwrap has made pid 1, and its pidfd lets dcrd reap it if bwrap should die first. */
	if (is_zip && !r->pid1_sought && r->zip.len >= sizeof(MAGIC) - 1) {
		r->pid1_sought = true;
		find_pid1(r, pid);
	}
	return true;
}

/*
 * Read both pipes until they close, killing the sandbox at the deadline;
 * then reap bwrap, killing it too if it does not end within the grace
 * after the sandbox's pid 1 was killed.
 */
static void collect(struct run *r, pid_t pid, int log_fd, int zip_fd, uint64_t time_ms)
{
	uint8_t scratch[CHUNK];
	struct pollfd pfd[2] = { { .fd = log_fd, .events = POLLIN }, { .fd = zip_fd, .events = POLLIN } };
	uint64_t deadline = now_ms() + time_ms, grace = 0;

	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		uint64_t now = now_ms(), until = r->killed ? grace : deadline;
		int n;

		if (now >= until) {
			if (r->killed)
				break;  /* something still holds a pipe: stop reading, and see to bwrap below */
			sandbox_kill(r, pid);
			r->timed_out = true;
			grace = now + GRACE_MS;
			continue;
		}
		n = poll(pfd, 2, until - now > INT_MAX ? INT_MAX : (int)(until - now));
		if (n < 0 && errno != EINTR) {
			sandbox_kill(r, pid);
			grace = now + GRACE_MS;
			break;
		}
		for (int i = 0; n > 0 && i < 2; i++)
			if (pfd[i].fd >= 0 && pfd[i].revents && !drain(r, pfd[i].fd, i == 1, scratch, pid))
				pfd[i].fd = -1;
		if (r->killed && !grace)
			grace = now_ms() + GRACE_MS;  /* drain killed it (out of memory) */
	}
	dcr_wipe(scratch, sizeof(scratch));
	for (;;) {
		pid_t w = waitpid(pid, &r->wstatus, r->hard ? 0 : WNOHANG);
		uint64_t now;

		if (w == pid) {
			r->waited = true;
			return;
		}
		if (w < 0 && errno != EINTR)
			return;  /* ECHILD: someone reaped it (SIGCHLD ignored?); the status is unknown */
		if (w != 0)
			continue;
		now = now_ms();
		if (!r->killed && now >= deadline) {
			sandbox_kill(r, pid);
			r->timed_out = true;
			grace = now + GRACE_MS;
		} else if (r->killed && now >= grace) {
			sandbox_kill_hard(r, pid);
		} else {
			nanosleep(&(struct timespec){ .tv_nsec = 5000000 }, NULL);
		}
	}
}

/*
 * Reap the sandbox's pid 1 if it came to dcrd, which is a subreaper
 * (sandbox_configure): when bwrap died before it (the kernel's OOM killer,
 * or the hard kill), pid 1 is orphaned to dcrd; it dies of bwrap's death
 * (--die-with-parent), so waiting for it ends. Not dcrd's child (bwrap
 * reaped it): nothing to do.
 */
static void reap_pid1(struct run *r)
{
	siginfo_t info;

	if (r->pid1 < 0)
		return;
	while (waitid(P_PIDFD, (id_t)r->pid1, &info, WEXITED) < 0 && errno == EINTR)
		;
	close(r->pid1);
	r->pid1 = -1;
}

/*
 * What a sandbox whose pid 1 was never had left: zombie children of dcrd
 * that are the first process of a PID namespace below dcrd's (sandboxes'
 * pid 1s, orphaned when bwrap died before it), reaped by pidfd, so that
 * no status another thread waits for (its bwrap's) is taken. One still
 * dying is reaped after a later sandbox.
 */
static void reap_orphans(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t me = getpid();

	while (d && (e = readdir(d))) {
		char path[300], line[256];
		long pid = strtol(e->d_name, NULL, 10);
		bool nested = false;
		siginfo_t info;
		FILE *f;
		int fd;

		if (pid <= 0 || parent_of((pid_t)pid) != me || (fd = pidfd_of_child((pid_t)pid, me)) < 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/status", pid);
		if ((f = fopen(path, "re"))) {
			while (fgets(line, sizeof(line), f))
				if (strncmp(line, "NSpid:", 6) == 0)
					nested = strchr(line + 6, '\t') != strrchr(line + 6, '\t');
			fclose(f);
		}
		if (nested)
			(void)waitid(P_PIDFD, (id_t)fd, &info, WEXITED | WNOHANG);
		close(fd);
	}
	if (d)
		closedir(d);
}

/*
 * The last line of the logs, made printable: bwrap's reason to fail, when it
 * fails. A line too long keeps its start and its end, where the reason is.
 */
static void logs_last_line(const char *logs, size_t len, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)logs;
	size_t end = len, start, n = 0;

	while (end && (p[end - 1] == '\n' || p[end - 1] == '\r'))
		end--;
	for (start = end; start && p[start - 1] != '\n'; start--)
		;
	for (size_t i = start; i < end && n + 1 < size; i++) {
		if (n == size / 2 - 2 && end - i > size - n - 1) {
			memcpy(out + n, "...", 3);
			n += 3;
			i = end - (size - n - 1);
		}
		out[n++] = p[i] < 0x20 || p[i] == 0x7f ? '?' : (char)p[i];
	}
	out[n] = '\0';
}

/* The status line after MAGIC: 1 and the command's status (128 + N for signal N), or 0 if the supervisor wrote none. */
static int status_line(const struct buf *zip, size_t *zip_start, int *status, bool *signaled)
{
	const size_t m = sizeof(MAGIC) - 1;
	char line[STATUS_LINE_MAX + 1];
	const uint8_t *nl;
	char *end;
	long v;

	nl = memchr(zip->p + m, '\n', zip->len - m < STATUS_LINE_MAX ? zip->len - m : STATUS_LINE_MAX);
	if (!nl)
		return 0;
	memcpy(line, zip->p + m, (size_t)(nl - zip->p) - m);
	line[nl - zip->p - m] = '\0';
	*zip_start = (size_t)(nl - zip->p) + 1;
	*signaled = strncmp(line, "signal ", 7) == 0;
	if (!*signaled && strncmp(line, "exit ", 5) != 0)
		return 0;
	errno = 0;
	v = strtol(line + (*signaled ? 7 : 5), &end, 10);
	if (errno || *end || v < 0 || v > 255)
		return 0;
	*status = *signaled ? 128 + (int)v : (int)v;
	return 1;
}

/* What the run came to, with out's logs already filled: where the ZIP starts in r->zip, or why there is none. */
static int conclude(struct run *r, const struct sandbox_job *job, struct sandbox_result *out, struct dcr_err *err)
{
	size_t zip_start = 0;
	bool signaled = false;
	int status = -1, ret;
	char what[256];

	if (r->nomem)
		return dcr_err_set(err, DCR_ENOMEM, "out of memory reading the python sandbox's output");
	if (r->timed_out) {
		out->exit_status = 128 + SIGKILL;
		dcr_duration_format(job->time_ms, what);
		return dcr_err_set(err, DCR_ECOMPUTE, "the computation exceeded its time limit of %s", what);
	}
	if (r->oom) {
		/* Whatever the kernel killed (the command, a child, the supervisor), the job is over its limit. */
		out->exit_status = 128 + SIGKILL;
		dcr_size_format(job->memory, what);
		return dcr_err_set(err, DCR_ECOMPUTE, "the computation exceeded its memory limit of %s", what);
	}
	if (r->zip.len < sizeof(MAGIC) - 1 || memcmp(r->zip.p, MAGIC, sizeof(MAGIC) - 1) != 0) {
		logs_last_line(out->logs, out->logs_len, what, sizeof(what));
		if (*what)
			return dcr_err_set(err, DCR_EFAIL, "cannot set up the python sandbox: %s", what);
		return dcr_err_set(err, DCR_EFAIL, "cannot set up the python sandbox: bwrap ended with status %d "
			"and said nothing (out of file descriptors?)",
			r->waited && WIFEXITED(r->wstatus) ? WEXITSTATUS(r->wstatus) : -1);
	}
	if (!status_line(&r->zip, &zip_start, &status, &signaled)) {
		out->exit_status = r->waited && WIFEXITED(r->wstatus) ? WEXITSTATUS(r->wstatus) : 128 + SIGKILL;
		return dcr_err_set(err, DCR_ECOMPUTE, "the sandbox's supervisor ended before the command did "
			"(killed by the command, or out of memory?)");
	}
	out->exit_status = status;
	if (signaled) {
		const char *name = sigabbrev_np(status - 128);

		return dcr_err_set(err, DCR_ECOMPUTE, "the command was killed by signal %d%s%s%s", status - 128,
			name ? " (SIG" : "", name ? name : "", name ? ")" : "");
	}
	if (status != 0)
		return dcr_err_set(err, DCR_ECOMPUTE, "the command exited with status %d", status);
	/* The command succeeded but the supervisor did not (it says why in the logs). */
	if (r->waited && (!WIFEXITED(r->wstatus) || WEXITSTATUS(r->wstatus) != 0))
		return dcr_err_set(err, DCR_ECOMPUTE, "the sandbox could not zip the output directory '%s'",
			job->output);
	if (r->zip_over)
		return dcr_err_set(err, DCR_ECOMPUTE, "the output directory's ZIP is larger than %" PRIu64 " bytes",
			r->zip_max);
	if ((ret = sandbox_zip_check(r->zip.p + zip_start, r->zip.len - zip_start, job->memory, err)) < 0)
		return ret;
	return (int)zip_start;
}

/*
 * The logs as sandbox_result has them: NUL-ended, at most LOG_MAX bytes,
 * those that were cut ending with the truncation note.
 */
static int logs_finish(struct run *r, struct sandbox_result *out)
{
	const size_t t = sizeof(TRUNCATED) - 1;
	bool cut = r->logs_total > r->logs.len;

	if (cut && r->logs.len > LOG_MAX - t)
		r->logs.len = LOG_MAX - t;
	/* Room for what is added, never past LOG_MAX + 1: logs of up to LOG_MAX bytes, uncut, are kept whole. */
	if (buf_reserve(&r->logs, cut ? t + 1 : 1, LOG_MAX + 1) < 0)
		return -1;
	if (cut) {
		memcpy(r->logs.p + r->logs.len, TRUNCATED, t);
		r->logs.len += t;
	}
	r->logs.p[r->logs.len] = '\0';
	out->logs = (char *)r->logs.p;
	out->logs_len = r->logs.len;
	r->logs = (struct buf){ 0 };
	return 0;
}

int sandbox_memfd(const char *name)
{
	return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

int sandbox_memfd_seal(int fd)
{
	return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
}

/* A memfd holding data, at offset 0 for bwrap to copy; -1 with errno. */
static int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("dcr-sandbox-file", MFD_CLOEXEC), e;
	const uint8_t *p = data;

	if (fd < 0)
		return -1;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) == 0)
		return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* An absolute, executable bwrap: /usr/bin/bwrap, or the first in $PATH. */
static bool find_bwrap(char *out, size_t size)
{
	const char *s = getenv("PATH");

	if (access(BWRAP, X_OK) == 0) {
		snprintf(out, size, "%s", BWRAP);
		return true;
	}
	while (s && *s) {
		const char *end = strchr(s, ':');
		size_t n = end ? (size_t)(end - s) : strlen(s);

		if (n && s[0] == '/' && n + sizeof("/bwrap") <= size) {
			memcpy(out, s, n);
			memcpy(out + n, "/bwrap", sizeof("/bwrap"));
			if (access(out, X_OK) == 0)
				return true;
		}
		s = end ? end + 1 : NULL;
	}
	return false;
}

/* Whether path is dir or lies inside it. */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Each file where it may be: under /code, /input or /opt/dcr, no way out. */
static int check_files(const struct sandbox_file *files, size_t n_files, const char *output, struct dcr_err *err)
{
	if (n_files > FILES_MAX)
		return dcr_err_set(err, DCR_EINVALID, "cannot place %zu files in the sandbox; at most %d", n_files,
			FILES_MAX);
	for (size_t i = 0; i < n_files; i++) {
		if (!files[i].path || !(path_ok(files[i].path, "/code", false) || path_ok(files[i].path, "/input", false) ||
					path_ok(files[i].path, OPT_DIR, false)))
			return dcr_err_set(err, DCR_EINVALID, "cannot place '%s' in the sandbox: a file's path must be "
				"under /code or /input, without empty, '.' or '..' components",
				files[i].path ? files[i].path : "(null)");
		if (files[i].fd < 0 && files[i].len && !files[i].data)
			return dcr_err_set(err, DCR_EINVALID, "no data for '%s'", files[i].path);
	}
	if (!path_ok(output, OUTPUT_TOP, true))
		return dcr_err_set(err, DCR_EINVALID, "cannot use '%s' as the output directory: it must be /output or "
			"under it, without empty, '.' or '..' components", output);
	return 0;
}

/* No file is another or lies inside it (dcr's own files included). */
static int check_clashes(const struct sandbox_file *placed, size_t n, struct dcr_err *err)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (path_within(placed[i].path, placed[j].path) || path_within(placed[j].path, placed[i].path))
				return dcr_err_set(err, DCR_EINVALID, "cannot place both '%s' and '%s' in the sandbox: "
					"one is the other or lies inside it", placed[j].path, placed[i].path);
	return 0;
}

/* Limit resource of the child to want, or to dcrd's hard limit where lower (an unprivileged dcrd cannot raise it). */
static void limit(struct spawn *s, int resource, rlim_t want)
{
	struct rlimit cur;

	if (getrlimit(resource, &cur) == 0 && cur.rlim_max < want)
		want = cur.rlim_max;
	if (s->n_rlimits < RLIMITS_MAX)
		s->rlimits[s->n_rlimits++] = (struct child_limit){ resource, { want, want } };
}

/*
 * The child's limits, all set rather than inherited from dcrd, whose own
 * may be anything an operator or a service manager gave it.
 */
static void limits(struct spawn *s, uint64_t mem)
{
	struct rlimit cur;

	s->n_rlimits = 0;
	/*
	 * RLIMIT_DATA, not RLIMIT_AS: it counts what a process writes to
	 * (heap, anonymous mappings, thread stacks), not the address space
	 * that glibc's per-thread arenas and BLAS threads reserve without
	 * using, which would fail numpy under a modest limit on a many-core
	 * host.
	 */
	limit(s, RLIMIT_DATA, mem);
	/* No file larger than the memory that holds it (every file system of the sandbox is in memory). */
	limit(s, RLIMIT_FSIZE, mem);
	limit(s, RLIMIT_CORE, 0);
	/* Bounds the sandbox user's processes, cgroup or not (the sandbox is never root, whom the kernel lets past it). */
	limit(s, RLIMIT_NPROC, NPROC_MAX);
	limit(s, RLIMIT_NOFILE, NOFILE_MAX);
	limit(s, RLIMIT_SIGPENDING, SIGPENDING_MAX);
	limit(s, RLIMIT_MEMLOCK, MEMLOCK_MAX);
	/* What data code never needs: POSIX message queues, real-time scheduling, a priority above the default. */
	limit(s, RLIMIT_MSGQUEUE, 0);
	limit(s, RLIMIT_RTPRIO, 0);
	limit(s, RLIMIT_RTTIME, 0);
	limit(s, RLIMIT_NICE, 0);
	/* The usual, whatever dcrd was given: the time limit is wall clock, the address space is not the memory. */
	limit(s, RLIMIT_STACK, STACK_SIZE);
	limit(s, RLIMIT_AS, RLIM_INFINITY);
	limit(s, RLIMIT_CPU, RLIM_INFINITY);
	limit(s, RLIMIT_LOCKS, RLIM_INFINITY);
	s->max_fd = 1u << 16;
	if (getrlimit(RLIMIT_NOFILE, &cur) == 0 && cur.rlim_cur < s->max_fd)
		s->max_fd = (unsigned)cur.rlim_cur;
}

/* Start bwrap with argv and the descriptors in src (as 0, 1, ...); its pid, or -1 with errno. */
static pid_t spawn(struct spawn *s)
{
	sigset_t all, old;
	pid_t pid;
	int e;

	sigfillset(&all);
	sigemptyset(&s->none);
	s->parent = getpid();
	/* No handler of dcrd's may run in the child before it has reset them. */
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	e = errno;
	if (pid == 0)
		child(s);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return pid;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * The sandbox's files in the order they are placed: those of the read-only
 * root (dcr's own, then the caller's under /opt/dcr), n_root of them, then
 * those under /code and /input.
 */
static struct sandbox_file *placed_files(const struct sandbox_file *files, size_t n_files, size_t *n_root,
	size_t *n_placed)
{
	const struct sandbox_file own[] = {
		{ "/etc/passwd", -1, (const uint8_t *)passwd, sizeof(passwd) - 1 },
		{ "/etc/group", -1, (const uint8_t *)group, sizeof(group) - 1 },
		{ RUN_PATH, -1, (const uint8_t *)run_py, sizeof(run_py) - 1 },
		{ CUSTOMIZE_PATH, -1, (const uint8_t *)customize_py, sizeof(customize_py) - 1 },
	};
	size_t n = sizeof(own) / sizeof(own[0]);
	struct sandbox_file *placed = calloc(n + n_files, sizeof(*placed));

	if (!placed)
		return NULL;
	memcpy(placed, own, sizeof(own));
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n_files; i++)
			if (path_within(files[i].path, OPT_DIR) == (pass == 0))
				placed[n++] = files[i];
		if (pass == 0)
			*n_root = n;
	}
	*n_placed = n;
	return placed;
}

/* A descriptor of its own (offset 0, read-only) on what fd is, for bwrap to read; -1 with errno. */
static int reopen(int fd)
{
	char path[40];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Run the sandbox: descriptors for the files (a memfd of its bytes, or
 * the caller's file reopened) in their slots, pipes for the logs and the
 * ZIP, the job's cgroup, then fork, collect and reap.
 */
static int sandbox(const char *bwrap, const struct args *a, const struct sandbox_file *placed, size_t n_placed,
	const int *slot, size_t n_slots, const struct sandbox_job *job, struct run *r, struct dcr_err *err)
{
	size_t n_src = FD_FIRST_FILE + n_slots;
	int log_p[2] = { -1, -1 }, zip_p[2] = { -1, -1 }, devnull = -1, seccomp = -1, n_filter;
	struct sock_filter filter[SANDBOX_SECCOMP_MAX];
	int *fds = malloc((n_slots ? n_slots : 1) * sizeof(int)), *src = malloc(n_src * sizeof(int));
	int *high = malloc(n_src * sizeof(int));
	struct sandbox_cgroup_job *cg = calloc(1, sizeof(*cg));
	struct spawn s = { .path = bwrap, .argv = a->v, .src = src, .high = high, .n = n_src, .cg = cg };
	size_t made = 0;
	pid_t pid = -1;
	int ret = 0;

	if (!fds || !src || !high || !cg) {
		ret = dcr_err_set(err, DCR_ENOMEM, "out of memory starting the python sandbox");
		goto out;
	}
	if ((ret = sandbox_cgroup_job_create(&cgroups, job->memory, NPROC_MAX, cg, err)) < 0)
		goto out;
	if (pipe2(log_p, O_CLOEXEC) < 0 || pipe2(zip_p, O_CLOEXEC) < 0 ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		ret = dcr_err_errno(err, DCR_EIO, errno, "cannot make pipes for the python sandbox");
		goto out;
	}
	if ((n_filter = sandbox_seccomp_build(cg->version != 0, EPERM, filter, SANDBOX_SECCOMP_MAX, err)) < 0) {
		ret = n_filter;
		goto out;
	}
	if ((seccomp = memfd_with(filter, (size_t)n_filter * sizeof(filter[0]))) < 0) {
		ret = dcr_err_errno(err, DCR_EIO, errno, "cannot pass the seccomp filter to the python sandbox");
		goto out;
	}
	for (size_t i = 0; i < n_placed; i++) {
		if (slot[i] < 0)
			continue;
		fds[made] = placed[i].fd >= 0 ? reopen(placed[i].fd) : memfd_with(placed[i].data, placed[i].len);
		if (fds[made] < 0) {
			ret = dcr_err_errno(err, DCR_EIO, errno, "cannot pass '%s' to the python sandbox", placed[i].path);
			goto out;
		}
		made++;
	}
	src[FD_STDIN] = devnull;
	src[FD_STDOUT] = src[FD_STDERR] = log_p[1];
	src[FD_ZIP] = zip_p[1];
	src[FD_SECCOMP] = seccomp;
	memcpy(src + FD_FIRST_FILE, fds, n_slots * sizeof(int));
	limits(&s, job->memory);
	s.drop = who.drop;
	s.uid = who.uid;
	s.gid = who.gid;
	if ((pid = spawn(&s)) < 0) {
		ret = dcr_err_errno(err, DCR_EIO, errno, "cannot start the python sandbox");
		goto out;
	}
	/* Only bwrap may hold the write ends, or the pipes would never close; the rest is its now too. */
	close_fd(&log_p[1]);
	close_fd(&zip_p[1]);
	close_fd(&devnull);
	close_fd(&seccomp);
	for (; made; made--)
		close(fds[made - 1]);
	r->cg = cg;
	collect(r, pid, log_p[0], zip_p[0], job->time_ms);
	reap_pid1(r);
	r->oom = sandbox_cgroup_job_oom(cg);
	r->cg = NULL;
out:
	if (cg)
		sandbox_cgroup_job_destroy(cg);
	if (pid > 0)
		reap_orphans();
	free(cg);
	for (size_t i = 0; i < made; i++)
		close(fds[i]);
	close_fd(&log_p[0]);
	close_fd(&log_p[1]);
	close_fd(&zip_p[0]);
	close_fd(&zip_p[1]);
	close_fd(&devnull);
	close_fd(&seccomp);
	free(fds);
	free(src);
	free(high);
	return ret;
}

void sandbox_result_release(struct sandbox_result *out)
{
	free(out->zip);
	if (out->logs)
		dcr_wipe(out->logs, out->logs_len);
	free(out->logs);
	memset(out, 0, sizeof(*out));
}

int sandbox_run(const struct sandbox_job *job, struct sandbox_result *out, struct dcr_err *err)
{
	char bwrap[PATH_LEN_MAX + 1];
	size_t n_root = 0, n_placed = 0, n_slots = 0;
	struct run r = { .zip_max = job->memory + job->memory / 8 + ZIP_SLACK, .pid1 = -1 };
	struct args a = { 0 };
	struct sandbox_file *placed = NULL;
	int ret, *slot = NULL;

	memset(out, 0, sizeof(*out));
	if (who.why[0])
		return dcr_err_set(err, DCR_ECOMPUTE, "%s", who.why);
	if (!job->argc || !job->argv || !job->output)
		return dcr_err_set(err, DCR_EINVALID, "the sandbox has no command to run");
	if ((ret = check_files(job->files, job->n_files, job->output, err)) < 0)
		return ret;
	if (!find_bwrap(bwrap, sizeof(bwrap)))
		return dcr_err_set(err, DCR_EFAIL, "cannot find bwrap in /usr/bin or $PATH: install bubblewrap");
	if (!(placed = placed_files(job->files, job->n_files, &n_root, &n_placed)))
		return dcr_err_set(err, DCR_ENOMEM, "out of memory starting the python sandbox");
	if ((ret = check_clashes(placed, n_placed, err)) < 0)
		goto out;
	/* A descriptor for each file, but one for all the files that give the same (they become links to the first). */
	if (!(slot = malloc(n_placed * sizeof(*slot)))) {
		ret = dcr_err_set(err, DCR_ENOMEM, "out of memory starting the python sandbox");
		goto out;
	}
	for (size_t i = 0; i < n_placed; i++) {
		slot[i] = FD_FIRST_FILE + (int)n_slots;
		for (size_t j = 0; placed[i].fd >= 0 && j < i; j++)
			if (placed[j].fd == placed[i].fd)
				slot[i] = -1;
		n_slots += slot[i] >= 0;
	}
	args_build(&a, bwrap, job->output, job->memory, placed, n_root, n_placed, slot, job->argv, job->argc);
	if (a.failed) {
		ret = dcr_err_set(err, DCR_ENOMEM, "out of memory starting the python sandbox");
		goto out;
	}
	if ((ret = sandbox(bwrap, &a, placed, n_placed, slot, n_slots, job, &r, err)) < 0)
		goto out;
	if (logs_finish(&r, out) < 0) {
		ret = dcr_err_set(err, DCR_ENOMEM, "out of memory reading the python sandbox's output");
		goto out;
	}
	if ((ret = conclude(&r, job, out, err)) < 0)
		goto out;
	/* The ZIP without the supervisor's two lines; the stale tail wiped. */
	memmove(r.zip.p, r.zip.p + ret, r.zip.len - (size_t)ret);
	dcr_wipe(r.zip.p + r.zip.len - ret, (size_t)ret);
	out->zip = r.zip.p;
	out->zip_len = r.zip.len - (size_t)ret;
	r.zip = (struct buf){ 0 };
	ret = 0;
out:
	buf_release(&r.zip);
	buf_release(&r.logs);
	args_free(&a);
	free(placed);
	free(slot);
	return ret;
}

int sandbox_program(const char *prog, struct dcr_err *err)
{
	/* The sandbox's /bin, /sbin, /lib and /lib64 are links into /usr, whatever the host's are. */
	static const char *const links[][2] = {
		{ "/bin/", "/usr/bin/" }, { "/sbin/", "/usr/sbin/" }, { "/lib/", "/usr/lib/" }, { "/lib64/", "/usr/lib64/" },
	};
	char path[PATH_LEN_MAX + 16], *real;
	struct stat st;
	bool ok;

	if (strcmp(prog, "python") == 0 || strcmp(prog, PYTHON_LINK) == 0)
		prog = PYTHON;
	if (!strchr(prog, '/')) {
		/* PATH: /usr/local/bin holds python alone, /bin is /usr/bin. */
		snprintf(path, sizeof(path), "/usr/bin/%s", prog);
	} else {
		snprintf(path, sizeof(path), "%s", prog);
		for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
			if (strncmp(prog, links[i][0], strlen(links[i][0])) == 0) {
				snprintf(path, sizeof(path), "%s%s", links[i][1], prog + strlen(links[i][0]));
				break;
			}
	}
	if (strncmp(path, "/usr/local/", 11) == 0)
		return dcr_err_set(err, DCR_EINVALID, "program '%s' is not in the python sandbox: its /usr/local holds "
			"only %s", prog, PYTHON_LINK);
	/* The host's file, if it is the sandbox's too: in /usr (but /usr/local) once links are followed. */
	real = realpath(path, NULL);
	ok = real && path_within(real, "/usr") && !path_within(real, "/usr/local") && stat(real, &st) == 0 &&
	     S_ISREG(st.st_mode) && (st.st_mode & 0111);
	free(real);
	if (!ok)
		return dcr_err_set(err, DCR_EINVALID, "program '%s' is not in this dcrd's python sandbox, whose PATH is "
			"%s (python, python3 and what the host installed from Debian packages)", prog, SANDBOX_PATH);
	return 0;
}

/* The distributions the sandbox reports, by their names on the Python package index (dcr-room(5)). */
static const char *const report_packages[SANDBOX_PACKAGES] = {
	"numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "seaborn", "nltk", "requests", "PyYAML", "toml",
	"python-dateutil", "protobuf",
};

/* What the probe prints: the python version, then each distribution's version ("" if absent). */
static const char probe_py[] =
	"import importlib.metadata as m, platform, sys\n"
	"print('python', platform.python_version())\n"
	"for d in sys.argv[1:]:\n"
	"    try:\n"
	"        v = m.version(d)\n"
	"    except m.PackageNotFoundError:\n"
	"        v = ''\n"
	"    print('package', d, v)\n";

static struct sandbox_report report = { .reason = "the python sandbox was not checked (sandbox_available)" };

/* Copy a word of the probe's output if it is printable ASCII that fits, else "?". */
static void probe_word(const char *s, size_t n, char *out, size_t size)
{
	bool ok = n < size;

	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] > 0x20 && s[i] < 0x7f;
	snprintf(out, size, "%.*s", ok ? (int)n : 1, ok ? s : "?");
}

/* The report's versions from the probe's logs: lines "python V" and "package NAME V". */
static void probe_parse(const char *logs)
{
	for (const char *line = logs; line && *line; ) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len > 7 && strncmp(line, "python ", 7) == 0)
			probe_word(line + 7, len - 7, report.python, sizeof(report.python));
		for (size_t i = 0; i < SANDBOX_PACKAGES && len > 8 && strncmp(line, "package ", 8) == 0; i++) {
			size_t n = strlen(report_packages[i]);

			if (len >= 8 + n + 1 && strncmp(line + 8, report_packages[i], n) == 0 && line[8 + n] == ' ') {
				if (len > 8 + n + 1)
					probe_word(line + 9 + n, len - 9 - n, report.packages[i].version,
						sizeof(report.packages[i].version));
				else
					report.packages[i].version[0] = '\0';
			}
		}
		line = end ? end + 1 : NULL;
	}
}

int sandbox_available(struct dcr_err *err)
{
	char *cmd[3 + SANDBOX_PACKAGES] = { "python3", "-c", (char *)probe_py };
	struct sandbox_job job = { cmd, 3 + SANDBOX_PACKAGES, OUTPUT_TOP, NULL, 0, 30000, UINT64_C(256) << 20 };
	struct sandbox_result res = { 0 };
	char bwrap[PATH_LEN_MAX + 1];
	struct dcr_err why;
	int r;

	memset(&report, 0, sizeof(report));
	for (size_t i = 0; i < SANDBOX_PACKAGES; i++) {
		cmd[3 + i] = (char *)report_packages[i];
		report.packages[i].name = report_packages[i];
	}
	if (who.why[0])
		r = dcr_err_set(&why, DCR_EFAIL, "%s", who.why);
	else if (!find_bwrap(bwrap, sizeof(bwrap)) || access(PYTHON, X_OK) < 0)
		r = dcr_err_set(&why, DCR_EFAIL, "the python sandbox needs %s: install bubblewrap and python3",
			access(PYTHON, X_OK) < 0 ? PYTHON : "bwrap (in /usr/bin or $PATH)");
	else if ((r = sandbox_run(&job, &res, &why)) < 0)
		r = dcr_err_set(&why, DCR_EFAIL, "the python sandbox does not work here (%s): install bubblewrap and "
			"python3, and allow user namespaces", why.msg);
	else
		probe_parse(res.logs);
	sandbox_result_release(&res);
	report.available = r == 0;
	if (r < 0) {
		snprintf(report.reason, sizeof(report.reason), "%s", why.msg);
		return dcr_err_set(err, DCR_EFAIL, "%s", why.msg);
	}
	return 0;
}

const struct sandbox_report *sandbox_report(void)
{
	return &report;
}

void sandbox_log(void)
{
	char line[1024];
	size_t n;

	if (!report.available) {
		fprintf(stderr, "dcrd: python computations cannot run here, rooms with them are refused: %s\n",
			report.reason);
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "python %s", report.python);
	for (size_t i = 0; i < SANDBOX_PACKAGES && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s %s", i ? ", " : "; ", report.packages[i].name,
			report.packages[i].version[0] ? report.packages[i].version : "(absent)");
	fprintf(stderr, "dcrd: the python sandbox works: %s\n", line);
}
