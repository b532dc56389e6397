/*
 * brankas_native: the few system calls Node's fs lacks and the image readers
 * need. lseek(2) with SEEK_DATA/SEEK_HOLE finds the allocated ranges of a
 * sparse file without reading it; SEEK_END gives the size of a block device,
 * which fstat reports as 0; fallocate(2) punches holes for sparse writers.
 *
 * Offsets cross the boundary as JS numbers (exact up to 2^53). Errors are
 * thrown as plain Errors carrying `code` (the errno name) and `errno`; the
 * TypeScript side wraps them in brankas' own error classes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <node_api.h>
#include "blake3-napi.h"
#include "crc32-napi.h"
#include "copy-napi.h"
#include "aligned-napi.h"

#define MAX_SAFE 9007199254740991.0

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value code, msg, error, num, call;
  const char *name = "EIO";
  switch (err) {
    case EBADF: name = "EBADF"; break;
    case EINVAL: name = "EINVAL"; break;
    case ENXIO: name = "ENXIO"; break;
    case EOVERFLOW: name = "EOVERFLOW"; break;
    case ESPIPE: name = "ESPIPE"; break;
    case EOPNOTSUPP: name = "EOPNOTSUPP"; break;
    case ENOSPC: name = "ENOSPC"; break;
    case EPERM: name = "EPERM"; break;
    case EFBIG: name = "EFBIG"; break;
    case EINTR: name = "EINTR"; break;
    case ENODEV: name = "ENODEV"; break;
    case EROFS: name = "EROFS"; break;
    default: break;
  }
  char text[256];
  snprintf(text, sizeof text, "%s: %s (%s)", syscall, strerror(err), name);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &call);
  napi_set_named_property(env, error, "syscall", call);
  napi_throw(env, error);
  return NULL;
}

/* Reads argument i as an integer >= 0 (fd or offset); throws TypeError otherwise. */
static int get_int(napi_env env, napi_value *argv, size_t argc, size_t i, int64_t *out) {
  double d;
  if (i >= argc || napi_get_value_double(env, argv[i], &d) != napi_ok || d != d || d < 0 ||
      d > MAX_SAFE || (double)(int64_t)d != d) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "expected a non-negative safe integer");
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

static napi_value do_seek(napi_env env, napi_callback_info info, int whence, const char *name) {
  size_t argc = 2;
  napi_value argv[2], result;
  int64_t fd, offset = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_int(env, argv, argc, 0, &fd)) return NULL;
  if (whence != SEEK_END && !get_int(env, argv, argc, 1, &offset)) return NULL;
  off_t pos;
  do {
    pos = lseek((int)fd, (off_t)offset, whence);
  } while (pos < 0 && errno == EINTR);
  if (pos < 0) {
    /* ENXIO: no data (or hole) at or after offset, or offset at/after EOF. */
    if (errno == ENXIO && whence != SEEK_END) {
      napi_create_double(env, -1, &result);
      return result;
    }
    return throw_errno(env, errno, name);
  }
  napi_create_double(env, (double)pos, &result);
  return result;
}

static napi_value seek_data(napi_env env, napi_callback_info info) {
  return do_seek(env, info, SEEK_DATA, "lseek(SEEK_DATA)");
}

static napi_value seek_hole(napi_env env, napi_callback_info info) {
  return do_seek(env, info, SEEK_HOLE, "lseek(SEEK_HOLE)");
}

static napi_value seek_end(napi_env env, napi_callback_info info) {
  return do_seek(env, info, SEEK_END, "lseek(SEEK_END)");
}

static napi_value punch_hole(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int64_t fd, offset, length;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (!get_int(env, argv, argc, 0, &fd) || !get_int(env, argv, argc, 1, &offset) ||
      !get_int(env, argv, argc, 2, &length))
    return NULL;
  int rc;
  do {
    rc = fallocate((int)fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
                   (off_t)length);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, errno, "fallocate(PUNCH_HOLE)");
  napi_get_undefined(env, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"seekData", NULL, seek_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, seek_hole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekEnd", NULL, seek_end, NULL, NULL, NULL, napi_enumerable, NULL},
      {"punchHole", NULL, punch_hole, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  register_blake3(env, exports);
  register_crc32(env, exports);
  register_copy(env, exports);
  register_aligned(env, exports);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
