/*
 * The vector kernels of blake3.c, included once per lane count: before each
 * inclusion blake3.c defines N (16 or 8 lanes of 32-bit words), NAME(x) (the
 * suffix of this instance's names) and KERNEL_ATTR (the instruction set it
 * is compiled for, or nothing). Sixteen lanes fill AVX-512's registers; on
 * AVX2 they would be split in two and spill (0.93 GB/s measured), so AVX2 and
 * the baseline get eight.
 */

typedef uint32_t NAME(vec) __attribute__((vector_size(4 * N)));

static inline KERNEL_ATTR NAME(vec) NAME(vrotr)(NAME(vec) x, int n) {
  return (x >> n) | (x << (32 - n));
}

/* Rows of N words to columns: a butterfly of two-source shuffles that swap
 * off-diagonal blocks of N/2, N/4 ... 1 words between row i and row i + d. */
#define NAME_STAGE(rows, d, lo, hi)                                                                \
  do {                                                                                             \
    for (int i = 0; i < N; i++) {                                                                  \
      if (i & (d)) continue;                                                                       \
      NAME(vec) a = rows[i], c = rows[i + (d)];                                                    \
      rows[i] = __builtin_shuffle(a, c, lo);                                                       \
      rows[i + (d)] = __builtin_shuffle(a, c, hi);                                                 \
    }                                                                                              \
  } while (0)

#if N == 16
#define NAME_TRANSPOSE(rows)                                                                       \
  do {                                                                                             \
    NAME_STAGE(rows, 8, ((NAME(vec)){0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}),    \
               ((NAME(vec)){8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}));       \
    NAME_STAGE(rows, 4, ((NAME(vec)){0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27}),   \
               ((NAME(vec)){4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}));         \
    NAME_STAGE(rows, 2, ((NAME(vec)){0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29}),   \
               ((NAME(vec)){2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}));         \
    NAME_STAGE(rows, 1, ((NAME(vec)){0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30}),  \
               ((NAME(vec)){1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}));         \
  } while (0)
#elif N == 8
#define NAME_TRANSPOSE(rows)                                                                       \
  do {                                                                                             \
    NAME_STAGE(rows, 4, ((NAME(vec)){0, 1, 2, 3, 8, 9, 10, 11}),                                  \
               ((NAME(vec)){4, 5, 6, 7, 12, 13, 14, 15}));                                         \
    NAME_STAGE(rows, 2, ((NAME(vec)){0, 1, 8, 9, 4, 5, 12, 13}),                                  \
               ((NAME(vec)){2, 3, 10, 11, 6, 7, 14, 15}));                                         \
    NAME_STAGE(rows, 1, ((NAME(vec)){0, 8, 2, 10, 4, 12, 6, 14}),                                 \
               ((NAME(vec)){1, 9, 3, 11, 5, 13, 7, 15}));                                          \
  } while (0)
#else
#error "N must be 16 or 8"
#endif

/* The 16 message words of N blocks, one per lane, block l at src + l * stride
 * bytes, as m[w] = word w of every lane. */
static inline KERNEL_ATTR void NAME(load_message)(NAME(vec) m[16], const uint8_t *src,
                                                   size_t stride) {
  for (int h = 0; h < 16; h += N) {
    NAME(vec) rows[N];
    for (int l = 0; l < N; l++) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      memcpy(&rows[l], src + (size_t)l * stride + 4 * h, 4 * N);
#else
      for (int w = 0; w < N; w++) rows[l][w] = load32(src + (size_t)l * stride + 4 * (h + w));
#endif
    }
    NAME_TRANSPOSE(rows);
    for (int w = 0; w < N; w++) m[h + w] = rows[w];
  }
}

#define NAME_VG(s, a, b, c, d, x, y) GR(NAME(vrotr), s, a, b, c, d, x, y)

/* The chaining values of N consecutive full chunks starting at p, whose
 * first has chunk index `index`; out receives N * 8 words. */
/* GCC 12 warns that s[15] "is used uninitialized" in the AVX-512 build only;
 * it is initialised above, and the output is checked against other BLAKE3
 * implementations (src/util/blake3.test.ts). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static KERNEL_ATTR void NAME(hash_lanes)(const uint32_t key[8], const uint8_t *p, uint64_t index,
                                         uint32_t base, uint32_t *out) {
  const NAME(vec) zero = {0};
  NAME(vec) cv[8], counter_lo = zero, counter_hi = zero;
  for (int i = 0; i < 8; i++) cv[i] = zero + key[i];
  for (int l = 0; l < N; l++) {
    counter_lo[l] = (uint32_t)(index + (uint64_t)l);
    counter_hi[l] = (uint32_t)((index + (uint64_t)l) >> 32);
  }
  for (int b = 0; b < CHUNK_LEN / BLOCK_LEN; b++) {
    NAME(vec) m[16];
    NAME(load_message)(m, p + b * BLOCK_LEN, CHUNK_LEN);
    uint32_t flags = base | (b == 0 ? CHUNK_START : 0) |
                     (b == CHUNK_LEN / BLOCK_LEN - 1 ? CHUNK_END : 0);
    NAME(vec) s[16] = {cv[0],        cv[1],        cv[2],        cv[3],      cv[4],      cv[5],
                       cv[6],        cv[7],        zero + IV[0], zero + IV[1], zero + IV[2],
                       zero + IV[3], counter_lo,   counter_hi,   zero + BLOCK_LEN, zero + flags};
    /* Unrolled, so that SCHEDULE's entries are constants and m stays in registers. */
#pragma GCC unroll 7
    for (int r = 0; r < 7; r++) {
      ROUND(NAME_VG, s, m, SCHEDULE[r]);
    }
    for (int i = 0; i < 8; i++) cv[i] = s[i] ^ s[i + 8];
  }
  for (int l = 0; l < N; l++) {
    for (int i = 0; i < 8; i++) out[l * 8 + i] = cv[i][l];
  }
}

/* N parent nodes at once: in holds 2 * N chaining values (8 words each), a
 * left and a right child per parent, out receives N of them (it may be in). */
static KERNEL_ATTR void NAME(parents_lanes)(const uint32_t key[8], const uint32_t *in,
                                            uint32_t flags, uint32_t *out) {
  const NAME(vec) zero = {0};
  NAME(vec) m[16];
  /* A parent's block is its two children's words: the same transposition applies. */
  NAME(load_message)(m, (const uint8_t *)in, BLOCK_LEN);
  NAME(vec) s[16] = {zero + key[0], zero + key[1], zero + key[2], zero + key[3], zero + key[4],
                     zero + key[5], zero + key[6], zero + key[7], zero + IV[0],  zero + IV[1],
                     zero + IV[2],  zero + IV[3],  zero,          zero,          zero + BLOCK_LEN,
                     zero + flags};
#pragma GCC unroll 7
  for (int r = 0; r < 7; r++) {
    ROUND(NAME_VG, s, m, SCHEDULE[r]);
  }
  for (int l = 0; l < N; l++) {
    for (int i = 0; i < 8; i++) out[l * 8 + i] = s[i][l] ^ s[i + 8][l];
  }
}
#pragma GCC diagnostic pop

#undef NAME_STAGE
#undef NAME_TRANSPOSE
#undef NAME_VG
