/**
 * The server's side of the fixed-newstyle handshake: the greeting, then option
 * after option until the client picks an export (NBD_OPT_GO or
 * NBD_OPT_EXPORT_NAME) or leaves (NBD_OPT_ABORT). Options brankas does not
 * know are answered NBD_REP_ERR_UNSUP; malformed input throws (the connection
 * is closed, the server goes on).
 */
import type { ByteReader } from '../byte-reader.js';
import {
  ClientFlag,
  CONTEXT_BASE_ALLOCATION,
  DEFAULT_PREFERRED_BLOCK,
  Info,
  MAX_PAYLOAD,
  MAX_STRING,
  NBD_OPTS_MAGIC,
  Opt,
  Rep,
  RepErr,
  TransmissionFlag,
} from '../constants.js';
import { NbdServerError } from '../errors.js';
import type { NbdExport } from './types.js';
import {
  encodeExportNameReply,
  encodeGreeting,
  encodeOptionReply,
  infoBlockSize,
  infoExport,
  infoText,
  lengthPrefixed,
} from './wire.js';

/** Option data larger than this is not an honest client (the longest legal one is a few names). */
const MAX_OPTION_DATA = 64 * 1024;
/** The id of `base:allocation` in NBD_REPLY_TYPE_BLOCK_STATUS chunks. */
export const BASE_ALLOCATION_ID = 1;

/** Read-only, flush accepted, several connections see the same bytes. */
export const EXPORT_FLAGS =
  TransmissionFlag.HAS_FLAGS |
  TransmissionFlag.READ_ONLY |
  TransmissionFlag.SEND_FLUSH |
  TransmissionFlag.CAN_MULTI_CONN;

export interface Exports {
  /** The export NBD_OPT_LIST names; '' also opens it. */
  name: string;
  export: NbdExport;
}

export interface Negotiated {
  export: NbdExport;
  structured: boolean;
  /** base:allocation selected with NBD_OPT_SET_META_CONTEXT. */
  baseAllocation: boolean;
}

export interface HandshakeIo {
  input: ByteReader;
  send(data: Buffer): void;
}

export function misbehaved(message: string): NbdServerError {
  return new NbdServerError('NBD_CLIENT_MISBEHAVED', message, { details: { message } });
}

/** Runs the handshake; null when the client aborted it. */
export async function serveHandshake(io: HandshakeIo, ex: Exports): Promise<Negotiated | null> {
  io.send(encodeGreeting());
  const clientFlags = (await io.input.read(4)).readUInt32BE(0);
  if (!(clientFlags & ClientFlag.C_FIXED_NEWSTYLE)) {
    throw misbehaved('client does not speak fixed newstyle');
  }
  if (clientFlags & ~(ClientFlag.C_FIXED_NEWSTYLE | ClientFlag.C_NO_ZEROES)) {
    throw misbehaved(`unknown client flags 0x${clientFlags.toString(16)}`);
  }
  const zeroes = !(clientFlags & ClientFlag.C_NO_ZEROES);
  const state = { structured: false, baseAllocation: false };
  for (;;) {
    const head = await io.input.read(16);
    if (head.readBigUInt64BE(0) !== NBD_OPTS_MAGIC) throw misbehaved('bad option magic');
    const option = head.readUInt32BE(8);
    const length = head.readUInt32BE(12);
    if (length > MAX_OPTION_DATA) throw misbehaved(`option data of ${length} bytes`);
    const data = length ? Buffer.from(await io.input.read(length)) : Buffer.alloc(0);
    const reply = (type: number, body?: Uint8Array): void =>
      io.send(encodeOptionReply(option, type, body));
    const error = (type: number, message: string): void =>
      reply(type, Buffer.from(message, 'utf8'));
    switch (option) {
      case Opt.EXPORT_NAME: {
        // No error reply is possible here: an unknown name closes the connection.
        if (!knownName(data.toString('utf8'), ex)) throw misbehaved('unknown export name');
        io.send(encodeExportNameReply(ex.export.size, EXPORT_FLAGS, zeroes));
        return { export: ex.export, ...state };
      }
      case Opt.ABORT:
        reply(Rep.ACK);
        return null;
      case Opt.LIST:
        if (length) error(RepErr.INVALID, 'NBD_OPT_LIST takes no data');
        else {
          reply(Rep.SERVER, lengthPrefixed(ex.name));
          reply(Rep.ACK);
        }
        break;
      case Opt.STRUCTURED_REPLY:
        if (length) error(RepErr.INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        else {
          state.structured = true;
          reply(Rep.ACK);
        }
        break;
      case Opt.INFO:
      case Opt.GO: {
        const req = parseGo(data);
        if (!req) {
          error(RepErr.INVALID, 'malformed NBD_OPT_INFO/GO data');
          break;
        }
        if (!knownName(req.name, ex)) {
          error(RepErr.UNKNOWN, `no export named '${req.name}' (try '${ex.name}')`);
          break;
        }
        reply(Rep.INFO, infoExport(ex.export.size, EXPORT_FLAGS));
        for (const info of new Set(req.infos)) {
          if (info === Info.NAME) reply(Rep.INFO, infoText(Info.NAME, ex.name));
          if (info === Info.DESCRIPTION && ex.export.description) {
            reply(Rep.INFO, infoText(Info.DESCRIPTION, ex.export.description));
          }
        }
        // Always sent: reads of any alignment are served, up to the protocol's payload bound.
        reply(Rep.INFO, infoBlockSize(1, DEFAULT_PREFERRED_BLOCK, MAX_PAYLOAD));
        reply(Rep.ACK);
        if (option === Opt.GO) return { export: ex.export, ...state };
        break;
      }
      case Opt.LIST_META_CONTEXT:
      case Opt.SET_META_CONTEXT: {
        const req = parseMeta(data);
        if (!req) {
          error(RepErr.INVALID, 'malformed meta context data');
          break;
        }
        const set = option === Opt.SET_META_CONTEXT;
        if (set && !state.structured) {
          error(RepErr.INVALID, 'NBD_OPT_SET_META_CONTEXT needs structured replies first');
          break;
        }
        if (!knownName(req.name, ex)) {
          error(RepErr.UNKNOWN, `no export named '${req.name}'`);
          break;
        }
        const offered = set
          ? req.queries.some((q) => q === CONTEXT_BASE_ALLOCATION)
          : req.queries.length === 0 ||
            req.queries.some((q) => q === 'base:' || q === CONTEXT_BASE_ALLOCATION);
        if (set) state.baseAllocation = offered;
        if (offered) {
          const id = Buffer.allocUnsafe(4);
          id.writeUInt32BE(set ? BASE_ALLOCATION_ID : 0, 0);
          reply(Rep.META_CONTEXT, Buffer.concat([id, Buffer.from(CONTEXT_BASE_ALLOCATION)]));
        }
        reply(Rep.ACK);
        break;
      }
      default:
        // STARTTLS included: brankas serves on loopback and unix sockets only.
        error(RepErr.UNSUP, `option ${option} is not supported`);
    }
  }
}

function knownName(name: string, ex: Exports): boolean {
  return name === '' || name === ex.name;
}

/** A length-prefixed string at `at`, or null when it does not fit. */
function stringAt(data: Buffer, at: number): { s: string; next: number } | null {
  if (at + 4 > data.length) return null;
  const n = data.readUInt32BE(at);
  if (n > MAX_STRING || at + 4 + n > data.length) return null;
  return { s: data.toString('utf8', at + 4, at + 4 + n), next: at + 4 + n };
}

function parseGo(data: Buffer): { name: string; infos: number[] } | null {
  const name = stringAt(data, 0);
  if (!name || name.next + 2 > data.length) return null;
  const count = data.readUInt16BE(name.next);
  if (name.next + 2 + 2 * count !== data.length) return null;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(name.next + 2 + 2 * i));
  return { name: name.s, infos };
}

function parseMeta(data: Buffer): { name: string; queries: string[] } | null {
  const name = stringAt(data, 0);
  if (!name || name.next + 4 > data.length) return null;
  const count = data.readUInt32BE(name.next);
  const queries: string[] = [];
  let at = name.next + 4;
  for (let i = 0; i < count; i++) {
    const q = stringAt(data, at);
    if (!q) return null;
    queries.push(q.s);
    at = q.next;
  }
  return at === data.length ? { name: name.s, queries } : null;
}
