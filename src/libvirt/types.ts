/**
 * XDR types shared by many procedures: libvirt's object references
 * (remote_nonnull_domain and friends), strings, typed parameters and the
 * error structure. Sizes are the bounds from remote_protocol.x; decoding
 * refuses anything larger.
 */
import {
  array,
  decode,
  double,
  fixedOpaque,
  hyper,
  int,
  optional,
  string,
  struct,
  uhyper,
  uint,
  XdrError,
  type Codec,
  type Of,
} from './xdr.js';
import type { RemoteErrorInfo } from './errors.js';

export const STRING_MAX = 4194304;
export const LIST_MAX = 65536;
export const UUID_LENGTH = 16;

export const str = string(STRING_MAX);
export const optStr = optional(str);
export const uuid = fixedOpaque(UUID_LENGTH);

export const domainRef = struct({ name: str, uuid, id: int });
export type DomainRef = Of<typeof domainRef>;
export const optDomainRef = optional(domainRef);

export const snapshotRef = struct({ name: str, dom: domainRef });
export type SnapshotRef = Of<typeof snapshotRef>;

export const checkpointRef = struct({ name: str, dom: domainRef });
export type CheckpointRef = Of<typeof checkpointRef>;

export const poolRef = struct({ name: str, uuid });
export type PoolRef = Of<typeof poolRef>;

export const volRef = struct({ pool: str, name: str, key: str });
export type VolRef = Of<typeof volRef>;

const networkRef = struct({ name: str, uuid });

export const remoteError = struct({
  code: int,
  domain: int,
  message: optStr,
  level: int,
  dom: optDomainRef,
  str1: optStr,
  str2: optStr,
  str3: optStr,
  int1: int,
  int2: int,
  net: optional(networkRef),
});

export function decodeRemoteError(payload: Buffer): RemoteErrorInfo {
  return decode(remoteError, payload);
}

/** A typed parameter value (virTypedParameter), tagged with its type. */
export type TypedValue =
  | { type: 'int' | 'uint' | 'double'; value: number }
  | { type: 'llong' | 'ullong'; value: bigint }
  | { type: 'boolean'; value: boolean }
  | { type: 'string'; value: string };

const TYPED_TAGS = ['', 'int', 'uint', 'llong', 'ullong', 'double', 'boolean', 'string'] as const;

const typedValue: Codec<TypedValue> = {
  encode(w, v) {
    const tag = TYPED_TAGS.indexOf(v.type);
    w.int(tag);
    switch (v.type) {
      case 'int':
        return w.int(v.value);
      case 'uint':
        return w.uint(v.value);
      case 'double':
        return w.double(v.value);
      case 'llong':
        return w.hyper(v.value);
      case 'ullong':
        return w.uhyper(v.value);
      case 'boolean':
        return w.int(v.value ? 1 : 0);
      case 'string':
        return str.encode(w, v.value);
    }
  },
  decode(r) {
    const tag = r.int();
    switch (TYPED_TAGS[tag]) {
      case 'int':
        return { type: 'int', value: int.decode(r) };
      case 'uint':
        return { type: 'uint', value: uint.decode(r) };
      case 'llong':
        return { type: 'llong', value: hyper.decode(r) };
      case 'ullong':
        return { type: 'ullong', value: uhyper.decode(r) };
      case 'double':
        return { type: 'double', value: double.decode(r) };
      case 'boolean':
        return { type: 'boolean', value: int.decode(r) !== 0 };
      case 'string':
        return { type: 'string', value: str.decode(r) };
      default:
        throw new XdrError(`unknown typed parameter type ${tag}`);
    }
  },
};

export const typedParam = struct({ field: str, value: typedValue });
export const typedParams = array(typedParam, LIST_MAX);
export type TypedParams = Of<typeof typedParams>;

/** Typed parameters as a plain record: bigints stay bigints. */
export function typedParamsToRecord(
  params: TypedParams,
): Record<string, number | bigint | boolean | string> {
  const out: Record<string, number | bigint | boolean | string> = {};
  for (const p of params) out[p.field] = p.value.value;
  return out;
}
