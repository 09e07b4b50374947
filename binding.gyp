{
  "targets": [
    {
      "target_name": "walk_native",
      "sources": ["native/walk_native.c", "native/file_lock.c", "native/remove_tree.c", "native/napi_errors.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
