#ifndef BRANKAS_BLAKE3_NAPI_H
#define BRANKAS_BLAKE3_NAPI_H
#include <node_api.h>
void register_blake3(napi_env env, napi_value exports);
#endif
