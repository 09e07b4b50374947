#include <stdio.h>
#include <string.h>

#include "napi_errors.h"

void throw_errno_error(napi_env env, const char *message, int err) {
  char text_buf[640];
  napi_value text, error, number;
  snprintf(text_buf, sizeof text_buf, "%s: %s", message, strerror(err));
  if (napi_create_string_utf8(env, text_buf, NAPI_AUTO_LENGTH, &text) != napi_ok ||
      napi_create_error(env, NULL, text, &error) != napi_ok) {
    napi_throw_error(env, NULL, text_buf);
    return;
  }
  if (napi_create_int32(env, err, &number) == napi_ok) napi_set_named_property(env, error, "errno", number);
  napi_throw(env, error);
}
