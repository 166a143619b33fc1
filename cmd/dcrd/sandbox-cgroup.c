/*
 * The sandbox's cgroups (sandbox-impl.h): each job in a cgroup of its own
 * whose memory limit counts everything the job's processes make resident,
 * shared memory, memfds and tmpfs pages included, and whose task limit
 * holds whatever user the sandbox runs as. cgroup v2 where dcrd has a
 * delegated cgroup, else v1's memory and pids hierarchies where dcrd may
 * write them, else none.
 */
#define _GNU_SOURCE /* O_CLOEXEC with POSIX, dirent */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "sandbox-impl.h"

#include "banned.h"

#define TEXT_MAX (1u << 20)          /* /proc/self/mountinfo and the like */
#define CPU_WEIGHT "50"              /* v2: half of dcrd's default 100, so dcrd answers while a job computes */
#define CPU_SHARES "512"             /* v1: the same against the default 1024 */
#define KILL_ROUNDS 500              /* of 10 ms: how long a job's last processes may take to die */

/* ---- reading and writing cgroup files ---- */

/* The whole of a small file, NUL-ended, into a new buffer; NULL with errno. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 4096;
	char *buf = NULL, *grown;
	ssize_t n;

	if (fd < 0)
		return NULL;
	for (;;) {
		if (!(grown = realloc(buf, cap + 1)))
			break;
		buf = grown;
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			buf[len] = '\0';
			close(fd);
			return buf;
		}
		len += (size_t)n;
		if (len == cap && (cap *= 2) > TEXT_MAX) {
			errno = EFBIG;
			break;
		}
	}
	free(buf);
	close(fd);
	return NULL;
}

/* Write value to dir/file as one write(2), as cgroup files want; 0 or -1 with errno. */
static int put(const char *dir, const char *file, const char *value)
{
	char path[SANDBOX_PATH_MAX + 64];
	int fd, e;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	n = write(fd, value, strlen(value));
	e = errno;
	close(fd);
	errno = e;
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

/* Whether word is one of the words (separated by sep) of list. */
static bool has_word(const char *list, size_t len, const char *word, char sep)
{
	size_t w = strlen(word);

	for (size_t i = 0; i < len; ) {
		size_t j = i;

		while (j < len && list[j] != sep && list[j] != ' ' && list[j] != '\n')
			j++;
		if (j - i == w && memcmp(list + i, word, w) == 0)
			return true;
		i = j + 1;
	}
	return false;
}

/* ---- where cgroups are ---- */

int sandbox_cgroup_own(const char *text, const char *controller, char *out, size_t size)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *end = strchr(line, '\n'), *c1 = strchr(line, ':'), *c2;
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (!c1 || c1 >= line + len || !(c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line))))
			continue;
		/* v2: "0::/path"; v1: "N:memory:/path" or "N:cpu,cpuacct:/path". */
		if (controller ? !has_word(c1 + 1, (size_t)(c2 - c1 - 1), controller, ',')
			       : !(c2 == c1 + 1 && c1 - line == 1 && line[0] == '0'))
			continue;
		if (c2[1] != '/' || (size_t)(line + len - c2 - 1) >= size)
			return -1;
		memcpy(out, c2 + 1, (size_t)(line + len - c2 - 1));
		out[line + len - c2 - 1] = '\0';
		return 0;
	}
	return -1;
}

/* Copy a mountinfo field of n bytes, turning its \ooo escapes back into bytes; -1 if it does not fit. */
static int unescape(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
		    s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int sandbox_cgroup_mount(const char *text, const char *controller, char *point, size_t psize, char *root,
	size_t rsize)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *field[12];
		size_t flen[12], n = 0, dash = 0;

		/* id parent major:minor root mount-point options [optional...] - type source super-options */
		for (size_t i = 0; i < len && n < 12; ) {
			size_t j = i;

			while (j < len && line[j] != ' ')
				j++;
			field[n] = line + i;
			flen[n] = j - i;
			if (flen[n] == 1 && line[i] == '-' && n >= 6 && !dash)
				dash = n;
			n++;
			i = j + 1;
		}
		if (!dash || n < dash + 4)
			continue;
		if (controller ? !(flen[dash + 1] == 6 && memcmp(field[dash + 1], "cgroup", 6) == 0 &&
				   has_word(field[dash + 3], flen[dash + 3], controller, ','))
			       : !(flen[dash + 1] == 7 && memcmp(field[dash + 1], "cgroup2", 7) == 0))
			continue;
		if (unescape(field[4], flen[4], point, psize) < 0 || unescape(field[3], flen[3], root, rsize) < 0)
			return -1;
		return 0;
	}
	return -1;
}

int sandbox_cgroup_dir(const char *point, const char *root, const char *own, char *out, size_t size)
{
	size_t r = strlen(root);

	/* own is relative to the hierarchy's root, the mount shows it from root on. */
	if (strcmp(root, "/") == 0)
		r = 0;
	else if (strncmp(own, root, r) != 0 || (own[r] != '/' && own[r] != '\0'))
		return -1;
	if ((size_t)snprintf(out, size, "%s%s", point, own + r) >= size)
		return -1;
	/* "/sys/fs/cgroup/memory/" for the root cgroup: no final '/'. */
	for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
	return 0;
}

uint64_t sandbox_cgroup_oom_kills(const char *text)
{
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, "oom_kill ", 9) == 0)
			return strtoull(line + 9, NULL, 10);
	return 0;
}

/* This process's cgroup directory for controller (v1) or in cgroup v2 (NULL); -1 if it has none. */
static int own_dir(const char *controller, char *out, size_t size)
{
	char *cg = slurp("/proc/self/cgroup"), *mi = slurp("/proc/self/mountinfo");
	char point[SANDBOX_PATH_MAX], root[SANDBOX_PATH_MAX], own[SANDBOX_PATH_MAX];
	int r = -1;

	if (cg && mi && sandbox_cgroup_own(cg, controller, own, sizeof(own)) == 0 &&
	    sandbox_cgroup_mount(mi, controller, point, sizeof(point), root, sizeof(root)) == 0)
		r = sandbox_cgroup_dir(point, root, own, out, size);
	free(cg);
	free(mi);
	return r;
}

static bool kill_all(struct sandbox_cgroup_job *job);

/* Remove the job cgroup dir of hierarchy i that a dcrd that is gone left, killing what is in it; 0 or -1 with errno. */
static int remove_stale(int version, size_t i, const char *dir)
{
	struct sandbox_cgroup_job *stale = calloc(1, sizeof(*stale));
	int r;

	if (!stale)
		return -1;
	stale->version = version;
	snprintf(stale->dir[i], sizeof(stale->dir[i]), "%s", dir);
	if (version == 2)
		(void)put(dir, "cgroup.kill", "1");
	for (int round = 0; round < KILL_ROUNDS && !kill_all(stale); round++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	r = rmdir(dir);
	free(stale);
	return r;
}

void sandbox_cgroup_sweep_jobs(int version, size_t i, const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char dir[SANDBOX_PATH_MAX + 300], *end;
		long pid;

		if (strncmp(e->d_name, "job-", 4) != 0)
			continue;
		if (version == 2) {
			pid = strtol(e->d_name + 4, &end, 10);
			if (*end != '-' || pid <= 0 || (pid != getpid() && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)))
				continue;
		}
		snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name);
		(void)remove_stale(version, i, dir);
	}
	if (d)
		closedir(d);
}

/* ---- setting up ---- */

static const char *const v1_names[] = { "memory", "pids", "cpu" };

/* The value of extended attribute name of path is "1"; -1 when path has no such attribute. */
static int xattr_one(const char *path, const char *name)
{
	char v[8];
	ssize_t n = getxattr(path, name, v, sizeof(v));

	if (n < 0)
		return errno == ERANGE ? 0 : -1;
	return n == 1 && v[0] == '1';
}

bool sandbox_cgroup_delegated(const char *dir)
{
	struct stat st;
	int r;

	/* systemd reads trusted.delegate first, and user.delegate only where the former is absent. */
	if ((r = xattr_one(dir, "trusted.delegate")) < 0)
		r = xattr_one(dir, "user.delegate");
	if (r >= 0)
		return r;
	return geteuid() != 0 && stat(dir, &st) == 0 && st.st_uid == geteuid() && access(dir, W_OK) == 0;
}

/*
 * cgroup v2 at dir: memory and pids (and cpu) for dcrd's jobs, dcrd itself
 * in a leaf when dir is its own cgroup. In auto mode only a cgroup
 * delegated to dcrd: root may write any cgroup, and systemd takes the
 * controllers of one it did not delegate back when it next realizes the
 * unit (-memory -pids), which would leave the jobs without limits.
 */
static int setup_v2(struct sandbox_cgroups *cg, const char *dir, bool own, bool auto_mode, char *why,
	size_t why_size)
{
	char *controllers, leaf[SANDBOX_PATH_MAX + 16], pid[24], *subtree;
	bool cpu;

	if (auto_mode && !sandbox_cgroup_delegated(dir)) {
		if (geteuid() == 0)
			snprintf(why, why_size, "cgroup v2 at %.200s is not delegated to dcrd (no trusted.delegate or "
				"user.delegate attribute of 1, as systemd's Delegate=yes sets; --cgroup PATH uses a "
				"cgroup all the same)", dir);
		else
			snprintf(why, why_size, "cgroup v2 at %.200s is not delegated to dcrd (neither marked so nor "
				"owned and writable by uid %u)", dir, (unsigned)geteuid());
		return -1;
	}
	snprintf(leaf, sizeof(leaf), "%s/cgroup.controllers", dir);
	if (!(controllers = slurp(leaf))) {
		snprintf(why, why_size, "cannot read %.200s: %.200s", leaf, strerror(errno));
		return -1;
	}
	if (!has_word(controllers, strlen(controllers), "memory", ' ') ||
	    !has_word(controllers, strlen(controllers), "pids", ' ')) {
		snprintf(why, why_size, "cgroup v2 at %.200s lacks the memory or pids controller", dir);
		free(controllers);
		return -1;
	}
	cpu = has_word(controllers, strlen(controllers), "cpu", ' ');
	free(controllers);
	if (access(dir, W_OK) < 0) {
		snprintf(why, why_size, "cgroup v2 at %.200s is not writable by dcrd", dir);
		return -1;
	}
	if (own) {
		/* No process may stay in a cgroup whose controllers its children use. */
		snprintf(leaf, sizeof(leaf), "%s/dcrd", dir);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		if ((mkdir(leaf, 0755) < 0 && errno != EEXIST) || put(leaf, "cgroup.procs", pid) < 0) {
			snprintf(why, why_size, "cannot move dcrd into %.200s: %.200s", leaf, strerror(errno));
			return -1;
		}
	}
	if (put(dir, "cgroup.subtree_control", cpu ? "+memory +pids +cpu" : "+memory +pids") < 0) {
		snprintf(why, why_size, "cannot enable the memory and pids controllers below %.160s: %.60s%s", dir,
			strerror(errno), errno == EBUSY ? " (other processes are in it: give dcrd a cgroup of its own, "
			"such as a systemd service with Delegate=yes)" : "");
		return -1;
	}
	snprintf(leaf, sizeof(leaf), "%s/cgroup.subtree_control", dir);
	subtree = slurp(leaf);
	if (!subtree || !has_word(subtree, strlen(subtree), "memory", ' ') ||
	    !has_word(subtree, strlen(subtree), "pids", ' ')) {
		snprintf(why, why_size, "the memory and pids controllers did not stay enabled below %.200s", dir);
		free(subtree);
		return -1;
	}
	cg->cpu = cpu && has_word(subtree, strlen(subtree), "cpu", ' ');
	free(subtree);
	cg->version = 2;
	snprintf(cg->dir[0], sizeof(cg->dir[0]), "%s", dir);
	sandbox_cgroup_sweep_jobs(2, 0, dir);
	return 0;
}

/* Remove what a dcrd that is gone left in base (v1 hierarchy i): its dcrd-PID directory and the jobs' below it. */
static void sweep(size_t i, const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char dir[SANDBOX_PATH_MAX + 300];
		char *end;
		long pid;

		if (strncmp(e->d_name, "dcrd-", 5) != 0)
			continue;
		pid = strtol(e->d_name + 5, &end, 10);
		if (*end || pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name);
		sandbox_cgroup_sweep_jobs(1, i, dir);
		(void)rmdir(dir);
	}
	if (d)
		closedir(d);
}

/* cgroup v1: dcrd-PID directories under dcrd's own memory and pids cgroups (and cpu's, where writable). */
static int setup_v1(struct sandbox_cgroups *cg, char *why, size_t why_size)
{
	char own[SANDBOX_PATH_MAX], file[SANDBOX_PATH_MAX + 64];

	for (size_t i = 0; i < 3; i++) {
		bool optional = i == 2;

		if (own_dir(v1_names[i], own, sizeof(own)) < 0 || access(own, W_OK) < 0) {
			if (optional)
				continue;
			snprintf(why, why_size, "no writable cgroup v1 %.200s hierarchy", v1_names[i]);
			return -1;
		}
		sweep(i, own);
		if ((size_t)snprintf(cg->dir[i], sizeof(cg->dir[i]), "%s/dcrd-%d", own, (int)getpid()) >=
			    sizeof(cg->dir[i]) ||
		    (mkdir(cg->dir[i], 0755) < 0 && errno != EEXIST)) {
			if (optional) {
				cg->dir[i][0] = '\0';
				continue;
			}
			snprintf(why, why_size, "cannot create %.200s: %.200s", cg->dir[i], strerror(errno));
			sandbox_cgroup_release(cg);
			return -1;
		}
		/* One there already is a dead dcrd's that had this pid, and so are its jobs. */
		sandbox_cgroup_sweep_jobs(1, i, cg->dir[i]);
	}
	cg->cpu = cg->dir[2][0] != '\0';
	snprintf(file, sizeof(file), "%s/memory.memsw.limit_in_bytes", cg->dir[0]);
	cg->memsw = access(file, F_OK) == 0;
	cg->version = 1;
	return 0;
}

int sandbox_cgroup_setup(const char *mode, struct sandbox_cgroups *cg, char *desc, size_t desc_size,
	struct dcr_err *err)
{
	char dir[SANDBOX_PATH_MAX], why2[512] = "", why1[512] = "";

	memset(cg, 0, sizeof(*cg));
	if (!mode || strcmp(mode, "auto") == 0) {
		if (own_dir(NULL, dir, sizeof(dir)) < 0)
			snprintf(why2, sizeof(why2), "dcrd is in no cgroup v2");
		else if (setup_v2(cg, dir, true, true, why2, sizeof(why2)) == 0)
			goto done;
		if (setup_v1(cg, why1, sizeof(why1)) == 0)
			goto done;
		snprintf(desc, desc_size, "job limits: no cgroup (%s; %s): memory is bounded per process only, and "
			"shared memory is refused to the sandbox", why2, why1);
		return 0;
	}
	if (strcmp(mode, "off") == 0) {
		snprintf(desc, desc_size, "job limits: no cgroup (--cgroup off): memory is bounded per process only, "
			"and shared memory is refused to the sandbox");
		return 0;
	}
	if (mode[0] != '/')
		return dcr_err_set(err, DCR_EUSAGE, "invalid --cgroup '%s' (auto, off, or the absolute path of a "
			"cgroup v2 directory)", mode);
	if (own_dir(NULL, dir, sizeof(dir)) < 0)
		dir[0] = '\0';
	if (setup_v2(cg, mode, strcmp(dir, mode) == 0, false, why2, sizeof(why2)) < 0)
		return dcr_err_set(err, DCR_EFAIL, "cannot use --cgroup '%s': %s", mode, why2);
done:
	if (cg->version == 2)
		snprintf(desc, desc_size, "job limits: cgroup v2 below %s (memory, pids%s)", cg->dir[0],
			cg->cpu ? ", cpu" : "");
	else
		snprintf(desc, desc_size, "job limits: cgroup v1 below %s and %s (memory%s, pids%s), not v2: %s",
			cg->dir[0], cg->dir[1], cg->memsw ? " and swap" : "", cg->cpu ? ", cpu" : "", why2);
	return 0;
}

void sandbox_cgroup_release(struct sandbox_cgroups *cg)
{
	if (cg->version == 1)
		for (size_t i = 0; i < 3; i++)
			if (cg->dir[i][0])
				(void)rmdir(cg->dir[i]);
	memset(cg, 0, sizeof(*cg));
}

/* ---- one job ---- */

int sandbox_cgroup_job_create(const struct sandbox_cgroups *cg, uint64_t memory, unsigned tasks,
	struct sandbox_cgroup_job *job, struct dcr_err *err)
{
	static atomic_uint next;
	unsigned n = atomic_fetch_add(&next, 1) + 1;
	char mem[24], max[24];
	size_t count = cg->version == 2 ? 1 : 3;

	memset(job, 0, sizeof(*job));
	if (!cg->version)
		return 0;
	job->version = cg->version;
	snprintf(mem, sizeof(mem), "%" PRIu64, memory);
	snprintf(max, sizeof(max), "%u", tasks);
	for (size_t i = 0; i < count; i++) {
		if (!cg->dir[i][0])
			continue;
		if (cg->version == 2)
			snprintf(job->dir[i], sizeof(job->dir[i]), "%s/job-%d-%u", cg->dir[i], (int)getpid(), n);
		else
			snprintf(job->dir[i], sizeof(job->dir[i]), "%s/job-%u", cg->dir[i], n);
		/* One of this name is a dead dcrd's that had this pid: no job of ours has it. */
		if (mkdir(job->dir[i], 0755) < 0 && (errno != EEXIST || remove_stale(job->version, i, job->dir[i]) < 0 ||
						     mkdir(job->dir[i], 0755) < 0)) {
			int e = errno;

			job->dir[i][0] = '\0';
			sandbox_cgroup_job_destroy(job);
			return dcr_err_errno(err, DCR_EFAIL, e, "cannot create the job's cgroup");
		}
		snprintf(job->procs[job->n_procs++], sizeof(job->procs[0]), "%s/cgroup.procs", job->dir[i]);
	}
	/* The swap limit after the memory limit: v1 wants memsw >= limit at every step. */
	if ((cg->version == 2 && (put(job->dir[0], "memory.max", mem) < 0 ||
				  (put(job->dir[0], "memory.swap.max", "0") < 0 && errno != ENOENT) ||
				  put(job->dir[0], "memory.oom.group", "1") < 0 || put(job->dir[0], "pids.max", max) < 0 ||
				  (cg->cpu && put(job->dir[0], "cpu.weight", CPU_WEIGHT) < 0))) ||
	    (cg->version == 1 && (put(job->dir[0], "memory.limit_in_bytes", mem) < 0 ||
				  (cg->memsw && put(job->dir[0], "memory.memsw.limit_in_bytes", mem) < 0) ||
				  /* No swap at the job's own limit; v1 has no swap.max: host-wide reclaim may still swap it. */
				  put(job->dir[0], "memory.swappiness", "0") < 0 ||
				  put(job->dir[1], "pids.max", max) < 0 ||
				  (cg->cpu && put(job->dir[2], "cpu.shares", CPU_SHARES) < 0)))) {
		int e = errno;

		sandbox_cgroup_job_destroy(job);
		return dcr_err_errno(err, DCR_EFAIL, e, "cannot set the limits of the job's cgroup");
	}
	snprintf(job->events, sizeof(job->events), "%s/%s", job->dir[0],
		cg->version == 2 ? "memory.events" : "memory.oom_control");
	return 0;
}

bool sandbox_cgroup_job_oom(const struct sandbox_cgroup_job *job)
{
	char *text;
	bool oom;

	if (!job->version || !(text = slurp(job->events)))
		return false;
	oom = sandbox_cgroup_oom_kills(text) > 0;
	free(text);
	return oom;
}

/* The last n components of path, with their leading '/'; path itself if it has fewer. */
static const char *path_tail(const char *path, int n)
{
	const char *s = path + strlen(path);

	while (s > path && n > 0)
		if (*--s == '/')
			n--;
	return s;
}

/*
 * Whether process pid is in hierarchy i of job: its cgroup, from
 * /proc/PID/cgroup, ends as the job's directory does (v1 .../dcrd-PID/job-N,
 * v2 .../job-PID-N, names no other cgroup has; the mount may show less of
 * the path than /proc does).
 */
static bool in_job(pid_t pid, const struct sandbox_cgroup_job *job, size_t i)
{
	char path[64], own[SANDBOX_PATH_MAX], *text;
	const char *want = path_tail(job->dir[i], job->version == 2 ? 1 : 2);
	size_t n = strlen(want), len;
	bool in = false;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (!(text = slurp(path)))
		return false;
	if (sandbox_cgroup_own(text, job->version == 2 ? NULL : v1_names[i], own, sizeof(own)) == 0 &&
	    (len = strlen(own)) >= n && strcmp(own + len - n, want) == 0)
		in = true;
	free(text);
	return in;
}

/*
 * Kill what is left in the job's cgroups; true when they are empty. By
 * pidfd, each checked to be in the job after it is opened: a pid read
 * from cgroup.procs may have been reused by then, by any process, which
 * dcrd as root could otherwise kill.
 */
static bool kill_all(struct sandbox_cgroup_job *job)
{
	bool empty = true;

	for (size_t i = 0; i < 3; i++) {
		char path[SANDBOX_PATH_MAX + 32], *procs;

		if (!job->dir[i][0])
			continue;
		snprintf(path, sizeof(path), "%s/cgroup.procs", job->dir[i]);
		if (!(procs = slurp(path)))
			continue;
		for (char *s = procs; *s; ) {
			char *end;
			long pid = strtol(s, &end, 10);
			int fd;

			if (end == s)
				break;
			s = end;
			while (*s == '\n')
				s++;
			if (pid <= 0 || (fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0)) < 0)
				continue;
			if (in_job((pid_t)pid, job, i)) {
				(void)syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0);
				empty = false;
			}
			close(fd);
		}
		free(procs);
	}
	return empty;
}

void sandbox_cgroup_job_kill(struct sandbox_cgroup_job *job)
{
	if (job->version == 2 && put(job->dir[0], "cgroup.kill", "1") == 0)
		return;
	(void)kill_all(job);
}

void sandbox_cgroup_job_destroy(struct sandbox_cgroup_job *job)
{
	if (job->version == 2)
		(void)put(job->dir[0], "cgroup.kill", "1");
	for (int round = 0; round < KILL_ROUNDS && !kill_all(job); round++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	for (size_t i = 0; i < 3; i++)
		if (job->dir[i][0])
			(void)rmdir(job->dir[i]);
	memset(job, 0, sizeof(*job));
}
