/*
 * alignedBuffer(size) for JavaScript: a Buffer of size bytes whose memory starts on a 4096-byte
 * boundary (posix_memalign), freed when the Buffer is collected. O_DIRECT writes need the
 * memory, the file position and the length aligned; Node's own large Buffers come from
 * malloc's mmap chunks, 16 bytes past a page boundary, so never. Used by restores that write
 * their target with O_DIRECT (src/image/writer-sink.ts). size must be a positive multiple of
 * 4096 and at most 1 GiB.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include "aligned-napi.h"

#define ALIGN 4096

static void release(napi_env env, void *data, void *hint) { free(data); }

static napi_value aligned_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t size = 0;
  if (argc < 1 || napi_get_value_int64(env, argv[0], &size) != napi_ok || size <= 0 ||
      size % ALIGN != 0 || size > ((int64_t)1 << 30)) {
    napi_throw_range_error(env, NULL, "alignedBuffer(size): size must be a positive multiple of 4096, at most 1 GiB");
    return NULL;
  }
  void *mem = NULL;
  if (posix_memalign(&mem, ALIGN, (size_t)size) != 0) {
    napi_throw_error(env, "ENOMEM", "alignedBuffer: out of memory");
    return NULL;
  }
  napi_value buf;
  if (napi_create_external_buffer(env, (size_t)size, mem, release, NULL, &buf) != napi_ok) {
    free(mem);
    napi_throw_error(env, NULL, "alignedBuffer: external buffers are not available");
    return NULL;
  }
  napi_adjust_external_memory(env, size, &(int64_t){0});
  return buf;
}

void register_aligned(napi_env env, napi_value exports) {
  napi_property_descriptor p = {"alignedBuffer", NULL, aligned_buffer, NULL, NULL, NULL,
                                napi_enumerable, NULL};
  napi_define_properties(env, exports, 1, &p);
}
