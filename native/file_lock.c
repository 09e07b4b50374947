/*
 * flock(2) for the sidecar's cross-process lock (src/util/file-lock.ts).
 *
 * The Python Device Builder guards `<config>/.device-builder.json` with
 * `fcntl.flock(fd, LOCK_EX)` on `.device-builder.json.lock`; Node has no
 * flock, so this is the whole of it: one call on an fd the JS side opened.
 *
 * Only non-blocking operations are accepted (LOCK_EX | LOCK_NB, LOCK_SH |
 * LOCK_NB, LOCK_UN): a blocking flock would stall the server's event loop
 * for as long as another process holds the lock, so the caller polls with
 * LOCK_NB and a backoff instead. Contention is an answer, not an error:
 * `flock(fd, op)` returns 0 when done and EWOULDBLOCK when another open
 * file description holds the lock; anything else (EBADF, EINVAL, ENOLCK)
 * throws an Error carrying `errno`.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "file_lock.h"
#include "napi_errors.h"

/* flock(fd: number, operation: number): 0 | EWOULDBLOCK */
static napi_value flock_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  int32_t fd, op;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "flock: fd and operation are required");
    return NULL;
  }
  for (size_t i = 0; i < 2; i++) {
    if (napi_typeof(env, argv[i], &type) != napi_ok || type != napi_number) {
      napi_throw_type_error(env, NULL, "flock: fd and operation must be numbers");
      return NULL;
    }
  }
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &op) != napi_ok) return NULL;
  if (fd < 0) {
    napi_throw_range_error(env, NULL, "flock: fd must be a non-negative integer");
    return NULL;
  }
  if (op != (LOCK_EX | LOCK_NB) && op != (LOCK_SH | LOCK_NB) && op != LOCK_UN) {
    napi_throw_range_error(env, NULL, "flock: operation must be LOCK_EX|LOCK_NB, LOCK_SH|LOCK_NB or LOCK_UN (a blocking lock would stall the event loop)");
    return NULL;
  }
  int rc;
  do {
    rc = flock(fd, op);
  } while (rc == -1 && errno == EINTR);
  int err = rc == 0 ? 0 : errno;
  if (err != 0 && err != EWOULDBLOCK) {
    throw_errno_error(env, "flock", err);
    return NULL;
  }
  if (napi_create_int32(env, err, &result) != napi_ok) return NULL;
  return result;
}

static napi_status set_int(napi_env env, napi_value object, const char *key, int value) {
  napi_value number;
  napi_status status = napi_create_int32(env, value, &number);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, object, key, number);
}

napi_status file_lock_register(napi_env env, napi_value exports) {
  napi_value fn, constants;
  napi_status status;
  if ((status = napi_create_function(env, "flock", NAPI_AUTO_LENGTH, flock_js, NULL, &fn)) != napi_ok) return status;
  if ((status = napi_set_named_property(env, exports, "flock", fn)) != napi_ok) return status;
  /* The platform's values, so the JS side never hard-codes Linux numbers. */
  if ((status = napi_create_object(env, &constants)) != napi_ok) return status;
  if ((status = set_int(env, constants, "LOCK_SH", LOCK_SH)) != napi_ok) return status;
  if ((status = set_int(env, constants, "LOCK_EX", LOCK_EX)) != napi_ok) return status;
  if ((status = set_int(env, constants, "LOCK_NB", LOCK_NB)) != napi_ok) return status;
  if ((status = set_int(env, constants, "LOCK_UN", LOCK_UN)) != napi_ok) return status;
  if ((status = set_int(env, constants, "EWOULDBLOCK", EWOULDBLOCK)) != napi_ok) return status;
  return napi_set_named_property(env, exports, "flockConstants", constants);
}
