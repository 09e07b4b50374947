/* Recursive delete that never crosses a symlink or a mount point; see remove_tree.c. */
#ifndef DEVICE_BUILDER_REMOVE_TREE_H
#define DEVICE_BUILDER_REMOVE_TREE_H

#include <stddef.h>
#include <stdint.h>

#define RT_MAX_ERROR_SAMPLES 20
#define RT_MAX_MOUNT_SAMPLES 20

/* Slots of the optional control array (an Int32Array on a SharedArrayBuffer). */
#define RT_CONTROL_ABORT 0       /* set non-zero: stop at the next entry */
#define RT_CONTROL_PAUSE_AT 1    /* test hook: pause after entering this many folders (0: never) */
#define RT_CONTROL_PAUSE_STATE 2 /* 1 while paused; the caller sets 2 to resume */

typedef struct {
  char *path; /* malloc'd */
  int err;
} rt_error_t;

typedef struct {
  uint64_t removed_files; /* files, links and other non-folders unlinked */
  uint64_t removed_dirs;  /* folders removed, the root included */
  uint64_t bytes_freed;   /* allocated bytes of removed files that had a single link */
  uint64_t error_count;
  rt_error_t errors[RT_MAX_ERROR_SAMPLES];
  size_t error_samples;
  uint64_t mount_count; /* folders on another file system or mount, left alone */
  char *mounts[RT_MAX_MOUNT_SAMPLES];
  size_t mount_samples;
  int root_missing;  /* nothing was there */
  int root_was_link; /* the root was a symlink (or a file): it was unlinked, nothing followed */
  int aborted;
  int out_of_memory;
  int complete; /* the root is gone */
  int fatal_err; /* the root could not be reached at all (errno); nothing was removed */
} rt_report_t;

/*
 * Removes `root` (an absolute path) and everything under it. `control` may
 * be NULL; see RT_CONTROL_*. Never follows a symlink anywhere in `root`'s
 * path or below it, and never descends into another mount.
 */
void rt_remove_tree(rt_report_t *report, const char *root, int32_t *control, size_t control_len);

void rt_free_report(rt_report_t *report);

#ifndef REMOVE_TREE_CORE_ONLY
#include <node_api.h>
/* Adds `removeTree` to the module's exports. */
napi_status remove_tree_register(napi_env env, napi_value exports);
#endif

#endif
