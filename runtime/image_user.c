/* The container's user from the image's /etc/passwd and /etc/group, by the rules of runc's user
 * lookup (github.com/moby/sys/user GetExecUser) and containerd's oci.WithUser, WithUserID and
 * WithAdditionalGIDs, read straight from the unpacked layers without mounting anything. */
#include "runtime/image_user.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/strconv.h"
#include "lib/path_in_root.h"

/* runc's bound for ids given as numbers ("for 32-bit systems compatibility"), with its words. */
#define ID_NUMBER_MAX 2147483647
#define ID_RANGE_MESSAGE "uids and gids must be in range 0-2147483647"
/* The kernel's limit for setgroups(): more could never be applied. */
#define GROUPS_MAX 65536
/* Far beyond any real /etc/passwd or /etc/group; bounds what a hostile image makes us read. */
#define ID_FILE_MAX ((size_t)4 << 20)

#define OPAQUE_XATTR "trusted.overlay.opaque"

/* --- passwd and group text --------------------------------------------------------------- */

/* A piece of a longer string, not NUL-terminated. */
struct text {
	const char *data;
	size_t len;
};

static bool text_equals(struct text t, const char *s)
{
	return strncmp(t.data, s, t.len) == 0 && s[t.len] == '\0';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* The line at *pos without its newline and the blanks around it (runc trims them too);
 * false at the end of the text. */
static bool next_line(const char *text, size_t *pos, struct text *line)
{
	const char *start = text + *pos;
	if (!*start)
		return false;
	const char *newline = strchrnul(start, '\n');
	*pos += (size_t)(newline - start) + (*newline ? 1 : 0);
	const char *end = newline;
	while (start < end && is_blank(*start))
		start++;
	while (end > start && is_blank(end[-1]))
		end--;
	*line = (struct text){start, (size_t)(end - start)};
	return true;
}

/* Splits at ':' into at most `max` fields (the rest of the line is ignored, as runc ignores
 * fields it does not use) and returns how many there are. */
static size_t split_fields(struct text line, struct text *fields, size_t max)
{
	size_t count = 0;
	const char *at = line.data;
	const char *end = line.data + line.len;
	while (count < max) {
		const char *colon = memchr(at, ':', (size_t)(end - at));
		const char *stop = colon ? colon : end;
		fields[count++] = (struct text){at, (size_t)(stop - at)};
		if (!colon)
			break;
		at = colon + 1;
	}
	return count;
}

/* An id field: decimal digits only, fitting uid_t without being (uid_t)-1, which the kernel
 * reads as "unchanged". */
static bool parse_id_field(struct text field, uint32_t *out)
{
	if (field.len == 0 || field.len > 10)
		return false;
	uint64_t value = 0;
	for (size_t i = 0; i < field.len; i++) {
		if (field.data[i] < '0' || field.data[i] > '9')
			return false;
		value = value * 10 + (uint64_t)(field.data[i] - '0');
	}
	if (value >= UINT32_MAX)
		return false;
	*out = (uint32_t)value;
	return true;
}

struct passwd_entry {
	struct text name;
	uint32_t uid;
	uint32_t gid;
	struct text home;
};

struct group_entry {
	struct text name;
	uint32_t gid;
	struct text members; /* comma-separated user names */
};

/* name:password:uid:gid:gecos:home:shell. A line without a name or with ids that are not
 * numbers is skipped: runc would read such ids as 0 and make a broken line a root entry. */
static bool parse_passwd_line(struct text line, struct passwd_entry *entry)
{
	struct text fields[6];
	if (line.len == 0 || line.data[0] == '#')
		return false;
	size_t count = split_fields(line, fields, 6);
	if (count < 4 || fields[0].len == 0 || !parse_id_field(fields[2], &entry->uid) ||
	    !parse_id_field(fields[3], &entry->gid))
		return false;
	entry->name = fields[0];
	entry->home = count > 5 ? fields[5] : (struct text){"", 0};
	return true;
}

/* name:password:gid:member,member,... */
static bool parse_group_line(struct text line, struct group_entry *entry)
{
	struct text fields[4];
	if (line.len == 0 || line.data[0] == '#')
		return false;
	size_t count = split_fields(line, fields, 4);
	if (count < 3 || fields[0].len == 0 || !parse_id_field(fields[2], &entry->gid))
		return false;
	entry->name = fields[0];
	entry->members = count > 3 ? fields[3] : (struct text){"", 0};
	return true;
}

/* A user or group to look up: by name, or by id when `name` is NULL. */
struct id_key {
	const char *name;
	int64_t id;
};

static bool key_matches(const struct id_key *key, struct text name, uint32_t id)
{
	return key->name ? text_equals(name, key->name) : key->id == (int64_t)id;
}

/* The first entry that matches wins, even when more do, as in runc. */
static bool find_passwd(const char *passwd, const struct id_key *key, struct passwd_entry *found)
{
	struct text line;
	size_t pos = 0;
	while (next_line(passwd, &pos, &line)) {
		if (parse_passwd_line(line, found) && key_matches(key, found->name, found->uid))
			return true;
	}
	return false;
}

static bool find_group(const char *group, const char *name, struct group_entry *found)
{
	struct text line;
	size_t pos = 0;
	while (next_line(group, &pos, &line)) {
		if (parse_group_line(line, found) && text_equals(found->name, name))
			return true;
	}
	return false;
}

static bool lists_member(struct text members, const char *user)
{
	const char *at = members.data;
	const char *end = members.data + members.len;
	for (;;) {
		const char *comma = memchr(at, ',', (size_t)(end - at));
		const char *stop = comma ? comma : end;
		if (text_equals((struct text){at, (size_t)(stop - at)}, user))
			return true;
		if (!comma)
			return false;
		at = comma + 1;
	}
}

/* --- the request ------------------------------------------------------------------------- */

struct gid_list {
	gid_t *items;
	size_t len;
	size_t cap;
};

static void gid_list_add(struct gid_list *list, gid_t gid)
{
	if (list->len == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 16;
		gid_t *grown = realloc(list->items, cap * sizeof(*grown));
		if (!grown)
			abort();
		list->items = grown;
		list->cap = cap;
	}
	list->items[list->len++] = gid;
}

static void gid_list_free(struct gid_list *list)
{
	free(list->items);
	list->items = NULL;
}

static int compare_gids(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return (x > y) - (x < y);
}

/* The user and group parts of the image's USER, copied; an empty part is "not given". */
struct user_spec {
	char *user;
	char *group;
};

static void user_spec_clear(struct user_spec *spec)
{
	free(spec->user);
	free(spec->group);
}

static char *copy_text(const char *s, size_t len)
{
	char *copy = strndup(s, len);
	if (!copy)
		abort();
	return copy;
}

static int split_user_spec(const char *image_user, struct user_spec *spec, struct ck_error *err)
{
	const char *colon = strchr(image_user, ':');
	if (colon && strchr(colon + 1, ':'))
		return ck_error_set(err, EINVAL, "invalid USER value %s", image_user);
	size_t user_len = colon ? (size_t)(colon - image_user) : strlen(image_user);
	spec->user = copy_text(image_user, user_len);
	spec->group = copy_text(colon ? colon + 1 : "", colon ? strlen(colon + 1) : 0);
	return 0;
}

/* A USER part that is a number is always an id, never a name, as in runc: "1000" is uid 1000
 * even when a user is called "1000". Go's Atoi rules (an optional sign, nothing else). */
static bool user_part_number(const char *part, int64_t *out)
{
	return strconv_parse_int(part, INT64_MIN, INT64_MAX, out, NULL) == 0;
}

static int check_id_range(int64_t id, const char *what, struct ck_error *err)
{
	if (id < 0 || id > ID_NUMBER_MAX)
		return ck_error_set(err, EINVAL, "%s %lld: " ID_RANGE_MESSAGE, what, (long long)id);
	return 0;
}

/* Where the user resolution stands between the steps. */
struct resolved_user {
	uint32_t uid;
	uint32_t gid;
	bool has_entry;            /* a passwd entry matched */
	struct passwd_entry entry; /* points into the passwd text */
};

/* runAsUser, else the USER's user part, else root; by name it must be in passwd, by id it may
 * be missing there (gid 0, home "/"). */
static int resolve_uid(const char *passwd, const struct user_request *req, const char *user_part,
		       struct resolved_user *out, struct ck_error *err)
{
	struct id_key key = {.name = NULL, .id = 0};
	if (req->run_as_user >= 0) {
		int r = check_id_range(req->run_as_user, "runAsUser", err);
		if (r < 0)
			return r;
		key.id = req->run_as_user;
	} else if (*user_part && !user_part_number(user_part, &key.id)) {
		key.name = user_part;
	}
	out->has_entry = find_passwd(passwd, &key, &out->entry);
	if (out->has_entry) {
		out->uid = out->entry.uid;
		out->gid = out->entry.gid;
		return 0;
	}
	if (key.name)
		return ck_error_set(err, ENOENT,
				    "unable to find user %s: no matching entries in passwd file",
				    key.name);
	int r = check_id_range(key.id, "user", err);
	if (r < 0)
		return r;
	out->uid = (uint32_t)key.id;
	out->gid = 0;
	return 0;
}

/* runAsGroup, else the USER's group part, else what resolve_uid found. A group name must be
 * in the group file; a gid need not be. */
static int resolve_gid(const char *group, const struct user_request *req, const char *group_part,
		       struct resolved_user *user, struct ck_error *err)
{
	if (req->run_as_group >= 0) {
		int r = check_id_range(req->run_as_group, "runAsGroup", err);
		if (r < 0)
			return r;
		user->gid = (uint32_t)req->run_as_group;
		return 0;
	}
	if (!*group_part)
		return 0;
	int64_t gid;
	if (user_part_number(group_part, &gid)) {
		int r = check_id_range(gid, "group", err);
		if (r < 0)
			return r;
		user->gid = (uint32_t)gid;
		return 0;
	}
	struct group_entry entry;
	if (!find_group(group, group_part, &entry))
		return ck_error_set(err, ENOENT,
				    "unable to find group %s: no matching entries in group file",
				    group_part);
	user->gid = entry.gid;
	return 0;
}

/* The groups in the group file that list the user's name. Like containerd, a group named after
 * the user is left out (it is the user's own group, given as the primary one if at all), and a
 * uid without a passwd entry has no name to be listed under. */
static void add_member_groups(const char *group, const struct resolved_user *user,
			      struct gid_list *gids)
{
	if (!user->has_entry)
		return;
	_cleanup_free_ char *name = copy_text(user->entry.name.data, user->entry.name.len);
	struct group_entry entry;
	struct text line;
	size_t pos = 0;
	while (next_line(group, &pos, &line)) {
		if (parse_group_line(line, &entry) && !text_equals(entry.name, name) &&
		    lists_member(entry.members, name))
			gid_list_add(gids, entry.gid);
	}
}

/* The primary group, the member groups and supplementalGroups, sorted and without duplicates,
 * as containerd hands them to the runtime (ensureAdditionalGids and mergeGids). */
static int collect_groups(const char *group, const struct user_request *req,
			  const struct resolved_user *user, struct gid_list *gids,
			  struct ck_error *err)
{
	gid_list_add(gids, user->gid);
	add_member_groups(group, user, gids);
	for (size_t i = 0; i < req->supplemental_count; i++) {
		int r = check_id_range(req->supplemental_groups[i], "supplementalGroups", err);
		if (r < 0)
			return r;
		gid_list_add(gids, (gid_t)req->supplemental_groups[i]);
	}
	qsort(gids->items, gids->len, sizeof(gid_t), compare_gids);
	size_t unique = 0;
	for (size_t i = 0; i < gids->len; i++) {
		if (unique == 0 || gids->items[unique - 1] != gids->items[i])
			gids->items[unique++] = gids->items[i];
	}
	gids->len = unique;
	if (gids->len > GROUPS_MAX)
		return ck_error_set(err, EINVAL, "%zu groups: more than the kernel's %d", gids->len,
				    GROUPS_MAX);
	return 0;
}

int user_resolve_from_text(const char *passwd, const char *group, const struct user_request *req,
			   struct process_user *out, struct ck_error *err)
{
	_cleanup_(user_spec_clear) struct user_spec spec = {0};
	int r = split_user_spec(req->image_user ? req->image_user : "", &spec, err);
	if (r < 0)
		return r;
	struct resolved_user user = {0};
	r = resolve_uid(passwd, req, spec.user, &user, err);
	if (r < 0)
		return r;
	/* With runAsUser the image's USER does not count at all, its group part included (as
	 * containerd resolves a uid). */
	r = resolve_gid(group, req, req->run_as_user >= 0 ? "" : spec.group, &user, err);
	if (r < 0)
		return r;
	_cleanup_(gid_list_free) struct gid_list gids = {0};
	r = collect_groups(group, req, &user, &gids, err);
	if (r < 0)
		return r;
	/* runc's default home; an entry with an empty home field gets it too, so that HOME is
	 * never set to "". */
	bool has_home = user.has_entry && user.entry.home.len > 0;
	*out = (struct process_user){
	    .uid = user.uid,
	    .gid = user.gid,
	    .groups = steal_ptr(&gids.items),
	    .group_count = gids.len,
	    .home =
		has_home ? copy_text(user.entry.home.data, user.entry.home.len) : copy_text("/", 1),
	};
	return 0;
}

void process_user_clear(struct process_user *user)
{
	free(user->groups);
	free(user->home);
	*user = (struct process_user){0};
}

/* --- files in layers --------------------------------------------------------------------- */

/* How read_regular finds its file. */
enum lookup {
	AS_CONTAINER, /* a path in a tree, as the container would see it (path_open_in_root) */
	ONE_NAME,     /* one name in a directory already resolved, never through a symlink */
};

static int open_by(int dirfd, const char *name, int flags, enum lookup lookup)
{
	return lookup == AS_CONTAINER ? path_open_in_root(dirfd, name, flags)
				      : path_open_child(dirfd, name, flags, 0);
}

static int read_fd(int fd, const char *path, size_t max, char **out, size_t *len,
		   struct ck_error *err)
{
	_cleanup_buf_ struct buf data = {0};
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_error_errno(err, errno, "read %s", path);
		if (n == 0)
			break;
		if ((size_t)n > max - data.len)
			return ck_error_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
		buf_append(&data, chunk, (size_t)n);
	}
	*len = data.len;
	*out = buf_steal(&data);
	return 0;
}

/* Reads `name` under `dirfd` if it is a regular file. It is looked at through an O_PATH
 * descriptor first, because opening a fifo would block and opening a device could do anything;
 * the second open must find the same file. */
static int read_regular(int dirfd, const char *name, enum lookup lookup, const char *path,
			size_t max, char **out, size_t *len, struct ck_error *err)
{
	_cleanup_close_ int probe = open_by(dirfd, name, O_PATH, lookup);
	if (probe == -ENOENT)
		return ck_error_set(err, ENOENT, "%s: not in the image", path);
	if (probe < 0)
		return ck_error_errno(err, -probe, "open %s", path);
	struct stat first, second;
	if (fstat(probe, &first) < 0)
		return ck_error_errno(err, errno, "stat %s", path);
	if (!S_ISREG(first.st_mode))
		return ck_error_set(err, EINVAL, "%s: not a regular file", path);
	if ((uint64_t)first.st_size > max)
		return ck_error_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
	_cleanup_close_ int fd = open_by(dirfd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, lookup);
	if (fd < 0)
		return ck_error_errno(err, -fd, "open %s", path);
	if (fstat(fd, &second) < 0)
		return ck_error_errno(err, errno, "stat %s", path);
	if (second.st_dev != first.st_dev || second.st_ino != first.st_ino)
		return ck_error_set(err, EAGAIN, "%s: changed while being opened", path);
	return read_fd(fd, path, max, out, len, err);
}

/* The components of an absolute path, in a copy whose '/' became NULs. ".." is refused: the
 * callers name fixed files, and a walk through ".." across layers has no sound meaning. */
struct path_parts {
	char *storage;
	char **names;
	size_t count;
	char *relative; /* "etc/passwd", for lookups from a tree's root */
};

static void path_parts_clear(struct path_parts *parts)
{
	free(parts->storage);
	free(parts->names);
	free(parts->relative);
}

static int split_path(const char *path, struct path_parts *parts, struct ck_error *err)
{
	if (path[0] != '/')
		return ck_error_set(err, EINVAL, "%s: not an absolute path", path);
	parts->storage = copy_text(path, strlen(path));
	parts->names = calloc(strlen(path) / 2 + 1, sizeof(char *));
	if (!parts->names)
		abort();
	_cleanup_buf_ struct buf relative = {0};
	char *save = NULL;
	for (char *name = strtok_r(parts->storage, "/", &save); name;
	     name = strtok_r(NULL, "/", &save)) {
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0)
			return ck_error_set(err, EINVAL, "%s: \"..\" in the path", path);
		buf_printf(&relative, "%s%s", parts->count ? "/" : "", name);
		parts->names[parts->count++] = name;
	}
	parts->relative = buf_steal(&relative);
	if (parts->count == 0)
		return ck_error_set(err, EINVAL, "%s: not a regular file", path);
	return 0;
}

/* What one layer says about a path. */
enum layer_answer {
	LAYER_HAS_FILE, /* read: *out is set */
	LAYER_LACKS,    /* not there: ask the layer below */
	LAYER_HIDES,    /* a whiteout, a non-directory on the way, or an opaque directory: the
			 * layers below do not count */
};

static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* trusted.overlay.opaque = "y". An O_PATH descriptor cannot read xattrs, so the directory is
 * opened for that; one that cannot be opened, or has no such xattr, is not opaque. */
static bool is_opaque(int dir_path_fd)
{
	_cleanup_close_ int fd = openat(dir_path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char value[2];
	return fd >= 0 && fgetxattr(fd, OPAQUE_XATTR, value, sizeof(value)) == 1 && value[0] == 'y';
}

/* Walks `parts` down one layer a name at a time, as overlayfs merges them. A symlink on the way
 * (or at the end) is followed inside this layer only: overlayfs would resolve it over the
 * merged tree, but images hardly ever link /etc or its account files elsewhere, and a link
 * that leads nowhere in this layer reads as "not in the image", never as a host file. */
static int layer_lookup(int layer_fd, const struct path_parts *parts, const char *path, size_t max,
			char **out, size_t *len, enum layer_answer *answer, struct ck_error *err)
{
	_cleanup_close_ int dir = -1;
	bool opaque_above = false;
	for (size_t i = 0; i < parts->count; i++) {
		int parent = dir >= 0 ? dir : layer_fd;
		bool last = i + 1 == parts->count;
		_cleanup_close_ int node = path_open_child(parent, parts->names[i], O_PATH, 0);
		if (node == -ENOENT) {
			*answer = opaque_above ? LAYER_HIDES : LAYER_LACKS;
			return 0;
		}
		if (node < 0)
			return ck_error_errno(err, -node, "open %s", path);
		struct stat st;
		if (fstat(node, &st) < 0)
			return ck_error_errno(err, errno, "stat %s", path);
		if (S_ISLNK(st.st_mode)) {
			*answer = LAYER_HIDES;
			int r = read_regular(layer_fd, parts->relative, AS_CONTAINER, path, max,
					     out, len, err);
			if (r == 0)
				*answer = LAYER_HAS_FILE;
			return r == -ENOENT ? 0 : r;
		}
		if (last) {
			if (is_whiteout(&st)) {
				*answer = LAYER_HIDES;
				return 0;
			}
			int r = read_regular(parent, parts->names[i], ONE_NAME, path, max, out, len,
					     err);
			if (r == 0)
				*answer = LAYER_HAS_FILE;
			return r;
		}
		if (!S_ISDIR(st.st_mode)) {
			*answer = LAYER_HIDES;
			return 0;
		}
		opaque_above = opaque_above || is_opaque(node);
		if (dir >= 0)
			close(dir);
		dir = steal_fd(&node);
	}
	return 0; /* not reached: split_path refuses paths without components */
}

static int read_from_layers(const char *const *layers, size_t layer_count,
			    const struct path_parts *parts, const char *path, size_t max,
			    char **out, size_t *len, struct ck_error *err)
{
	for (size_t i = layer_count; i-- > 0;) {
		_cleanup_close_ int layer_fd = open(layers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (layer_fd < 0)
			return ck_error_errno(err, errno, "open layer %s", layers[i]);
		enum layer_answer answer = LAYER_LACKS;
		int r = layer_lookup(layer_fd, parts, path, max, out, len, &answer, err);
		if (r < 0 && r != -ENOENT) {
			ck_error_prefix(err, "layer %s", layers[i]);
			return r;
		}
		if (r < 0 || answer == LAYER_HIDES)
			break;
		if (answer == LAYER_HAS_FILE)
			return 0;
	}
	return ck_error_set(err, ENOENT, "%s: not in the image", path);
}

int image_read_file(const char *const *layers, size_t layer_count, const char *rootfs,
		    const char *path, size_t max, char **out, size_t *len, struct ck_error *err)
{
	_cleanup_(path_parts_clear) struct path_parts parts = {0};
	int r = split_path(path, &parts, err);
	if (r < 0)
		return r;
	if (layer_count > 0)
		return read_from_layers(layers, layer_count, &parts, path, max, out, len, err);
	if (!rootfs)
		return ck_error_set(err, EINVAL, "%s: neither layers nor a root filesystem", path);
	_cleanup_close_ int root_fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		return ck_error_errno(err, errno, "open root filesystem %s", rootfs);
	return read_regular(root_fd, parts.relative, AS_CONTAINER, path, max, out, len, err);
}

/* A missing file is an empty one: images without /etc/passwd still run numeric users. */
static int read_id_file(const char *const *layers, size_t layer_count, const char *rootfs,
			const char *path, char **out, struct ck_error *err)
{
	size_t len;
	int r = image_read_file(layers, layer_count, rootfs, path, ID_FILE_MAX, out, &len, err);
	if (r == -ENOENT) {
		ck_error_clear(err);
		*out = copy_text("", 0);
		return 0;
	}
	return r;
}

int user_resolve(const char *const *layers, size_t layer_count, const char *rootfs,
		 const struct user_request *req, struct process_user *out, struct ck_error *err)
{
	_cleanup_free_ char *passwd = NULL;
	_cleanup_free_ char *group = NULL;
	int r = read_id_file(layers, layer_count, rootfs, "/etc/passwd", &passwd, err);
	if (r < 0)
		return r;
	r = read_id_file(layers, layer_count, rootfs, "/etc/group", &group, err);
	if (r < 0)
		return r;
	return user_resolve_from_text(passwd, group, req, out, err);
}
