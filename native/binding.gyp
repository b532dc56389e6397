{
  "targets": [
    {
      "target_name": "brankas_native",
      "sources": ["seek.c", "blake3.c", "blake3-napi.c", "crc32.c", "crc32-napi.c", "copy-napi.c", "aligned-napi.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-psabi"]
    }
  ]
}
