/* The pod address allocator: see ipam.h for the files it keeps and why. */
#include "netns/ipam.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fsutil.h"

/* Names in the state directory besides the address files. None parses as an address, and the
 * temporary ones start with a dot, which no address does. */
#define LOCK_NAME "lock" /* also holds the last address handed out */
#define OWNERS_NAME "owners"
#define LINK_TMP ".link"
#define LAST_TEXT_SIZE 16 /* "255.255.255.255\n" */
/* What an owners/ link points at: the address file beside the owners/ directory. */
#define LINK_PREFIX "../"

struct ipam {
	int dir_fd;
	int owners_fd;
	struct ipv4_cidr cidr;
	char cidr_text[IPV4_TEXT_MAX + 1];
};

/* "ipam <cidr>: <what>", with ": <strerror>" when `with_errno`. */
static int fail(const struct ipam *ipam, struct ck_error *err, int code, bool with_errno,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(const struct ipam *ipam, struct ck_error *err, int code, bool with_errno,
		const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (with_errno)
		return ck_error_errno(err, code, "ipam %s: %s", ipam->cidr_text, what);
	return ck_error_set(err, code, "ipam %s: %s", ipam->cidr_text, what);
}

static bool owner_valid(const char *owner)
{
	size_t len = strnlen(owner, IPAM_OWNER_MAX + 1);

	if (len == 0 || len > IPAM_OWNER_MAX)
		return false;
	/* They name files in owners/: "." and ".." would name directories. */
	if (strcmp(owner, ".") == 0 || strcmp(owner, "..") == 0)
		return false;
	for (const char *c = owner; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			return false;
	}
	return true;
}

static int check_owner(const struct ipam *ipam, const char *owner, struct ck_error *err)
{
	char shown[72];
	size_t i = 0;

	if (owner && owner_valid(owner))
		return 0;
	/* The id came from outside: show a bounded, printable rendering of it. */
	for (; owner && owner[i] && i < 64; i++)
		shown[i] = owner[i] >= 0x20 && owner[i] < 0x7f ? owner[i] : '?';
	shown[i] = '\0';
	return fail(ipam, err, EINVAL, false,
		    "owner \"%s%s\": not an id (1 to %d characters of A-Z a-z 0-9 . _ -, "
		    "not . or ..)",
		    shown, owner && owner[i] ? "..." : "", IPAM_OWNER_MAX);
}

/* Whether the allocator may hand out `address`: inside the CIDR, neither its network address,
 * nor the gateway, nor its broadcast address. */
static bool usable(const struct ipam *ipam, uint32_t address)
{
	return ipv4_cidr_contains(&ipam->cidr, address) && address >= ipam->cidr.network + 2 &&
	       address < ipv4_cidr_last(&ipam->cidr);
}

/* The address an address file's name spells, only in its canonical form. */
static bool address_name(const char *name, uint32_t *address)
{
	char canonical[IPV4_TEXT_MAX + 1];

	if (name[0] < '0' || name[0] > '9' || ipv4_address_parse(name, address, NULL) < 0)
		return false;
	return strcmp(ipv4_address_format(*address, canonical), name) == 0;
}

static int lock_state(const struct ipam *ipam, int *lock_fd, struct ck_error *err)
{
	/* Opened for each operation, not once: flock belongs to the open file, so a descriptor
	 * shared with a forked child or another thread would not exclude it. */
	int fd = openat(ipam->dir_fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return fail(ipam, err, errno, true, "open %s", LOCK_NAME);
	while (flock(fd, LOCK_EX) < 0) {
		int saved = errno;

		if (saved == EINTR)
			continue;
		close(fd);
		return fail(ipam, err, saved, true, "lock %s", LOCK_NAME);
	}
	*lock_fd = fd;
	return 0;
}

/* Reads the owner text of the address file `name` into `owner`. 1 when it holds a valid owner
 * id; 0 when it holds none (empty, garbage, not a regular file: a claim nobody owns); -ENOENT
 * when there is no such file; another -errno when it could not be read (then nothing may be
 * concluded about it). */
static int read_holder(const struct ipam *ipam, const char *name, char owner[IPAM_OWNER_MAX + 1])
{
	char text[IPAM_OWNER_MAX + 2];
	size_t len = 0;
	int fd = openat(ipam->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return errno == ELOOP || errno == EACCES ? 0 : -errno;
	while (len < sizeof(text)) {
		ssize_t n = read(fd, text + len, sizeof(text) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;

			close(fd);
			return saved == EISDIR || saved == EINVAL ? 0 : -saved;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len == 0 || len > IPAM_OWNER_MAX || memchr(text, '\0', len))
		return 0;
	text[len] = '\0';
	if (!owner_valid(text))
		return 0;
	memcpy(owner, text, len + 1);
	return 1;
}

/* 1 when the address file of `address` names `owner`, 0 when not (or it is gone), -errno. */
static int holds(const struct ipam *ipam, uint32_t address, const char *owner)
{
	char name[IPV4_TEXT_MAX + 1], holder[IPAM_OWNER_MAX + 1];
	int r = read_holder(ipam, ipv4_address_format(address, name), holder);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return r == 1 && strcmp(holder, owner) == 0;
}

/* The address owners/<owner> points at: 0, -ENOENT when there is no link, -EINVAL when it is
 * not a link to an address, another -errno. */
static int read_link(const struct ipam *ipam, const char *owner, uint32_t *address)
{
	char target[64];
	ssize_t n = readlinkat(ipam->owners_fd, owner, target, sizeof(target) - 1);
	const char *name = target;

	if (n < 0)
		return -errno; /* EINVAL: not a link */
	target[n] = '\0';
	if (strncmp(name, LINK_PREFIX, strlen(LINK_PREFIX)) == 0)
		name += strlen(LINK_PREFIX);
	return address_name(name, address) ? 0 : -EINVAL;
}

static int write_link(const struct ipam *ipam, const char *owner, uint32_t address,
		      struct ck_error *err)
{
	char name[IPV4_TEXT_MAX + 1], target[sizeof(LINK_PREFIX) + IPV4_TEXT_MAX + 1];

	snprintf(target, sizeof(target), LINK_PREFIX "%s", ipv4_address_format(address, name));
	if (symlinkat(target, ipam->owners_fd, owner) == 0)
		return 0;
	if (errno != EEXIST)
		return fail(ipam, err, errno, true, "link owner %s to %s", owner, name);
	/* Replaced in one rename, so that the owner is never without a link on the way. */
	if (unlinkat(ipam->dir_fd, LINK_TMP, 0) < 0 && errno != ENOENT)
		return fail(ipam, err, errno, true, "remove %s", LINK_TMP);
	if (symlinkat(target, ipam->dir_fd, LINK_TMP) < 0 ||
	    renameat(ipam->dir_fd, LINK_TMP, ipam->owners_fd, owner) < 0) {
		int saved = errno;

		unlinkat(ipam->dir_fd, LINK_TMP, 0);
		return fail(ipam, err, saved, true, "link owner %s to %s", owner, name);
	}
	return 0;
}

static int remove_link(const struct ipam *ipam, const char *owner, struct ck_error *err)
{
	if (unlinkat(ipam->owners_fd, owner, 0) < 0 && errno != ENOENT)
		return fail(ipam, err, errno, true, "remove link of owner %s", owner);
	return 0;
}

static int remove_address(const struct ipam *ipam, uint32_t address, struct ck_error *err)
{
	char name[IPV4_TEXT_MAX + 1];

	ipv4_address_format(address, name);
	if (unlinkat(ipam->dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	/* Not something this code makes, but it blocks the address all the same. */
	if (errno == EISDIR && unlinkat(ipam->dir_fd, name, AT_REMOVEDIR) == 0)
		return 0;
	return fail(ipam, err, errno, true, "release %s", name);
}

/* Calls `visit` for every address file, in directory order. `visit` returns 0 to go on, 1 to
 * stop, or -errno to stop with that error (its message set). */
typedef int (*address_visitor)(const struct ipam *ipam, uint32_t address, const char *name,
			       void *ctx, struct ck_error *err);

static int for_each_address(const struct ipam *ipam, address_visitor visit, void *ctx,
			    struct ck_error *err)
{
	/* A descriptor of its own: a directory stream keeps its position in the open file. */
	int fd = openat(ipam->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *entry;
	DIR *dir;
	int r = 0;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		r = fail(ipam, err, errno, true, "read the state directory");
		if (fd >= 0)
			close(fd);
		return r;
	}
	while ((errno = 0, entry = readdir(dir))) {
		uint32_t address;

		if (!address_name(entry->d_name, &address))
			continue;
		r = visit(ipam, address, entry->d_name, ctx, err);
		if (r != 0)
			break;
	}
	if (!entry && errno != 0)
		r = fail(ipam, err, errno, true, "read the state directory");
	closedir(dir);
	return r < 0 ? r : 0;
}

struct owner_search {
	const char *owner;
	bool found;
	uint32_t address;
	bool remove_all; /* release: every file naming the owner goes */
};

static int visit_search(const struct ipam *ipam, uint32_t address, const char *name, void *ctx,
			struct ck_error *err)
{
	struct owner_search *search = ctx;
	char holder[IPAM_OWNER_MAX + 1];
	int r = read_holder(ipam, name, holder);

	if (r == -ENOENT || r == 0)
		return 0;
	if (r < 0)
		return fail(ipam, err, -r, true, "read %s", name);
	if (strcmp(holder, search->owner) != 0)
		return 0;
	if (search->remove_all)
		return remove_address(ipam, address, err);
	/* Of two addresses (a crash between claim and link) the usable one wins. */
	if (!search->found || usable(ipam, address)) {
		search->found = true;
		search->address = address;
	}
	return usable(ipam, address) ? 1 : 0;
}

/* The address `owner` holds, by its link, or by a scan and a repaired link when the link is
 * stale, or missing and `scan_if_missing`. -ENOENT when it holds none. */
static int find_owner(const struct ipam *ipam, const char *owner, bool scan_if_missing,
		      uint32_t *address, struct ck_error *err)
{
	struct owner_search search = {.owner = owner};
	uint32_t linked;
	int r = read_link(ipam, owner, &linked);

	if (r == 0) {
		r = holds(ipam, linked, owner);
		if (r < 0)
			return fail(ipam, err, -r, true, "read the address of owner %s", owner);
		if (r == 1) {
			*address = linked;
			return 0;
		}
	} else if (r == -ENOENT && !scan_if_missing) {
		return -ENOENT;
	} else if (r != -ENOENT && r != -EINVAL) {
		return fail(ipam, err, -r, true, "read link of owner %s", owner);
	}
	r = for_each_address(ipam, visit_search, &search, err);
	if (r < 0)
		return r;
	if (!search.found) {
		r = remove_link(ipam, owner, err);
		return r < 0 ? r : -ENOENT;
	}
	r = write_link(ipam, owner, search.address, err);
	if (r < 0)
		return r;
	*address = search.address;
	return 0;
}

/* The last address handed out, kept in the lock file (already open for every operation), or 0
 * when unknown: it is only where the next search starts. */
static uint32_t read_last(int lock_fd)
{
	char text[LAST_TEXT_SIZE + 1];
	ssize_t n = pread(lock_fd, text, LAST_TEXT_SIZE, 0);
	uint32_t address;

	if (n <= 0)
		return 0;
	text[n] = '\0';
	text[strcspn(text, " \n")] = '\0';
	return address_name(text, &address) ? address : 0;
}

static void write_last(int lock_fd, uint32_t address)
{
	char name[IPV4_TEXT_MAX + 1], text[LAST_TEXT_SIZE + 1];

	/* Fixed width, so a shorter address overwrites a longer one without a truncate. */
	snprintf(text, sizeof(text), "%-*s\n", LAST_TEXT_SIZE - 1,
		 ipv4_address_format(address, name));
	/* A lost or torn write only moves where the next search starts: not worth an error. */
	ssize_t ignored = pwrite(lock_fd, text, LAST_TEXT_SIZE, 0);
	(void)ignored;
}

/* Claims the address file `name` for `owner`: 1 when it was free and is the owner's now, 0
 * when it is taken, or -errno. O_EXCL makes the claim atomic; a crash before the owner text is
 * written leaves an empty file, taken by nobody until ipam_release_unless collects it. */
static int claim(const struct ipam *ipam, const char *name, const char *owner, struct ck_error *err)
{
	_cleanup_close_ int fd =
	    openat(ipam->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(owner);

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0)
		return fail(ipam, err, errno, true, "claim %s", name);
	if (write(fd, owner, len) != (ssize_t)len) {
		int saved = errno ? errno : EIO;
		unlinkat(ipam->dir_fd, name, 0);
		return fail(ipam, err, saved, true, "claim %s: write its owner", name);
	}
	return 1;
}

static int claim_next(const struct ipam *ipam, int lock_fd, const char *owner, uint32_t *address,
		      struct ck_error *err)
{
	const uint32_t first = ipam->cidr.network + 2, final = ipv4_cidr_last(&ipam->cidr) - 1;
	const uint32_t count = final - first + 1;
	uint32_t last = read_last(lock_fd), offset, i;
	char name[IPV4_TEXT_MAX + 1];
	int r = 0;

	/* Round robin: start after the last address handed out, or at the first. */
	offset = last >= first && last <= final ? last - first + 1 : 0;
	for (i = 0; i < count && r == 0; i++) {
		*address = first + (offset + i) % count;
		r = claim(ipam, ipv4_address_format(*address, name), owner, err);
	}
	if (r < 0)
		return r;
	if (r == 0)
		return ck_error_set(err, ENOSPC,
				    "pod CIDR %s is exhausted: %u of %u addresses in use",
				    ipam->cidr_text, count, count);
	r = write_link(ipam, owner, *address, err);
	if (r < 0) {
		/* An address whose owner cannot be found again would be lost until collected. */
		unlinkat(ipam->dir_fd, name, 0);
		return r;
	}
	write_last(lock_fd, *address);
	return 0;
}

int ipam_open(const char *state_dir, const char *pod_cidr, struct ipam **out, struct ck_error *err)
{
	_cleanup_free_ struct ipam *ipam = calloc(1, sizeof(*ipam));
	int r;

	if (!ipam)
		return ck_error_set(err, ENOMEM, "ipam %s: out of memory", pod_cidr);
	ipam->dir_fd = ipam->owners_fd = -1;
	r = ipv4_cidr_parse(pod_cidr, &ipam->cidr, err);
	if (r < 0) {
		if (err)
			ck_error_prefix(err, "pod CIDR");
		return r;
	}
	ipv4_cidr_format(&ipam->cidr, ipam->cidr_text);
	if (ipam->cidr.prefix > 30)
		return ck_error_set(err, EINVAL,
				    "pod CIDR %s is too small: it needs a network, a gateway, a "
				    "broadcast and a pod address",
				    pod_cidr);
	r = fs_mkdir_p(state_dir, 0700, err);
	if (r < 0) {
		if (err)
			ck_error_prefix(err, "ipam %s: state directory", ipam->cidr_text);
		return r;
	}
	ipam->dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ipam->dir_fd < 0)
		return fail(ipam, err, errno, true, "open %s", state_dir);
	if (mkdirat(ipam->dir_fd, OWNERS_NAME, 0700) < 0 && errno != EEXIST) {
		r = fail(ipam, err, errno, true, "create %s/%s", state_dir, OWNERS_NAME);
		close(ipam->dir_fd);
		return r;
	}
	ipam->owners_fd =
	    openat(ipam->dir_fd, OWNERS_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (ipam->owners_fd < 0) {
		r = fail(ipam, err, errno, true, "open %s/%s", state_dir, OWNERS_NAME);
		close(ipam->dir_fd);
		return r;
	}
	*out = steal_ptr(&ipam);
	return 0;
}

void ipam_close(struct ipam *ipam)
{
	if (!ipam)
		return;
	close(ipam->owners_fd);
	close(ipam->dir_fd);
	free(ipam);
}

int ipam_allocate(struct ipam *ipam, const char *owner, uint32_t *address, struct ck_error *err)
{
	_cleanup_close_ int lock = -1;
	uint32_t held;
	int r = check_owner(ipam, owner, err);

	if (r == 0)
		r = lock_state(ipam, &lock, err);
	if (r < 0)
		return r;
	r = find_owner(ipam, owner, false, &held, err);
	if (r == 0 && usable(ipam, held)) {
		*address = held;
		return 0;
	}
	if (r == 0) {
		/* Held in an earlier CIDR (or at a reserved address): the pod cannot use it
		 * now, so the owner moves to an address of this one. */
		r = remove_address(ipam, held, err);
		if (r == 0)
			r = remove_link(ipam, owner, err);
		if (r < 0)
			return r;
	} else if (r != -ENOENT) {
		return r;
	}
	return claim_next(ipam, lock, owner, address, err);
}

int ipam_lookup(struct ipam *ipam, const char *owner, uint32_t *address, struct ck_error *err)
{
	_cleanup_close_ int lock = -1;
	int r = check_owner(ipam, owner, err);

	if (r == 0)
		r = lock_state(ipam, &lock, err);
	if (r < 0)
		return r;
	r = find_owner(ipam, owner, false, address, err);
	if (r == -ENOENT)
		return fail(ipam, err, ENOENT, false, "owner %s holds no address", owner);
	return r;
}

int ipam_release(struct ipam *ipam, const char *owner, struct ck_error *err)
{
	_cleanup_close_ int lock = -1;
	struct owner_search search = {.owner = owner, .remove_all = true};
	uint32_t linked;
	int r = check_owner(ipam, owner, err);

	if (r == 0)
		r = lock_state(ipam, &lock, err);
	if (r < 0)
		return r;
	r = read_link(ipam, owner, &linked);
	if (r == 0) {
		r = holds(ipam, linked, owner);
		if (r < 0)
			return fail(ipam, err, -r, true, "read the address of owner %s", owner);
		if (r == 1) {
			/* The address first: a crash in between leaves a dangling link, which
			 * the next lookup notices, never an address without its link. */
			r = remove_address(ipam, linked, err);
			return r < 0 ? r : remove_link(ipam, owner, err);
		}
	} else if (r != -ENOENT && r != -EINVAL) {
		return fail(ipam, err, -r, true, "read link of owner %s", owner);
	}
	/* No link, or a stale one: whatever the owner holds is only found by reading all. */
	r = for_each_address(ipam, visit_search, &search, err);
	return r < 0 ? r : remove_link(ipam, owner, err);
}

struct collection {
	bool (*keep)(const char *owner, void *ctx);
	void *ctx;
	int released;
};

static int visit_collect(const struct ipam *ipam, uint32_t address, const char *name, void *ctx,
			 struct ck_error *err)
{
	struct collection *collection = ctx;
	char owner[IPAM_OWNER_MAX + 1];
	uint32_t linked;
	int r;

	/* Files of an earlier CIDR are not this collection's business. */
	if (!usable(ipam, address))
		return 0;
	r = read_holder(ipam, name, owner);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return fail(ipam, err, -r, true, "read %s", name);
	if (r == 0 || !collection->keep(owner, collection->ctx)) {
		bool named = r == 1;

		r = remove_address(ipam, address, err);
		if (r < 0)
			return r;
		collection->released++;
		/* The owner's link goes with it unless it leads elsewhere. */
		if (named && read_link(ipam, owner, &linked) == 0 && linked == address)
			return remove_link(ipam, owner, err);
		return 0;
	}
	r = read_link(ipam, owner, &linked);
	if (r == 0 && linked == address)
		return 0;
	if (r == 0) {
		r = holds(ipam, linked, owner);
		if (r < 0)
			return fail(ipam, err, -r, true, "read the address of owner %s", owner);
		if (r == 1) {
			/* The owner holds two: one left by a crash between a claim and its link.
			 * The linked one is the one handed out, unless it is not usable (an
			 * earlier CIDR's), then this one replaces it. */
			bool linked_usable = usable(ipam, linked);

			r = remove_address(ipam, linked_usable ? address : linked, err);
			if (r < 0)
				return r;
			collection->released++;
			if (linked_usable)
				return 0;
		}
	} else if (r != -ENOENT && r != -EINVAL) {
		return fail(ipam, err, -r, true, "read link of owner %s", owner);
	}
	return write_link(ipam, owner, address, err);
}

/* Removes the owners/ entries that lead to no address of their owner. */
static int collect_links(const struct ipam *ipam, struct ck_error *err)
{
	int fd = openat(ipam->owners_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *entry;
	DIR *dir;
	int r = 0;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		r = fail(ipam, err, errno, true, "read %s", OWNERS_NAME);
		if (fd >= 0)
			close(fd);
		return r;
	}
	while ((errno = 0, entry = readdir(dir))) {
		const char *owner = entry->d_name;
		uint32_t linked;
		int held = 0;

		if (strcmp(owner, ".") == 0 || strcmp(owner, "..") == 0)
			continue;
		r = read_link(ipam, owner, &linked);
		if (r == -ENOENT)
			continue;
		/* Not a link to an address, or not named after an owner: stale all the same. */
		if (r == 0 && owner_valid(owner))
			held = holds(ipam, linked, owner);
		else if (r != -EINVAL && r < 0)
			held = r;
		if (held < 0) {
			r = fail(ipam, err, -held, true, "read link of owner %s", owner);
			break;
		}
		r = 0;
		if (held == 0 && unlinkat(ipam->owners_fd, owner, 0) < 0 && errno != ENOENT &&
		    errno != EISDIR) {
			r = fail(ipam, err, errno, true, "remove link of owner %s", owner);
			break;
		}
	}
	if (r == 0 && !entry && errno != 0)
		r = fail(ipam, err, errno, true, "read %s", OWNERS_NAME);
	closedir(dir);
	return r;
}

int ipam_release_unless(struct ipam *ipam, bool (*keep)(const char *owner, void *ctx), void *ctx,
			struct ck_error *err)
{
	_cleanup_close_ int lock = -1;
	struct collection collection = {.keep = keep, .ctx = ctx};
	int r = lock_state(ipam, &lock, err);

	if (r < 0)
		return r;
	/* Temporary files of an operation that crashed; none is in use under the lock. */
	unlinkat(ipam->dir_fd, LINK_TMP, 0);
	r = for_each_address(ipam, visit_collect, &collection, err);
	if (r == 0)
		r = collect_links(ipam, err);
	return r < 0 ? r : collection.released;
}

const struct ipv4_cidr *ipam_cidr(const struct ipam *ipam)
{
	return &ipam->cidr;
}

uint32_t ipam_gateway(const struct ipam *ipam)
{
	return ipam->cidr.network + 1;
}
