/* BLAKE3 of a whole buffer (blake3.c); key32 NULL for the plain hash, else
 * the 32-byte key of the keyed hash. out receives 32 bytes. */
#ifndef BRANKAS_BLAKE3_H
#define BRANKAS_BLAKE3_H
#include <stddef.h>
#include <stdint.h>

void brankas_blake3(const uint8_t *input, size_t len, const uint8_t *key32, uint8_t out[32]);

#endif
