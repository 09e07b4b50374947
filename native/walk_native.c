/*
 * Native tree sizer for the walk workers (src/build-size/walk-worker.ts).
 *
 * It counts exactly what the JS walker counts, with the same rules (links
 * never followed, FIFOs/sockets/devices never opened, everything unreadable
 * skipped and sampled), but stats each file relative to its open folder
 * (fstatat) instead of by full path (lstatSync). Measured on a 500k-file
 * fleet, the full-path lookups plus Node's Stats objects made the JS walker
 * spend about twice du's CPU; with fstatat the kernel work per file is du's.
 *
 * Synchronous by design: it runs inside a worker thread, never on the
 * server's event loop. Only one folder is open at a time, so depth is
 * bounded by memory, not by the fd limit. An abort flag (an Int32Array on a
 * SharedArrayBuffer) is checked before each folder so pool.close() never
 * waits for a whole subtree.
 *
 * With a tree depth >= 0 it also records the size tree's raw material
 * (src/build-size/size-tree.ts): one node per folder at most that many
 * levels below the root, created when the folder is opened, holding the
 * bytes and files directly in it (a folder too deep, or past
 * MAX_TRACKED_FOLDERS, gives its files to its nearest tracked ancestor);
 * parents are created before children, so one backwards pass makes every
 * node inclusive. Memory is bounded by the cap, whatever the tree.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <node_api.h>

#include "file_lock.h"
#include "remove_tree.h"

#define MAX_SKIPPED_SAMPLES 5
/* Same cap as MAX_TRACKED_FOLDERS in src/build-size/size-tree.ts: the walkers must track the same folders. */
#define MAX_TRACKED_FOLDERS 2048

typedef struct {
  char *bytes; /* NUL-terminated */
  size_t len;
  int depth;     /* levels below the walk's root */
  int32_t owner; /* the tree node the parent's files went to; -1: none */
} path_t;

/* One tracked folder: its path below the root ("" for the root) and, after the roll-up, its subtree's totals. */
typedef struct {
  char *rel;
  int32_t parent;
  uint64_t bytes, files;
} folder_t;

typedef struct {
  path_t *items;
  size_t len, cap;
} path_stack_t;

/* One skipped entry: the errno that stopped us, or the kind of entry left out. */
typedef struct {
  char *path;
  int err;
  const char *kind;
} sample_t;

typedef struct {
  uint64_t dev, ino, allocated;
} hard_link_t;

typedef struct {
  uint64_t bytes, disk_bytes, files, dirs, skipped;
  sample_t samples[MAX_SKIPPED_SAMPLES];
  size_t sample_count;
  hard_link_t *links;
  size_t link_count, link_cap;
  folder_t *folders;
  size_t folder_count, folder_cap;
  int tree_depth; /* < 0: no tree */
  size_t root_len;
  int out_of_memory;
} tally_t;

static char *join_path(const char *dir, size_t dir_len, const char *name, size_t name_len, size_t *out_len) {
  char *joined = malloc(dir_len + 1 + name_len + 1);
  if (!joined) return NULL;
  memcpy(joined, dir, dir_len);
  joined[dir_len] = '/';
  memcpy(joined + dir_len + 1, name, name_len);
  joined[dir_len + 1 + name_len] = '\0';
  *out_len = dir_len + 1 + name_len;
  return joined;
}

static int stack_push(path_stack_t *stack, char *bytes, size_t len, int depth, int32_t owner) {
  if (stack->len == stack->cap) {
    size_t cap = stack->cap ? stack->cap * 2 : 64;
    path_t *items = realloc(stack->items, cap * sizeof(path_t));
    if (!items) return -1;
    stack->items = items;
    stack->cap = cap;
  }
  stack->items[stack->len].bytes = bytes;
  stack->items[stack->len].len = len;
  stack->items[stack->len].depth = depth;
  stack->items[stack->len].owner = owner;
  stack->len++;
  return 0;
}

/* Counts a skip; keeps the first few with a copy of their path for the debug log. */
static void skip(tally_t *tally, const char *dir, size_t dir_len, const char *name, int err, const char *kind) {
  tally->skipped++;
  if (tally->sample_count >= MAX_SKIPPED_SAMPLES) return;
  size_t len;
  char *path;
  if (name) {
    path = join_path(dir, dir_len, name, strlen(name), &len);
  } else {
    path = malloc(dir_len + 1);
    if (path) {
      memcpy(path, dir, dir_len);
      path[dir_len] = '\0';
    }
  }
  if (!path) {
    tally->out_of_memory = 1;
    return;
  }
  sample_t *sample = &tally->samples[tally->sample_count++];
  sample->path = path;
  sample->err = err;
  sample->kind = kind;
}

static const char *special_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "device";
  return "unknown type";
}

static void count_file(tally_t *tally, const struct stat *st) {
  uint64_t allocated = (uint64_t)st->st_blocks * 512u;
  tally->bytes += (uint64_t)st->st_size;
  tally->files++;
  if (st->st_nlink <= 1) {
    tally->disk_bytes += allocated;
    return;
  }
  /* Multiply-linked: the pool counts each inode once across the whole walk. */
  if (tally->link_count == tally->link_cap) {
    size_t cap = tally->link_cap ? tally->link_cap * 2 : 16;
    hard_link_t *links = realloc(tally->links, cap * sizeof(hard_link_t));
    if (!links) {
      tally->out_of_memory = 1;
      return;
    }
    tally->links = links;
    tally->link_cap = cap;
  }
  hard_link_t *link = &tally->links[tally->link_count++];
  link->dev = (uint64_t)st->st_dev;
  link->ino = (uint64_t)st->st_ino;
  link->allocated = allocated;
}

/* What a listing's type says an entry is, when that is enough to skip it; NULL when it must be stat'd. */
static const char *listed_special_kind(unsigned char type) {
  switch (type) {
    case DT_REG:
    case DT_LNK:
    case DT_UNKNOWN: /* some file systems do not say: fstatat decides */
      return NULL;
    case DT_FIFO:
      return "FIFO";
    case DT_SOCK:
      return "socket";
    case DT_CHR:
    case DT_BLK:
      return "device";
    default:
      return "unknown type";
  }
}

static int push_child(path_stack_t *stack, const path_t *dir, int32_t owner, const char *name) {
  size_t len;
  char *sub = join_path(dir->bytes, dir->len, name, strlen(name), &len);
  if (!sub || stack_push(stack, sub, len, dir->depth + 1, owner) != 0) {
    free(sub);
    return -1;
  }
  return 0;
}

/*
 * The tree node an opened folder's own files go to: a new one when the
 * folder is shallow enough and the cap allows, else its parent's.
 */
static int32_t track_folder(tally_t *tally, const path_t *dir) {
  if (dir->depth > tally->tree_depth || tally->folder_count >= MAX_TRACKED_FOLDERS) return dir->owner;
  if (tally->folder_count == tally->folder_cap) {
    size_t cap = tally->folder_cap ? tally->folder_cap * 2 : 16;
    if (cap > MAX_TRACKED_FOLDERS) cap = MAX_TRACKED_FOLDERS;
    folder_t *folders = realloc(tally->folders, cap * sizeof(folder_t));
    if (!folders) {
      tally->out_of_memory = 1;
      return dir->owner;
    }
    tally->folders = folders;
    tally->folder_cap = cap;
  }
  /* The root's own path is "", a child's is what follows "root/". */
  size_t skip_len = dir->len > tally->root_len ? tally->root_len + 1 : dir->len;
  size_t rel_len = dir->len - skip_len;
  char *rel = malloc(rel_len + 1);
  if (!rel) {
    tally->out_of_memory = 1;
    return dir->owner;
  }
  memcpy(rel, dir->bytes + skip_len, rel_len);
  rel[rel_len] = '\0';
  folder_t *folder = &tally->folders[tally->folder_count];
  folder->rel = rel;
  folder->parent = dir->owner;
  folder->bytes = 0;
  folder->files = 0;
  return (int32_t)tally->folder_count++;
}

/* Everything in one open folder: files counted (to `owner`'s node too), subfolders pushed on the stack. */
static void walk_folder(tally_t *tally, path_stack_t *stack, const path_t *dir, int32_t owner, DIR *listing) {
  int fd = dirfd(listing);
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(listing);
    if (!entry) {
      if (errno) skip(tally, dir->bytes, dir->len, NULL, errno, NULL);
      return;
    }
    const char *name = entry->d_name;
    if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
    if (entry->d_type != DT_DIR) {
      const char *kind = listed_special_kind(entry->d_type);
      if (kind) {
        skip(tally, dir->bytes, dir->len, name, 0, kind);
        continue;
      }
      struct stat st;
      /* Never follows a link: a link costs its own size, and loops cannot run away. */
      if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        skip(tally, dir->bytes, dir->len, name, errno, NULL);
        continue;
      }
      if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
        count_file(tally, &st);
        if (owner >= 0) {
          tally->folders[owner].bytes += (uint64_t)st.st_size;
          tally->folders[owner].files++;
        }
        continue;
      }
      if (!S_ISDIR(st.st_mode)) {
        skip(tally, dir->bytes, dir->len, name, 0, special_kind(st.st_mode));
        continue;
      }
      /* A folder after all: listed as DT_UNKNOWN, or a file replaced by a folder under us. */
    }
    if (push_child(stack, dir, owner, name) != 0) {
      tally->out_of_memory = 1;
      return;
    }
  }
}

static void walk_tree(tally_t *tally, const char *root, size_t root_len, const int32_t *abort_flag) {
  path_stack_t stack = {0};
  char *first = malloc(root_len + 1);
  if (!first || stack_push(&stack, first, root_len, 0, -1) != 0) {
    free(first);
    tally->out_of_memory = 1;
    return;
  }
  memcpy(first, root, root_len);
  first[root_len] = '\0';
  while (stack.len > 0 && !tally->out_of_memory) {
    if (abort_flag && __atomic_load_n(abort_flag, __ATOMIC_RELAXED) != 0) break;
    path_t dir = stack.items[--stack.len];
    /* O_NOFOLLOW: a folder swapped for a link after it was listed is not followed. */
    int fd = open(dir.bytes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *listing = fd >= 0 ? fdopendir(fd) : NULL;
    if (!listing) {
      int err = errno;
      if (fd >= 0) close(fd);
      skip(tally, dir.bytes, dir.len, NULL, err, NULL);
      free(dir.bytes);
      continue;
    }
    tally->dirs++;
    int32_t owner = track_folder(tally, &dir);
    walk_folder(tally, &stack, &dir, owner, listing);
    closedir(listing);
    free(dir.bytes);
  }
  for (size_t i = 0; i < stack.len; i++) free(stack.items[i].bytes);
  free(stack.items);
  /* Parents were created before their children: one backwards pass makes every node inclusive. */
  for (size_t i = tally->folder_count; i-- > 1;) {
    folder_t *parent = &tally->folders[tally->folders[i].parent];
    parent->bytes += tally->folders[i].bytes;
    parent->files += tally->folders[i].files;
  }
}

static void free_tally(tally_t *tally) {
  for (size_t i = 0; i < tally->sample_count; i++) free(tally->samples[i].path);
  free(tally->links);
  for (size_t i = 0; i < tally->folder_count; i++) free(tally->folders[i].rel);
  free(tally->folders);
}

#define CHECK(call)                                                                  \
  do {                                                                               \
    if ((call) != napi_ok) {                                                         \
      const napi_extended_error_info *info = NULL;                                   \
      napi_get_last_error_info(env, &info);                                          \
      napi_throw_error(env, NULL, info && info->error_message ? info->error_message  \
                                                              : "walk_native: N-API call failed"); \
      goto fail;                                                                     \
    }                                                                                \
  } while (0)

static napi_status set_number(napi_env env, napi_value object, const char *key, double value) {
  napi_value number;
  napi_status status = napi_create_double(env, value, &number);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, object, key, number);
}

/* { bytes, diskBytes, files, dirs, skipped, skippedSamples: [path, errno | kind][], hardLinks: { "dev:ino": bytes }, folders: [rel, bytes, files][] } */
static napi_value tally_to_js(napi_env env, const tally_t *tally) {
  napi_value result = NULL, samples, links, folders;
  CHECK(napi_create_object(env, &result));
  CHECK(set_number(env, result, "bytes", (double)tally->bytes));
  CHECK(set_number(env, result, "diskBytes", (double)tally->disk_bytes));
  CHECK(set_number(env, result, "files", (double)tally->files));
  CHECK(set_number(env, result, "dirs", (double)tally->dirs));
  CHECK(set_number(env, result, "skipped", (double)tally->skipped));
  CHECK(napi_create_array_with_length(env, tally->sample_count, &samples));
  for (size_t i = 0; i < tally->sample_count; i++) {
    const sample_t *sample = &tally->samples[i];
    napi_value pair, path, reason;
    CHECK(napi_create_array_with_length(env, 2, &pair));
    /* Not valid UTF-8? V8 substitutes U+FFFD: samples are only for the log. */
    CHECK(napi_create_string_utf8(env, sample->path, NAPI_AUTO_LENGTH, &path));
    if (sample->kind) {
      CHECK(napi_create_string_utf8(env, sample->kind, NAPI_AUTO_LENGTH, &reason));
    } else {
      CHECK(napi_create_int32(env, sample->err, &reason));
    }
    CHECK(napi_set_element(env, pair, 0, path));
    CHECK(napi_set_element(env, pair, 1, reason));
    CHECK(napi_set_element(env, samples, (uint32_t)i, pair));
  }
  CHECK(napi_set_named_property(env, result, "skippedSamples", samples));
  CHECK(napi_create_object(env, &links));
  for (size_t i = 0; i < tally->link_count; i++) {
    char key[48];
    snprintf(key, sizeof key, "%" PRIu64 ":%" PRIu64, tally->links[i].dev, tally->links[i].ino);
    CHECK(set_number(env, links, key, (double)tally->links[i].allocated));
  }
  CHECK(napi_set_named_property(env, result, "hardLinks", links));
  CHECK(napi_create_array_with_length(env, tally->folder_count, &folders));
  for (size_t i = 0; i < tally->folder_count; i++) {
    napi_value triple, rel;
    CHECK(napi_create_array_with_length(env, 3, &triple));
    /* Not valid UTF-8? V8 substitutes U+FFFD, as Buffer#toString does in the JS walker: names are for display. */
    CHECK(napi_create_string_utf8(env, tally->folders[i].rel, NAPI_AUTO_LENGTH, &rel));
    CHECK(napi_set_element(env, triple, 0, rel));
    napi_value number;
    CHECK(napi_create_double(env, (double)tally->folders[i].bytes, &number));
    CHECK(napi_set_element(env, triple, 1, number));
    CHECK(napi_create_double(env, (double)tally->folders[i].files, &number));
    CHECK(napi_set_element(env, triple, 2, number));
    CHECK(napi_set_element(env, folders, (uint32_t)i, triple));
  }
  CHECK(napi_set_named_property(env, result, "folders", folders));
  return result;
fail:
  return NULL;
}

/* walkTree(path: string | Uint8Array, abort?: Int32Array, treeDepth?: number) */
static napi_value walk_tree_js(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result = NULL;
  char *owned = NULL;
  const char *root = NULL;
  size_t root_len = 0;
  const int32_t *abort_flag = NULL;
  tally_t tally = {0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "walkTree: a path is required");
    return NULL;
  }
  napi_valuetype type;
  bool is_typed_array = false;
  CHECK(napi_typeof(env, argv[0], &type));
  CHECK(napi_is_typedarray(env, argv[0], &is_typed_array));
  if (type == napi_string) {
    CHECK(napi_get_value_string_utf8(env, argv[0], NULL, 0, &root_len));
    owned = malloc(root_len + 1);
    if (!owned) {
      napi_throw_error(env, NULL, "walkTree: out of memory");
      return NULL;
    }
    CHECK(napi_get_value_string_utf8(env, argv[0], owned, root_len + 1, &root_len));
    root = owned;
  } else if (is_typed_array) {
    napi_typedarray_type array_type;
    void *data;
    CHECK(napi_get_typedarray_info(env, argv[0], &array_type, &root_len, &data, NULL, NULL));
    if (array_type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "walkTree: path bytes must be a Uint8Array");
      return NULL;
    }
    root = data;
  } else {
    napi_throw_type_error(env, NULL, "walkTree: path must be a string or a Uint8Array");
    return NULL;
  }
  /* A NUL inside the path would silently walk a different folder. */
  if (root_len == 0 || memchr(root, '\0', root_len)) {
    free(owned);
    napi_throw_type_error(env, NULL, "walkTree: path must be non-empty and contain no NUL byte");
    return NULL;
  }
  if (argc >= 2) {
    bool abort_is_typed = false;
    CHECK(napi_is_typedarray(env, argv[1], &abort_is_typed));
    if (abort_is_typed) {
      napi_typedarray_type array_type;
      size_t length;
      void *data;
      CHECK(napi_get_typedarray_info(env, argv[1], &array_type, &length, &data, NULL, NULL));
      if (array_type == napi_int32_array && length >= 1) abort_flag = data;
    }
  }
  tally.tree_depth = -1;
  if (argc >= 3) {
    napi_valuetype depth_type;
    CHECK(napi_typeof(env, argv[2], &depth_type));
    if (depth_type == napi_number) {
      int32_t depth;
      CHECK(napi_get_value_int32(env, argv[2], &depth));
      tally.tree_depth = depth;
    } else if (depth_type != napi_undefined) {
      free(owned);
      napi_throw_type_error(env, NULL, "walkTree: treeDepth must be a number");
      return NULL;
    }
  }
  tally.root_len = root_len;
  walk_tree(&tally, root, root_len, abort_flag);
  if (tally.out_of_memory) {
    napi_throw_error(env, NULL, "walkTree: out of memory");
    goto fail;
  }
  result = tally_to_js(env, &tally);
fail:
  free(owned);
  free_tally(&tally);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value walk;
  if (napi_create_function(env, "walkTree", NAPI_AUTO_LENGTH, walk_tree_js, NULL, &walk) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "walkTree", walk) != napi_ok) return NULL;
  /* The sidecar lock's flock(2) (native/file_lock.c) rides in the same addon. */
  if (file_lock_register(env, exports) != napi_ok) return NULL;
  /* The build-folder remover (native/remove_tree.c) too. */
  if (remove_tree_register(env, exports) != napi_ok) return NULL;
  return exports;
}
