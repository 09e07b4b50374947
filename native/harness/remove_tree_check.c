/*
 * A plain-C driver for native/remove_tree.c, so the remover can be run under
 * AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer without
 * Node (test/tree-remover.test.ts builds and runs it on hostile trees):
 *
 *   cc -g -fsanitize=address,undefined -DREMOVE_TREE_CORE_ONLY \
 *      native/remove_tree.c native/harness/remove_tree_check.c -o check
 *   ./check /abs/path [/abs/path ...]
 *
 * One line of JSON-ish numbers per path on stdout, then the error samples
 * and mount points, one per line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../remove_tree.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s <absolute path>...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    rt_report_t report;
    memset(&report, 0, sizeof report);
    int32_t control[3] = {0, 0, 0};
    rt_remove_tree(&report, argv[i], control, 3);
    printf("{\"removedFiles\":%" PRIu64 ",\"removedDirs\":%" PRIu64 ",\"bytesFreed\":%" PRIu64 ",\"errorCount\":%" PRIu64
           ",\"mountPointCount\":%" PRIu64 ",\"complete\":%d,\"rootMissing\":%d,\"rootWasLink\":%d,\"fatal\":%d,\"oom\":%d}\n",
           report.removed_files, report.removed_dirs, report.bytes_freed, report.error_count, report.mount_count, report.complete,
           report.root_missing, report.root_was_link, report.fatal_err, report.out_of_memory);
    for (size_t j = 0; j < report.error_samples; j++) printf("error %d %s\n", report.errors[j].err, report.errors[j].path);
    for (size_t j = 0; j < report.mount_samples; j++) printf("mount %s\n", report.mounts[j]);
    rt_free_report(&report);
  }
  return 0;
}
