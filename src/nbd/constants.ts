/**
 * The numbers of the NBD protocol (NetworkBlockDevice/nbd, doc/proto.md), by
 * name: magics, handshake and transmission flags, option and reply types,
 * commands, structured reply chunk types, error values and the flags of the
 * metadata contexts brankas reads. Nothing else in src/nbd/ writes a protocol
 * number inline.
 */

/** 'NBDMAGIC', the first 8 bytes a server sends. */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n;
/** 'IHAVEOPT': newstyle handshake, and the prefix of every option request. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** Oldstyle handshake (no options): brankas does not speak it. */
export const NBD_CLISERV_MAGIC = 0x00420281861253n;
/** Prefix of every option reply. */
export const NBD_REP_MAGIC = 0x3e889045565a9n;

export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
/** Extended headers (an experimental extension brankas does not negotiate). */
export const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;

/** Handshake flags (server, 16 bits). */
export const HandshakeFlag = {
  FIXED_NEWSTYLE: 1 << 0,
  NO_ZEROES: 1 << 1,
} as const;

/** Client flags (32 bits). */
export const ClientFlag = {
  C_FIXED_NEWSTYLE: 1 << 0,
  C_NO_ZEROES: 1 << 1,
} as const;

/** Transmission flags (16 bits, in NBD_INFO_EXPORT). */
export const TransmissionFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

/** Option reply types; errors have bit 31 set. */
export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const;

export const NBD_REP_FLAG_ERROR = 0x80000000;

export const RepErr = {
  UNSUP: NBD_REP_FLAG_ERROR + 1,
  POLICY: NBD_REP_FLAG_ERROR + 2,
  INVALID: NBD_REP_FLAG_ERROR + 3,
  PLATFORM: NBD_REP_FLAG_ERROR + 4,
  TLS_REQD: NBD_REP_FLAG_ERROR + 5,
  UNKNOWN: NBD_REP_FLAG_ERROR + 6,
  SHUTDOWN: NBD_REP_FLAG_ERROR + 7,
  BLOCK_SIZE_REQD: NBD_REP_FLAG_ERROR + 8,
  TOO_BIG: NBD_REP_FLAG_ERROR + 9,
  EXT_HEADER_REQD: NBD_REP_FLAG_ERROR + 10,
} as const;

/** Information types in NBD_REP_INFO replies to NBD_OPT_INFO / NBD_OPT_GO. */
export const Info = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export type CmdType = (typeof Cmd)[keyof typeof Cmd];

export const CMD_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Cmd).map(([name, n]) => [n, name]),
);

/** Command flags (16 bits). */
export const CmdFlag = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
} as const;

/** Structured reply chunk flags. */
export const ReplyFlag = {
  DONE: 1 << 0,
} as const;

/** Structured reply chunk types; error chunks have bit 15 set. */
export const ReplyType = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const;

export const REPLY_TYPE_ERROR_BIT = 1 << 15;

/** Error values of replies (errno-like, but fixed by the protocol). */
export const NbdErrno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** `base:allocation` status flags. */
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;
/** `qemu:dirty-bitmap:NAME` status flag. */
export const NBD_STATE_DIRTY = 1 << 0;

export const CONTEXT_BASE_ALLOCATION = 'base:allocation';
export const CONTEXT_ALLOCATION_DEPTH = 'qemu:allocation-depth';
export const dirtyBitmapContext = (bitmap: string): string => `qemu:dirty-bitmap:${bitmap}`;

/** Sizes on the wire. */
export const REQUEST_HEADER_SIZE = 28;
export const SIMPLE_REPLY_HEADER_SIZE = 16;
export const STRUCTURED_REPLY_HEADER_SIZE = 20;
export const OPTION_REPLY_HEADER_SIZE = 20;

/**
 * The largest payload any server must accept and the largest brankas sends or
 * accepts for data (2^25): the protocol's "never a denial of service" bound.
 */
export const MAX_PAYLOAD = 32 * 1024 * 1024;
/** The defaults a server that advertises no block size constraints is held to. */
export const DEFAULT_MIN_BLOCK = 1;
export const DEFAULT_PREFERRED_BLOCK = 4096;
/** The protocol caps string lengths (names, messages) at 4096 bytes. */
export const MAX_STRING = 4096;
/** The protocol's cap on block status descriptors in one chunk (2^20), as bytes. */
export const MAX_BLOCK_STATUS_PAYLOAD = 4 + 8 * (1 << 20);
