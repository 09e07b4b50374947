/* flock(2) for the sidecar lock (src/util/file-lock.ts); see file_lock.c. */
#ifndef DEVICE_BUILDER_FILE_LOCK_H
#define DEVICE_BUILDER_FILE_LOCK_H

#include <node_api.h>

/* Adds `flock` and `flockConstants` to the module's exports. */
napi_status file_lock_register(napi_env env, napi_value exports);

#endif
