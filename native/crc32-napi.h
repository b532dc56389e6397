#ifndef BRANKAS_CRC32_NAPI_H
#define BRANKAS_CRC32_NAPI_H
#include <node_api.h>
void register_crc32(napi_env env, napi_value exports);
#endif
