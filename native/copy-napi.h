#ifndef BRANKAS_COPY_NAPI_H
#define BRANKAS_COPY_NAPI_H
#include <node_api.h>
void register_copy(napi_env env, napi_value exports);
#endif
