#ifndef BRANKAS_ALIGNED_NAPI_H
#define BRANKAS_ALIGNED_NAPI_H
#include <node_api.h>
void register_aligned(napi_env env, napi_value exports);
#endif
