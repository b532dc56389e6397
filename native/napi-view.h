#ifndef BRANKAS_NAPI_VIEW_H
#define BRANKAS_NAPI_VIEW_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* The bytes of any ArrayBufferView (typed array or DataView); 0 if v is none. */
static inline int view_bytes(napi_env env, napi_value v, const uint8_t **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_value ab;
    void *p;
    if (napi_get_typedarray_info(env, v, &type, &count, &p, &ab, &offset) != napi_ok) return 0;
    size_t width = type == napi_int16_array || type == napi_uint16_array   ? 2
                   : type == napi_int32_array || type == napi_uint32_array ||
                           type == napi_float32_array
                       ? 4
                   : type == napi_float64_array || type == napi_bigint64_array ||
                           type == napi_biguint64_array
                       ? 8
                       : 1;
    *data = p;
    *len = count * width;
    return 1;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    void *p;
    napi_value ab;
    size_t offset;
    if (napi_get_dataview_info(env, v, len, &p, &ab, &offset) != napi_ok) return 0;
    *data = p;
    return 1;
  }
  return 0;
}

#endif
