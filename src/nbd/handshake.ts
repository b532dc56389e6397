/**
 * The fixed-newstyle handshake, client side: greeting, client flags, then
 * options one at a time (the protocol allows no pipelining of options):
 * NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT for the contexts asked
 * for, and NBD_OPT_GO with an NBD_INFO_BLOCK_SIZE request, falling back to
 * NBD_OPT_EXPORT_NAME for servers without NBD_OPT_GO. Option error replies
 * become NbdOptionErrors; anything that breaks the protocol is `NBD_PROTOCOL`.
 *
 * The handshake is strictly request/response, so it reads exact byte counts
 * from a ByteReader rather than using the transmission-phase decoder.
 */
import {
  ClientFlag,
  DEFAULT_MIN_BLOCK,
  DEFAULT_PREFERRED_BLOCK,
  HandshakeFlag,
  Info,
  MAX_PAYLOAD,
  NBD_CLISERV_MAGIC,
  NBD_INIT_MAGIC,
  NBD_OPTS_MAGIC,
  NBD_REP_FLAG_ERROR,
  NBD_REP_MAGIC,
  OPTION_REPLY_HEADER_SIZE,
  Opt,
  Rep,
  RepErr,
} from './constants.js';
import { NbdClientError, NbdOptionError } from './errors.js';
import { ByteReader } from './byte-reader.js';
import { encodeGoData, encodeMetaContextData, encodeOption } from './wire.js';

/** Longest option reply accepted: names and messages are capped at 4096 bytes. */
const MAX_OPTION_REPLY = 64 * 1024;

const OPT_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Opt).map(([name, n]) => [n, `NBD_OPT_${name}`]),
);

export interface HandshakeOptions {
  exportName: string;
  /** Metadata contexts to select; every one must be granted. */
  metaContexts: readonly string[];
}

/** What the handshake learned about the export. */
export interface ExportInfo {
  exportName: string;
  size: number;
  /** Transmission flags (TransmissionFlag). */
  flags: number;
  minBlock: number;
  preferredBlock: number;
  /** The server's maximum payload, capped at 32 MiB. */
  maxPayload: number;
  structuredReplies: boolean;
  /** Selected metadata contexts: name to the id the server uses in block status chunks. */
  contexts: Map<string, number>;
  description?: string;
}

export interface HandshakeIo {
  reader: ByteReader;
  write(bytes: Buffer): void;
}

function protocol(message: string): NbdClientError {
  return new NbdClientError('NBD_PROTOCOL', `NBD handshake: ${message}`);
}

/** Greeting and client flags. Returns whether the server omits the EXPORT_NAME zeroes. */
export async function greet(io: HandshakeIo): Promise<{ noZeroes: boolean }> {
  const greeting = await io.reader.read(16);
  if (greeting.readBigUInt64BE(0) !== NBD_INIT_MAGIC) {
    throw protocol('the peer is not an NBD server (no NBDMAGIC)');
  }
  const magic = greeting.readBigUInt64BE(8);
  if (magic === NBD_CLISERV_MAGIC) {
    throw new NbdClientError(
      'NBD_UNSUPPORTED',
      'the NBD server speaks only the oldstyle handshake, which brankas does not support',
    );
  }
  if (magic !== NBD_OPTS_MAGIC) throw protocol(`unknown handshake magic 0x${magic.toString(16)}`);
  const serverFlags = (await io.reader.read(2)).readUInt16BE(0);
  if (!(serverFlags & HandshakeFlag.FIXED_NEWSTYLE)) {
    throw new NbdClientError(
      'NBD_UNSUPPORTED',
      'the NBD server does not support the fixed-newstyle handshake',
    );
  }
  const noZeroes = (serverFlags & HandshakeFlag.NO_ZEROES) !== 0;
  const clientFlags = Buffer.allocUnsafe(4);
  clientFlags.writeUInt32BE(ClientFlag.C_FIXED_NEWSTYLE | (noZeroes ? ClientFlag.C_NO_ZEROES : 0));
  io.write(clientFlags);
  return { noZeroes };
}

interface OptionReply {
  type: number;
  data: Buffer;
}

async function readOptionReply(io: HandshakeIo, option: number): Promise<OptionReply> {
  const head = await io.reader.read(OPTION_REPLY_HEADER_SIZE);
  if (head.readBigUInt64BE(0) !== NBD_REP_MAGIC) throw protocol('bad option reply magic');
  const replyTo = head.readUInt32BE(8);
  if (replyTo !== option) {
    throw protocol(`reply to option ${replyTo} while waiting for ${OPT_NAMES[option]}`);
  }
  const type = head.readUInt32BE(12);
  const length = head.readUInt32BE(16);
  if (length > MAX_OPTION_REPLY) throw protocol(`option reply of ${length} bytes`);
  const data = length > 0 ? await io.reader.read(length) : Buffer.alloc(0);
  return { type, data };
}

function isError(reply: OptionReply): boolean {
  return (reply.type & NBD_REP_FLAG_ERROR) !== 0;
}

function optionError(option: number, reply: OptionReply, context?: string): NbdOptionError {
  return new NbdOptionError(
    OPT_NAMES[option] ?? `option ${option}`,
    reply.type,
    reply.data.toString('utf8'),
    context,
  );
}

/** NBD_OPT_STRUCTURED_REPLY: true when granted, false when the server does not know it. */
async function negotiateStructuredReplies(io: HandshakeIo): Promise<boolean> {
  io.write(encodeOption(Opt.STRUCTURED_REPLY));
  const reply = await readOptionReply(io, Opt.STRUCTURED_REPLY);
  if (reply.type === Rep.ACK) return true;
  if (reply.type === RepErr.UNSUP) return false;
  if (isError(reply)) throw optionError(Opt.STRUCTURED_REPLY, reply);
  throw protocol(`reply type ${reply.type} to NBD_OPT_STRUCTURED_REPLY`);
}

/** NBD_OPT_SET_META_CONTEXT or _LIST_: the contexts the server replies with, name to id. */
async function metaContexts(
  io: HandshakeIo,
  option: typeof Opt.SET_META_CONTEXT | typeof Opt.LIST_META_CONTEXT,
  exportName: string,
  queries: readonly string[],
): Promise<Map<string, number>> {
  io.write(encodeOption(option, encodeMetaContextData(exportName, queries)));
  const contexts = new Map<string, number>();
  for (;;) {
    const reply = await readOptionReply(io, option);
    if (reply.type === Rep.ACK) return contexts;
    if (isError(reply)) throw optionError(option, reply, queries.join(', '));
    if (reply.type !== Rep.META_CONTEXT || reply.data.length < 4) {
      throw protocol(
        `reply type ${reply.type} (${reply.data.length} bytes) to ${OPT_NAMES[option]}`,
      );
    }
    contexts.set(reply.data.toString('utf8', 4), reply.data.readUInt32BE(0));
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function exportSize(buf: Buffer, at: number): number {
  const size = buf.readBigUInt64BE(at);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw protocol(`export size ${size} beyond 2^53`);
  return Number(size);
}

type GoResult = Omit<ExportInfo, 'exportName' | 'structuredReplies' | 'contexts'>;

/** NBD_OPT_GO; undefined when the server does not support it. */
async function go(io: HandshakeIo, exportName: string): Promise<GoResult | undefined> {
  io.write(encodeOption(Opt.GO, encodeGoData(exportName, [Info.BLOCK_SIZE])));
  let size: number | undefined;
  let flags = 0;
  let description: string | undefined;
  let minBlock = DEFAULT_MIN_BLOCK;
  let preferredBlock = DEFAULT_PREFERRED_BLOCK;
  let maxPayload = MAX_PAYLOAD;
  for (;;) {
    const reply = await readOptionReply(io, Opt.GO);
    if (reply.type === RepErr.UNSUP) return undefined;
    if (isError(reply)) throw optionError(Opt.GO, reply, `export '${exportName}'`);
    if (reply.type === Rep.ACK) break;
    if (reply.type !== Rep.INFO || reply.data.length < 2) {
      throw protocol(`reply type ${reply.type} to NBD_OPT_GO`);
    }
    const d = reply.data;
    switch (d.readUInt16BE(0)) {
      case Info.EXPORT:
        if (d.length !== 12) throw protocol(`NBD_INFO_EXPORT of ${d.length} bytes`);
        size = exportSize(d, 2);
        flags = d.readUInt16BE(10);
        break;
      case Info.BLOCK_SIZE:
        if (d.length !== 14) throw protocol(`NBD_INFO_BLOCK_SIZE of ${d.length} bytes`);
        minBlock = d.readUInt32BE(2);
        preferredBlock = d.readUInt32BE(6);
        maxPayload = d.readUInt32BE(10);
        if (
          !isPowerOfTwo(minBlock) ||
          minBlock > 65536 ||
          !isPowerOfTwo(preferredBlock) ||
          preferredBlock < Math.max(minBlock, 512) ||
          maxPayload < preferredBlock
        ) {
          throw protocol(`impossible block sizes ${minBlock}/${preferredBlock}/${maxPayload}`);
        }
        break;
      case Info.DESCRIPTION:
        description = d.toString('utf8', 2);
        break;
      default: // NBD_INFO_NAME and unknown information: nothing brankas needs
    }
  }
  if (size === undefined) throw protocol('NBD_OPT_GO succeeded without NBD_INFO_EXPORT');
  // Keep whole blocks in a payload, and no more than the protocol's safe bound.
  const cap = Math.min(maxPayload, MAX_PAYLOAD);
  maxPayload = cap - (cap % minBlock);
  return { size, flags, minBlock, preferredBlock, maxPayload, description };
}

/** NBD_OPT_EXPORT_NAME, for servers without NBD_OPT_GO: no error reply, a refusal hangs up. */
async function exportNameOption(
  io: HandshakeIo,
  name: string,
  noZeroes: boolean,
): Promise<GoResult> {
  io.write(encodeOption(Opt.EXPORT_NAME, Buffer.from(name, 'utf8')));
  const d = await io.reader.read(10 + (noZeroes ? 0 : 124));
  return {
    size: exportSize(d, 0),
    flags: d.readUInt16BE(8),
    minBlock: DEFAULT_MIN_BLOCK,
    preferredBlock: DEFAULT_PREFERRED_BLOCK,
    maxPayload: MAX_PAYLOAD,
  };
}

/** The whole handshake, up to the transmission phase. */
export async function negotiate(io: HandshakeIo, options: HandshakeOptions): Promise<ExportInfo> {
  const { noZeroes } = await greet(io);
  const structuredReplies = await negotiateStructuredReplies(io);
  let contexts = new Map<string, number>();
  if (options.metaContexts.length > 0) {
    if (!structuredReplies) {
      throw new NbdClientError(
        'NBD_UNSUPPORTED',
        'the NBD server has no structured replies, so no metadata contexts (block status)',
      );
    }
    contexts = await metaContexts(
      io,
      Opt.SET_META_CONTEXT,
      options.exportName,
      options.metaContexts,
    );
    const missing = options.metaContexts.filter((c) => !contexts.has(c));
    if (missing.length > 0) {
      const granted = [...contexts.keys()];
      throw new NbdClientError(
        'NBD_META_CONTEXT_UNAVAILABLE',
        `the NBD export '${options.exportName}' does not offer ${missing.join(', ')}` +
          ` (it granted ${granted.length > 0 ? granted.join(', ') : 'none'})`,
        { details: { missing, granted } },
      );
    }
  }
  const result =
    (await go(io, options.exportName)) ??
    (await exportNameOption(io, options.exportName, noZeroes));
  return { exportName: options.exportName, structuredReplies, contexts, ...result };
}

/**
 * Lists the metadata contexts an export offers for the given queries (all
 * when none), then aborts the session politely with NBD_OPT_ABORT.
 */
export async function listContexts(
  io: HandshakeIo,
  exportName: string,
  queries: readonly string[],
): Promise<string[]> {
  await greet(io);
  if (!(await negotiateStructuredReplies(io))) return [];
  const contexts = await metaContexts(io, Opt.LIST_META_CONTEXT, exportName, queries);
  io.write(encodeOption(Opt.ABORT));
  return [...contexts.keys()];
}

/**
 * Greets the server and leaves at once with NBD_OPT_ABORT: proves an NBD
 * server is up and answering, without the server logging a failed
 * negotiation. Resolves once the server acknowledged or hung up.
 */
export async function greetAndAbort(io: HandshakeIo): Promise<void> {
  await greet(io);
  io.write(encodeOption(Opt.ABORT));
  await readOptionReply(io, Opt.ABORT).catch(() => undefined);
}
