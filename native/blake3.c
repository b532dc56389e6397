/*
 * BLAKE3 (https://github.com/BLAKE3-team/BLAKE3-specs), written for brankas
 * from the specification: the hash and the keyed hash of a whole buffer, with
 * 32 bytes of output. Chunk ids in a repository are computed with it
 * (docs/repository-format.md, "Chunk ids").
 *
 * Speed comes from hashing several of BLAKE3's 1 KiB chunks at once, one per
 * vector lane (GCC vector extensions, no intrinsics), and as many parent
 * nodes at once the same way (blake3-lanes.h): 16 lanes with AVX-512, 8 with
 * AVX2 (16 would split into two registers each and spill: 0.93 GB/s against
 * 1.8-2.1 with 8, a -mavx2 build on this machine) and 8 otherwise, chosen at
 * run time on x86-64 with GCC, the baseline's 8 elsewhere. Only a partial
 * last chunk, the chunks beyond the last multiple of the lanes and the few
 * parents of the top levels use the scalar compression function.
 * src/util/blake3.test.ts builds every kernel apart and checks it.
 *
 * The input is hashed in subtrees of 256 chunks (256 KiB, the repository's
 * default chunk size), each reduced level by level; whole subtrees but the
 * last are merged with the specification's chaining-value stack, then the
 * stack is folded into the last one and the topmost parent gets the ROOT
 * flag. Until 2026-11-28 parents and every chunk after the last full group of
 * 16 (so, for a 256 KiB input, the last 16 chunks) were scalar: 1.42 GB/s at
 * 256 KiB against 3.7-4.6 GB/s now (one thread, AVX-512, this machine's
 * Xeon; the reference b3sum: 3.5 GB/s on one thread).
 */
#include <stdint.h>
#include <string.h>
#include "blake3.h"

#define CHUNK_LEN 1024
#define BLOCK_LEN 64

enum {
  CHUNK_START = 1,
  CHUNK_END = 2,
  PARENT = 4,
  ROOT = 8,
  KEYED_HASH = 16,
};

static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                               0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

/* The message word used at each position of each of the seven rounds: the
 * specification's permutation applied 0..6 times. */
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline uint32_t load32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store32(uint8_t *p, uint32_t w) {
  p[0] = (uint8_t)w;
  p[1] = (uint8_t)(w >> 8);
  p[2] = (uint8_t)(w >> 16);
  p[3] = (uint8_t)(w >> 24);
}

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* The quarter-round, for words (ROT = rotr) and for vectors of words (ROT = vrotr). */
#define GR(ROT, s, a, b, c, d, x, y)                                                               \
  do {                                                                                             \
    s[a] = s[a] + s[b] + (x);                                                                      \
    s[d] = ROT(s[d] ^ s[a], 16);                                                                   \
    s[c] = s[c] + s[d];                                                                            \
    s[b] = ROT(s[b] ^ s[c], 12);                                                                   \
    s[a] = s[a] + s[b] + (y);                                                                      \
    s[d] = ROT(s[d] ^ s[a], 8);                                                                    \
    s[c] = s[c] + s[d];                                                                            \
    s[b] = ROT(s[b] ^ s[c], 7);                                                                    \
  } while (0)
#define G(s, a, b, c, d, x, y) GR(rotr, s, a, b, c, d, x, y)

/* One round: the four columns, then the four diagonals, with message schedule k. */
#define ROUND(QR, s, m, k)                                                                         \
  do {                                                                                             \
    const uint8_t *k_ = (k);                                                                       \
    QR(s, 0, 4, 8, 12, m[k_[0]], m[k_[1]]);                                                        \
    QR(s, 1, 5, 9, 13, m[k_[2]], m[k_[3]]);                                                        \
    QR(s, 2, 6, 10, 14, m[k_[4]], m[k_[5]]);                                                       \
    QR(s, 3, 7, 11, 15, m[k_[6]], m[k_[7]]);                                                       \
    QR(s, 0, 5, 10, 15, m[k_[8]], m[k_[9]]);                                                       \
    QR(s, 1, 6, 11, 12, m[k_[10]], m[k_[11]]);                                                     \
    QR(s, 2, 7, 8, 13, m[k_[12]], m[k_[13]]);                                                      \
    QR(s, 3, 4, 9, 14, m[k_[14]], m[k_[15]]);                                                      \
  } while (0)

/* The compression function, truncated to the 8-word chaining value. */
static void compress(uint32_t cv[8], const uint32_t m[16], uint64_t counter, uint32_t block_len,
                     uint32_t flags) {
  uint32_t s[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                    IV[0], IV[1], IV[2], IV[3], (uint32_t)counter, (uint32_t)(counter >> 32),
                    block_len, flags};
  for (int r = 0; r < 7; r++) {
    ROUND(G, s, m, SCHEDULE[r]);
  }
  for (int i = 0; i < 8; i++) cv[i] = s[i] ^ s[i + 8];
}

static void load_block(uint32_t m[16], const uint8_t *p, size_t len) {
  uint8_t block[BLOCK_LEN] = {0};
  memcpy(block, p, len);
  for (int i = 0; i < 16; i++) m[i] = load32(block + 4 * i);
}

/* One chunk of 1..1024 bytes (0 only for the empty input), all blocks but
 * the last compressed into cv; the last block is returned in m/len/flags so
 * that the caller can add ROOT. */
static void chunk_prefix(const uint32_t key[8], const uint8_t *p, size_t len, uint64_t index,
                         uint32_t base, uint32_t cv[8], uint32_t m[16], uint32_t *last_len,
                         uint32_t *last_flags) {
  memcpy(cv, key, 32);
  uint32_t start = CHUNK_START;
  while (len > BLOCK_LEN) {
    load_block(m, p, BLOCK_LEN);
    compress(cv, m, index, BLOCK_LEN, base | start);
    start = 0;
    p += BLOCK_LEN;
    len -= BLOCK_LEN;
  }
  load_block(m, p, len);
  *last_len = (uint32_t)len;
  *last_flags = base | start | CHUNK_END;
}

static void parent_cv(const uint32_t key[8], const uint32_t left[8], const uint32_t right[8],
                      uint32_t flags, uint32_t out[8]) {
  uint32_t m[16];
  memcpy(m, left, 32);
  memcpy(m + 8, right, 32);
  memcpy(out, key, 32);
  compress(out, m, 0, BLOCK_LEN, flags);
}

/* The vector kernels (blake3-lanes.h): 16 lanes for AVX-512, 8 for AVX2 and
 * for everything else, each x86-64 instance compiled for its instruction set
 * and picked at run time. Other compilers and machines get the 8-lane
 * instance compiled for the baseline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define X86_DISPATCH 1
#endif

#ifdef X86_DISPATCH
#define N 16
#define NAME(x) x##16
#define KERNEL_ATTR __attribute__((target("avx512f")))
#include "blake3-lanes.h"
#undef N
#undef NAME
#undef KERNEL_ATTR

#define N 8
#define NAME(x) x##8avx2
#define KERNEL_ATTR __attribute__((target("avx2")))
#include "blake3-lanes.h"
#undef N
#undef NAME
#undef KERNEL_ATTR
#endif

#define N 8
#define NAME(x) x##8
#define KERNEL_ATTR
#include "blake3-lanes.h"
#undef N
#undef NAME
#undef KERNEL_ATTR

struct kernels {
  unsigned lanes;
  void (*hash)(const uint32_t key[8], const uint8_t *p, uint64_t index, uint32_t base,
               uint32_t *out);
  void (*parents)(const uint32_t key[8], const uint32_t *in, uint32_t flags, uint32_t *out);
};

/* Every kernel set built here; which one runs is chosen once, by index. */
static const struct kernels KERNELS[] = {
    {8, hash_lanes8, parents_lanes8},
#ifdef X86_DISPATCH
    {8, hash_lanes8avx2, parents_lanes8avx2},
    {16, hash_lanes16, parents_lanes16},
#endif
};

#if defined(BRANKAS_BLAKE3_KERNEL) && !defined(X86_DISPATCH) && BRANKAS_BLAKE3_KERNEL != 8
#error "only the baseline kernel is built without GCC on x86-64"
#endif

static int pick_kernels(void) {
#if defined(BRANKAS_BLAKE3_KERNEL) /* a harness's choice: 16, 82 (8 lanes, AVX2) or 8 */
  return BRANKAS_BLAKE3_KERNEL == 16 ? 2 : BRANKAS_BLAKE3_KERNEL == 82 ? 1 : 0;
#elif defined(X86_DISPATCH)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return 2;
  if (__builtin_cpu_supports("avx2")) return 1;
  return 0;
#else
  return 0;
#endif
}

/* Worker threads may ask at the same time: the choice is one int, stored and
 * loaded atomically, and every thread picks the same. */
static struct kernels kernels(void) {
  static int chosen = -1;
  int i = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
  if (i < 0) {
    i = pick_kernels();
    __atomic_store_n(&chosen, i, __ATOMIC_RELAXED);
  }
  return KERNELS[i];
}

/* Chunks per subtree hashed level by level: 256 KiB, a power of two, so that
 * whole subtrees merge on the stack as single chunks would. */
#define SUBTREE_CHUNKS 256

struct stack {
  uint32_t cv[64][8];
  int len;
};

/* Adds the chaining value of subtree number `done - 1` (done subtrees of
 * equal, power-of-two size so far), merging completed subtrees: as many
 * merges as done has trailing zero bits. */
static void push_cv(struct stack *st, const uint32_t key[8], uint32_t base, const uint32_t cv[8],
                    uint64_t done) {
  uint32_t cur[8];
  memcpy(cur, cv, 32);
  while ((done & 1) == 0) {
    st->len--;
    parent_cv(key, st->cv[st->len], cur, base | PARENT, cur);
    done >>= 1;
  }
  memcpy(st->cv[st->len++], cur, 32);
}

/* The chaining value of the subtree over `len` bytes (1..SUBTREE_CHUNKS
 * chunks, only the last one partial) whose first chunk is number `index`;
 * `root` when it is the whole input, so that its top node gets ROOT. Every
 * full chunk (also the last, unless it is the only one) is hashed in lanes
 * of the kernels' lanes, then the tree is reduced level by level, adjacent
 * pairs into parents (a lane's worth at once) and an odd last node carried up: the same
 * tree as the specification's, whose left subtrees are complete. */
static void subtree_cv(const uint32_t key[8], uint32_t base, const uint8_t *p, size_t len,
                       uint64_t index, int root, uint32_t out[8]) {
  uint32_t cvs[SUBTREE_CHUNKS * 8];
  /* At most SUBTREE_CHUNKS (callers split longer input). */
  unsigned chunks = len == 0 ? 1 : (unsigned)((len + CHUNK_LEN - 1) / CHUNK_LEN);
  if (chunks == 1) {
    uint32_t m[16], last_len, last_flags;
    chunk_prefix(key, p, len, index, base, out, m, &last_len, &last_flags);
    compress(out, m, index, last_len, last_flags | (root ? ROOT : 0));
    return;
  }
  const struct kernels k = kernels();
  unsigned full = (unsigned)(len / CHUNK_LEN), c = 0;
  for (; c + k.lanes <= full; c += k.lanes) k.hash(key, p + c * CHUNK_LEN, index + c, base, cvs + c * 8);
  for (; c < chunks; c++) {
    uint32_t m[16], last_len, last_flags;
    size_t bytes = len - c * CHUNK_LEN < CHUNK_LEN ? len - c * CHUNK_LEN : CHUNK_LEN;
    chunk_prefix(key, p + c * CHUNK_LEN, bytes, index + c, base, cvs + c * 8, m, &last_len,
                 &last_flags);
    compress(cvs + c * 8, m, index + c, last_len, last_flags);
  }
  unsigned n = chunks;
  while (n > 2) {
    unsigned pairs = n / 2, i = 0;
    for (; i + k.lanes <= pairs; i += k.lanes) k.parents(key, cvs + i * 16, base | PARENT, cvs + i * 8);
    for (; i < pairs; i++) parent_cv(key, cvs + i * 16, cvs + i * 16 + 8, base | PARENT, cvs + i * 8);
    if (n & 1) memmove(cvs + pairs * 8, cvs + (n - 1) * 8, 32);
    n = pairs + (n & 1);
  }
  parent_cv(key, cvs, cvs + 8, base | PARENT | (root ? ROOT : 0), out);
}

void brankas_blake3(const uint8_t *input, size_t len, const uint8_t *key32, uint8_t out[32]) {
  uint32_t key[8];
  uint32_t base = 0;
  if (key32 != NULL) {
    for (int i = 0; i < 8; i++) key[i] = load32(key32 + 4 * i);
    base = KEYED_HASH;
  } else {
    memcpy(key, IV, sizeof key);
  }
  const size_t span = (size_t)SUBTREE_CHUNKS * CHUNK_LEN;
  uint32_t cv[8];
  if (len <= span) {
    subtree_cv(key, base, input, len, 0, 1, cv);
  } else {
    /* Whole subtrees but the last (which may be partial) go on the stack. */
    size_t subtrees = (len + span - 1) / span;
    struct stack st;
    st.len = 0;
    for (size_t t = 0; t + 1 < subtrees; t++) {
      subtree_cv(key, base, input + t * span, span, (uint64_t)t * SUBTREE_CHUNKS, 0, cv);
      push_cv(&st, key, base, cv, t + 1);
    }
    size_t t = subtrees - 1;
    subtree_cv(key, base, input + t * span, len - t * span, (uint64_t)t * SUBTREE_CHUNKS, 0, cv);
    while (st.len > 1) {
      st.len--;
      parent_cv(key, st.cv[st.len], cv, base | PARENT, cv);
    }
    parent_cv(key, st.cv[0], cv, base | PARENT | ROOT, cv);
  }
  for (int w = 0; w < 8; w++) store32(out + 4 * w, cv[w]);
}
