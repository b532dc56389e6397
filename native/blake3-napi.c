/*
 * blake3(data, key?) for JavaScript: data is any ArrayBufferView, key is
 * undefined or a 32-byte view; returns a new 32-byte Buffer. Runs on the
 * calling thread (the repository calls it from its worker threads).
 */
#include <node_api.h>
#include "blake3.h"
#include "blake3-napi.h"
#include "napi-view.h"

static napi_value blake3_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const uint8_t *data = NULL, *key = NULL;
  size_t len = 0, key_len = 0;
  if (argc < 1 || !view_bytes(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, NULL, "blake3: data must be a Buffer or typed array");
    return NULL;
  }
  if (argc >= 2) {
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t != napi_undefined) {
      if (!view_bytes(env, argv[1], &key, &key_len) || key_len != 32) {
        napi_throw_type_error(env, NULL, "blake3: key must be 32 bytes");
        return NULL;
      }
    }
  }
  void *out;
  if (napi_create_buffer(env, 32, &out, &result) != napi_ok) return NULL;
  brankas_blake3(len == 0 ? (const uint8_t *)"" : data, len, key, out);
  return result;
}

void register_blake3(napi_env env, napi_value exports) {
  napi_property_descriptor p = {"blake3", NULL, blake3_js, NULL, NULL, NULL, napi_enumerable, NULL};
  napi_define_properties(env, exports, 1, &p);
}
