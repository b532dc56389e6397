/*
 * crc32(data, crc?) for JavaScript, as Node's zlib.crc32: data is any
 * ArrayBufferView, crc an unsigned 32-bit value to continue from (default 0);
 * returns the CRC-32 as a number. Runs on the calling thread.
 */
#include <node_api.h>
#include "crc32.h"
#include "crc32-napi.h"
#include "napi-view.h"

static napi_value crc32_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *data = NULL;
  size_t len = 0;
  if (argc < 1 || !view_bytes(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, NULL, "crc32: data must be a Buffer or typed array");
    return NULL;
  }
  uint32_t crc = 0;
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t != napi_undefined && napi_get_value_uint32(env, argv[1], &crc) != napi_ok) {
      napi_throw_type_error(env, NULL, "crc32: crc must be a number");
      return NULL;
    }
  }
  if (napi_create_uint32(env, brankas_crc32(crc, data, len), &result) != napi_ok) return NULL;
  return result;
}

void register_crc32(napi_env env, napi_value exports) {
  napi_property_descriptor p = {"crc32", NULL, crc32_js, NULL, NULL, NULL, napi_enumerable, NULL};
  napi_define_properties(env, exports, 1, &p);
}
