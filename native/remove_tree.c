/*
 * Recursive delete for build folders (src/devices/tree-remover.ts) that
 * never crosses a symlink, whatever changes under it while it runs.
 *
 * fs.rm works by path: a folder swapped for a symlink after the delete
 * began was followed, and the link's target emptied. Here every step is
 * relative to an open folder:
 *
 * - the root's path is resolved one component at a time from "/" with
 *   O_NOFOLLOW (the delete guard resolved its parent chain; a link there now
 *   is a swap, and is refused);
 * - a subfolder is entered with openat(parent, name, O_DIRECTORY |
 *   O_NOFOLLOW), never by full path; a name that became a link or a file
 *   fails that open and is unlinked as what it is, never followed;
 * - files and links are removed with unlinkat, emptied folders with
 *   unlinkat(AT_REMOVEDIR);
 * - a folder on another device (st_dev) or another mount (statx mount id,
 *   which also catches a bind mount of the same file system) is left alone
 *   and reported, and so is every folder above it (they cannot be emptied).
 *
 * Memory does not grow with the number of entries: folders are read as a
 * stream (readdir), and the only state is a stack of frames, one per level
 * of depth. At most RT_MAX_OPEN folders are open at once; deeper than that,
 * the shallowest open frames are closed and later reopened by name from the
 * nearest open ancestor (O_NOFOLLOW, and the device and inode must match
 * the ones recorded when it was first entered). A reopened folder is read
 * from the start; what remains in it is what could not be removed (its
 * names are kept in the frame, so they are skipped) and what is new.
 *
 * Synchronous by design: it runs inside a worker thread (tree-remover.ts),
 * never on the server's event loop. An abort flag is checked before each
 * entry, as the walker's is before each folder.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "remove_tree.h"

#ifndef O_PATH
#define O_PATH O_RDONLY
#endif

/* Folders held open at once (the root's parent and the root are extra). */
#define RT_MAX_OPEN 48
/* Names left behind in one folder before we stop trying to empty it. */
#define RT_MAX_KEPT_PER_DIR 65536

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

typedef struct {
  char *name; /* name in the parent folder; NULL for the root */
  DIR *dir;   /* NULL while evicted */
  dev_t dev;
  ino_t ino;
  char **kept; /* names in this folder that were left behind */
  size_t kept_len, kept_cap;
  int reopened;  /* read again from the start: skip `kept` names */
  int abandoned; /* stop reading it; it stays */
} frame_t;

typedef struct {
  rt_report_t *report;
  const char *root;
  frame_t *frames;
  size_t depth, cap;
  size_t open_count;
  dev_t root_dev;
  uint64_t root_mnt_id;
  int have_mnt_id;
  int32_t *control;
  size_t control_len;
  uint64_t dirs_entered;
} walk_t;

static int load_control(const walk_t *w, size_t slot) {
  if (!w->control || w->control_len <= slot) return 0;
  return __atomic_load_n(&w->control[slot], __ATOMIC_SEQ_CST);
}

static int aborted(const walk_t *w) {
  return load_control(w, RT_CONTROL_ABORT) != 0;
}

/* The path of `name` in the folder at depth `level` (for reports only). */
static char *path_of(const walk_t *w, size_t level, const char *name) {
  size_t len = strlen(w->root);
  for (size_t i = 1; i <= level && i < w->depth; i++) len += 1 + strlen(w->frames[i].name);
  if (name) len += 1 + strlen(name);
  char *out = malloc(len + 1);
  if (!out) return NULL;
  size_t at = strlen(w->root);
  memcpy(out, w->root, at);
  for (size_t i = 1; i <= level && i < w->depth; i++) {
    size_t n = strlen(w->frames[i].name);
    out[at++] = '/';
    memcpy(out + at, w->frames[i].name, n);
    at += n;
  }
  if (name) {
    size_t n = strlen(name);
    out[at++] = '/';
    memcpy(out + at, name, n);
    at += n;
  }
  out[at] = '\0';
  return out;
}

static void record_error_path(rt_report_t *report, char *path, int err) {
  report->error_count++;
  if (report->error_samples >= RT_MAX_ERROR_SAMPLES || !path) {
    free(path);
    return;
  }
  report->errors[report->error_samples].path = path;
  report->errors[report->error_samples].err = err;
  report->error_samples++;
}

static void record_error(walk_t *w, size_t level, const char *name, int err) {
  char *path = w->report->error_samples < RT_MAX_ERROR_SAMPLES ? path_of(w, level, name) : NULL;
  record_error_path(w->report, path, err);
}

static void record_mount(walk_t *w, size_t level, const char *name) {
  w->report->mount_count++;
  if (w->report->mount_samples >= RT_MAX_MOUNT_SAMPLES) return;
  char *path = path_of(w, level, name);
  if (path) w->report->mounts[w->report->mount_samples++] = path;
}

/* Remembers that `name` stays in folder `f`; past RT_MAX_KEPT_PER_DIR the folder is given up on. */
static void keep(walk_t *w, frame_t *f, const char *name) {
  if (f->abandoned) return;
  if (f->kept_len >= RT_MAX_KEPT_PER_DIR) {
    f->abandoned = 1;
    return;
  }
  if (f->kept_len == f->kept_cap) {
    size_t cap = f->kept_cap ? f->kept_cap * 2 : 8;
    char **kept = realloc(f->kept, cap * sizeof(char *));
    if (!kept) {
      w->report->out_of_memory = 1;
      f->abandoned = 1;
      return;
    }
    f->kept = kept;
    f->kept_cap = cap;
  }
  char *copy = strdup(name);
  if (!copy) {
    w->report->out_of_memory = 1;
    f->abandoned = 1;
    return;
  }
  f->kept[f->kept_len++] = copy;
}

static int is_kept(const frame_t *f, const char *name) {
  for (size_t i = 0; i < f->kept_len; i++) {
    if (strcmp(f->kept[i], name) == 0) return 1;
  }
  return 0;
}

static void free_frame(frame_t *f) {
  if (f->dir) closedir(f->dir);
  f->dir = NULL;
  for (size_t i = 0; i < f->kept_len; i++) free(f->kept[i]);
  free(f->kept);
  free(f->name);
  memset(f, 0, sizeof *f);
}

/* The mount id of an open fd; 0 with *ok = 0 when the kernel cannot say. */
static uint64_t mount_id_of(int fd, int *ok) {
#if defined(STATX_MNT_ID)
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID)) {
    *ok = 1;
    return stx.stx_mnt_id;
  }
#else
  (void)fd;
#endif
  *ok = 0;
  return 0;
}

/* Whether the open folder `fd` is on the root's file system and mount. */
static int same_mount(const walk_t *w, int fd, const struct stat *st) {
  if (st->st_dev != w->root_dev) return 0;
  if (!w->have_mnt_id) return 1;
  int ok = 0;
  uint64_t id = mount_id_of(fd, &ok);
  return !ok || id == w->root_mnt_id;
}

/* Closes the shallowest open folder below the root while too many are open. */
static void evict(walk_t *w) {
  for (size_t i = 1; i + 1 < w->depth && w->open_count > RT_MAX_OPEN; i++) {
    if (!w->frames[i].dir) continue;
    closedir(w->frames[i].dir);
    w->frames[i].dir = NULL;
    w->open_count--;
  }
}

/*
 * Reopens every evicted frame down to `level`, by name from the nearest open
 * ancestor; each must still be the folder first entered. On failure the
 * frames from the one that failed down are marked abandoned and 0 returned.
 */
static int reopen(walk_t *w, size_t level) {
  size_t start = level;
  while (start > 0 && !w->frames[start].dir) start--;
  for (size_t i = start + 1; i <= level; i++) {
    frame_t *f = &w->frames[i];
    int fd = openat(dirfd(w->frames[i - 1].dir), f->name, DIR_FLAGS);
    struct stat st;
    int err = 0;
    if (fd < 0) {
      err = errno;
    } else if (fstat(fd, &st) != 0) {
      err = errno;
    } else if (!S_ISDIR(st.st_mode) || st.st_dev != f->dev || st.st_ino != f->ino) {
      err = ESTALE; /* replaced while we were deeper down: not the folder we entered */
    }
    DIR *dir = err == 0 ? fdopendir(fd) : NULL;
    if (!dir) {
      if (err == 0) err = errno;
      if (fd >= 0) close(fd);
      record_error(w, i, NULL, err);
      for (size_t j = i; j <= level; j++) w->frames[j].abandoned = 1;
      return 0;
    }
    f->dir = dir;
    f->reopened = 1;
    w->open_count++;
    /* Closes only frames below this one: the next one down is opened from it. */
    evict(w);
  }
  return 1;
}

static int push(walk_t *w, char *name, DIR *dir, const struct stat *st) {
  if (w->depth == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 32;
    frame_t *frames = realloc(w->frames, cap * sizeof(frame_t));
    if (!frames) return -1;
    w->frames = frames;
    w->cap = cap;
  }
  frame_t *f = &w->frames[w->depth++];
  memset(f, 0, sizeof *f);
  f->name = name;
  f->dir = dir;
  f->dev = st->st_dev;
  f->ino = st->st_ino;
  w->open_count++;
  evict(w);
  return 0;
}

/* Test hook: after entering the Nth folder, wait until the caller says go on (or aborts). */
static void maybe_pause(walk_t *w) {
  int at = load_control(w, RT_CONTROL_PAUSE_AT);
  if (at <= 0 || w->dirs_entered != (uint64_t)at) return;
  __atomic_store_n(&w->control[RT_CONTROL_PAUSE_STATE], 1, __ATOMIC_SEQ_CST);
  const struct timespec tick = {0, 1000000};
  while (load_control(w, RT_CONTROL_PAUSE_STATE) == 1 && !aborted(w)) nanosleep(&tick, NULL);
}

/* Unlinks a non-folder `name` in the folder at `level` (fd); 1 when it turned out to be a folder. */
static int remove_entry(walk_t *w, size_t level, int fd, const char *name) {
  struct stat st;
  if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return 0;
    record_error(w, level, name, errno);
    keep(w, &w->frames[level], name);
    return 0;
  }
  if (S_ISDIR(st.st_mode)) return 1;
  if (unlinkat(fd, name, 0) != 0) {
    int err = errno;
    if (err == ENOENT) return 0;
    if (err == EISDIR) return 1; /* replaced by a folder since the fstatat */
    record_error(w, level, name, err);
    keep(w, &w->frames[level], name);
    return 0;
  }
  w->report->removed_files++;
  /* A file with other hard links frees nothing yet. */
  if (st.st_nlink <= 1) w->report->bytes_freed += (uint64_t)st.st_blocks * 512u;
  return 0;
}

/* Enters folder `name` of the folder at `level`; what is not a folder any more is unlinked as what it is. */
static void enter(walk_t *w, size_t level, int fd, const char *name) {
  frame_t *parent = &w->frames[level];
  int child = openat(fd, name, DIR_FLAGS);
  if (child < 0) {
    int err = errno;
    if (err == ENOENT) return;
    if (err == ELOOP || err == ENOTDIR) {
      /* A link (or a file) now: removed as itself, never followed. */
      remove_entry(w, level, fd, name);
      return;
    }
    record_error(w, level, name, err);
    keep(w, parent, name);
    return;
  }
  struct stat st;
  if (fstat(child, &st) != 0) {
    record_error(w, level, name, errno);
    keep(w, parent, name);
    close(child);
    return;
  }
  if (!same_mount(w, child, &st)) {
    close(child);
    record_mount(w, level, name);
    keep(w, parent, name);
    return;
  }
  DIR *dir = fdopendir(child);
  char *copy = dir ? strdup(name) : NULL;
  if (!dir || !copy || push(w, copy, dir, &st) != 0) {
    int err = dir ? ENOMEM : errno;
    if (dir) closedir(dir);
    else close(child);
    free(copy);
    if (err == ENOMEM) w->report->out_of_memory = 1;
    record_error(w, level, name, err);
    keep(w, parent, name);
    return;
  }
  w->dirs_entered++;
  maybe_pause(w);
}

/* The folder on top of the stack is finished: remove it from its parent (or say why it stays). */
static void finish_top(walk_t *w, int parent_fd_for_root, const char *root_base) {
  size_t level = w->depth - 1;
  frame_t *f = &w->frames[level];
  int stays = f->kept_len > 0 || f->abandoned;
  if (f->dir) {
    closedir(f->dir);
    f->dir = NULL;
    w->open_count--;
  }
  if (level == 0) {
    if (!stays) {
      if (unlinkat(parent_fd_for_root, root_base, AT_REMOVEDIR) == 0) {
        w->report->removed_dirs++;
        w->report->complete = 1;
      } else if (errno != ENOENT) {
        record_error(w, 0, NULL, errno);
      } else {
        w->report->complete = 1;
      }
    }
    free_frame(f);
    w->depth--;
    return;
  }
  frame_t *parent = &w->frames[level - 1];
  if (!stays && !parent->abandoned && (parent->dir || reopen(w, level - 1))) {
    if (unlinkat(dirfd(parent->dir), f->name, AT_REMOVEDIR) == 0) {
      w->report->removed_dirs++;
    } else if (errno != ENOENT) {
      record_error(w, level - 1, f->name, errno);
      keep(w, parent, f->name);
    }
  } else {
    /* It holds something that stays (already reported): not an error of its own. */
    keep(w, parent, f->name);
  }
  free_frame(f);
  w->depth--;
}

/* Opens `root` one component at a time without following any link; returns the parent's fd and the last name. */
static int open_root_parent(const char *root, int *parent_fd, const char **base, int *err) {
  if (root[0] != '/') {
    *err = EINVAL;
    return -1;
  }
  const char *last = strrchr(root, '/');
  *base = last + 1;
  if (**base == '\0' || strcmp(*base, ".") == 0 || strcmp(*base, "..") == 0) {
    *err = EINVAL;
    return -1;
  }
  int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  const char *at = root;
  char component[256];
  while (at < last) {
    while (*at == '/') at++;
    if (at >= last) break;
    const char *end = strchr(at, '/');
    size_t len = (size_t)(end - at);
    if (len >= sizeof component || (len == 1 && at[0] == '.') || (len == 2 && at[0] == '.' && at[1] == '.')) {
      close(fd);
      *err = len >= sizeof component ? ENAMETOOLONG : EINVAL;
      return -1;
    }
    memcpy(component, at, len);
    component[len] = '\0';
    /* O_PATH needs only search permission; O_NOFOLLOW + O_DIRECTORY refuse a link. */
    int next = openat(fd, component, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int open_err = errno;
    close(fd);
    if (next < 0) {
      *err = open_err;
      return -1;
    }
    struct stat st;
    if (fstat(next, &st) != 0 || !S_ISDIR(st.st_mode)) {
      close(next);
      *err = ENOTDIR;
      return -1;
    }
    fd = next;
    at = end;
  }
  *parent_fd = fd;
  return 0;
}

void rt_remove_tree(rt_report_t *report, const char *root, int32_t *control, size_t control_len) {
  walk_t w = {0};
  w.report = report;
  w.root = root;
  w.control = control;
  w.control_len = control_len;
  int parent_fd = -1;
  const char *base = NULL;
  int err = 0;
  if (open_root_parent(root, &parent_fd, &base, &err) != 0) {
    if (err == ENOENT) report->root_missing = 1, report->complete = 1;
    else report->fatal_err = err;
    return;
  }
  int root_fd = openat(parent_fd, base, DIR_FLAGS);
  if (root_fd < 0) {
    err = errno;
    if (err == ENOENT) {
      report->root_missing = 1;
      report->complete = 1;
    } else if (err == ELOOP || err == ENOTDIR) {
      /* The root is a link or a file: unlink it as itself, never follow it. */
      int rc = unlinkat(parent_fd, base, 0);
      int unlink_err = rc == 0 ? 0 : errno;
      if (rc == 0) {
        report->root_was_link = 1;
        report->removed_files = 1;
        report->complete = 1;
      } else if (unlink_err == ENOENT) {
        report->root_missing = 1;
        report->complete = 1;
      } else {
        report->fatal_err = unlink_err;
      }
    } else {
      report->fatal_err = err;
    }
    close(parent_fd);
    return;
  }
  struct stat st;
  DIR *root_dir = NULL;
  if (fstat(root_fd, &st) != 0 || !(root_dir = fdopendir(root_fd))) {
    report->fatal_err = errno;
    close(root_fd);
    close(parent_fd);
    return;
  }
  w.root_dev = st.st_dev;
  w.root_mnt_id = mount_id_of(root_fd, &w.have_mnt_id);
  if (push(&w, NULL, root_dir, &st) != 0) {
    closedir(root_dir);
    close(parent_fd);
    report->out_of_memory = 1;
    return;
  }

  while (w.depth > 0 && !report->out_of_memory) {
    if (aborted(&w)) {
      report->aborted = 1;
      break;
    }
    size_t level = w.depth - 1;
    frame_t *f = &w.frames[level];
    if (f->abandoned) {
      finish_top(&w, parent_fd, base);
      continue;
    }
    if (!f->dir && !reopen(&w, level)) {
      finish_top(&w, parent_fd, base);
      continue;
    }
    errno = 0;
    struct dirent *entry = readdir(f->dir);
    if (!entry) {
      if (errno) {
        record_error(&w, level, NULL, errno);
        f->abandoned = 1;
      }
      finish_top(&w, parent_fd, base);
      continue;
    }
    const char *name = entry->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    if (f->reopened && is_kept(f, name)) continue;
    int fd = dirfd(f->dir);
    /* Copied: entering a folder may evict (close) this listing, which frees `entry`. */
    char name_copy[256];
    size_t name_len = strlen(name);
    if (name_len >= sizeof name_copy) continue;
    memcpy(name_copy, name, name_len + 1);
    if (entry->d_type == DT_DIR || remove_entry(&w, level, fd, name_copy)) enter(&w, level, fd, name_copy);
  }
  while (w.depth > 0) {
    free_frame(&w.frames[w.depth - 1]);
    w.depth--;
  }
  free(w.frames);
  close(parent_fd);
}

void rt_free_report(rt_report_t *report) {
  for (size_t i = 0; i < report->error_samples; i++) free(report->errors[i].path);
  for (size_t i = 0; i < report->mount_samples; i++) free(report->mounts[i]);
  report->error_samples = 0;
  report->mount_samples = 0;
}

#ifndef REMOVE_TREE_CORE_ONLY
#include "napi_errors.h"

static napi_status set_number(napi_env env, napi_value object, const char *key, double value) {
  napi_value number;
  napi_status status = napi_create_double(env, value, &number);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, object, key, number);
}

static napi_status set_bool(napi_env env, napi_value object, const char *key, int value) {
  napi_value flag;
  napi_status status = napi_get_boolean(env, value != 0, &flag);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, object, key, flag);
}

#define RT_CHECK(call)                 \
  do {                                 \
    if ((status = (call)) != napi_ok) \
      return NULL;                     \
  } while (0)

/* { removedFiles, removedDirs, bytesFreed, errorCount, errors: [path, errno][], mountPointCount, mountPoints: string[], rootMissing, rootWasLink, aborted, complete } */
static napi_value report_to_js(napi_env env, const rt_report_t *r) {
  napi_status status;
  napi_value result, errors, mounts;
  RT_CHECK(napi_create_object(env, &result));
  RT_CHECK(set_number(env, result, "removedFiles", (double)r->removed_files));
  RT_CHECK(set_number(env, result, "removedDirs", (double)r->removed_dirs));
  RT_CHECK(set_number(env, result, "bytesFreed", (double)r->bytes_freed));
  RT_CHECK(set_number(env, result, "errorCount", (double)r->error_count));
  RT_CHECK(napi_create_array_with_length(env, r->error_samples, &errors));
  for (size_t i = 0; i < r->error_samples; i++) {
    napi_value pair, path, code;
    RT_CHECK(napi_create_array_with_length(env, 2, &pair));
    /* Not valid UTF-8? V8 substitutes U+FFFD: samples are only for the log and the report. */
    RT_CHECK(napi_create_string_utf8(env, r->errors[i].path, NAPI_AUTO_LENGTH, &path));
    RT_CHECK(napi_create_int32(env, r->errors[i].err, &code));
    RT_CHECK(napi_set_element(env, pair, 0, path));
    RT_CHECK(napi_set_element(env, pair, 1, code));
    RT_CHECK(napi_set_element(env, errors, (uint32_t)i, pair));
  }
  RT_CHECK(napi_set_named_property(env, result, "errors", errors));
  RT_CHECK(set_number(env, result, "mountPointCount", (double)r->mount_count));
  RT_CHECK(napi_create_array_with_length(env, r->mount_samples, &mounts));
  for (size_t i = 0; i < r->mount_samples; i++) {
    napi_value path;
    RT_CHECK(napi_create_string_utf8(env, r->mounts[i], NAPI_AUTO_LENGTH, &path));
    RT_CHECK(napi_set_element(env, mounts, (uint32_t)i, path));
  }
  RT_CHECK(napi_set_named_property(env, result, "mountPoints", mounts));
  RT_CHECK(set_bool(env, result, "rootMissing", r->root_missing));
  RT_CHECK(set_bool(env, result, "rootWasLink", r->root_was_link));
  RT_CHECK(set_bool(env, result, "aborted", r->aborted));
  RT_CHECK(set_bool(env, result, "complete", r->complete));
  return result;
}

/* removeTree(path: string | Uint8Array, control?: Int32Array) */
static napi_value remove_tree_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "removeTree: a path is required");
    return NULL;
  }
  napi_valuetype type;
  bool is_typed_array = false;
  if (napi_typeof(env, argv[0], &type) != napi_ok || napi_is_typedarray(env, argv[0], &is_typed_array) != napi_ok) return NULL;
  char *root = NULL;
  size_t root_len = 0;
  if (type == napi_string) {
    if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &root_len) != napi_ok) return NULL;
    root = malloc(root_len + 1);
    if (!root || napi_get_value_string_utf8(env, argv[0], root, root_len + 1, &root_len) != napi_ok) {
      free(root);
      napi_throw_error(env, NULL, "removeTree: out of memory");
      return NULL;
    }
  } else if (is_typed_array) {
    napi_typedarray_type array_type;
    void *data;
    if (napi_get_typedarray_info(env, argv[0], &array_type, &root_len, &data, NULL, NULL) != napi_ok) return NULL;
    if (array_type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "removeTree: path bytes must be a Uint8Array");
      return NULL;
    }
    root = malloc(root_len + 1);
    if (!root) {
      napi_throw_error(env, NULL, "removeTree: out of memory");
      return NULL;
    }
    memcpy(root, data, root_len);
    root[root_len] = '\0';
  } else {
    napi_throw_type_error(env, NULL, "removeTree: path must be a string or a Uint8Array");
    return NULL;
  }
  /* A NUL inside the path would silently remove a different folder. */
  if (root_len == 0 || memchr(root, '\0', root_len) || root[0] != '/') {
    free(root);
    napi_throw_type_error(env, NULL, "removeTree: path must be absolute and contain no NUL byte");
    return NULL;
  }
  /* Trailing slashes name the same folder; the last component must be a name. */
  while (root_len > 1 && root[root_len - 1] == '/') root[--root_len] = '\0';
  if (root_len == 1) {
    free(root);
    napi_throw_type_error(env, NULL, "removeTree: refusing to remove /");
    return NULL;
  }
  int32_t *control = NULL;
  size_t control_len = 0;
  if (argc >= 2) {
    bool control_is_typed = false;
    if (napi_is_typedarray(env, argv[1], &control_is_typed) != napi_ok) {
      free(root);
      return NULL;
    }
    if (control_is_typed) {
      napi_typedarray_type array_type;
      void *data;
      if (napi_get_typedarray_info(env, argv[1], &array_type, &control_len, &data, NULL, NULL) != napi_ok) {
        free(root);
        return NULL;
      }
      if (array_type == napi_int32_array) control = data;
      else control_len = 0;
    }
  }
  rt_report_t report = {0};
  rt_remove_tree(&report, root, control, control_len);
  napi_value result = NULL;
  if (report.fatal_err) {
    char message[512];
    snprintf(message, sizeof message, "removeTree: cannot open %s", root);
    throw_errno_error(env, message, report.fatal_err);
  } else if (report.out_of_memory) {
    napi_throw_error(env, NULL, "removeTree: out of memory");
  } else {
    result = report_to_js(env, &report);
  }
  rt_free_report(&report);
  free(root);
  return result;
}

napi_status remove_tree_register(napi_env env, napi_value exports) {
  napi_value fn;
  napi_status status = napi_create_function(env, "removeTree", NAPI_AUTO_LENGTH, remove_tree_js, NULL, &fn);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "removeTree", fn);
}

#endif
