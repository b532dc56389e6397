#ifndef BRANKAS_CRC32_H
#define BRANKAS_CRC32_H
#include <stddef.h>
#include <stdint.h>
/* zlib's crc32(crc, buf, len): CRC-32/ISO-HDLC, chainable. */
uint32_t brankas_crc32(uint32_t crc, const uint8_t *p, size_t len);
#endif
