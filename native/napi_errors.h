/*
 * The addon's one way to turn a failed system call into a JS Error, shared
 * by the lock (file_lock.c) and the remover (remove_tree.c).
 */
#ifndef NAPI_ERRORS_H
#define NAPI_ERRORS_H

#include <node_api.h>

/* Throws an Error "<message>: <strerror(err)>" carrying `errno` = err. */
void throw_errno_error(napi_env env, const char *message, int err);

#endif
