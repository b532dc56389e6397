/**
 * Connection: the typed face of one libvirt connection. It opens the
 * transport, runs the handshake (AUTH_LIST first, then auth, then
 * CONNECT_OPEN), turns keepalive on when the daemon supports it, and offers
 * the connection-level procedures. Domains, snapshots, checkpoints, pools and
 * volumes are objects bound to it.
 */
import * as C from './calls.js';
import type { Call } from './calls.js';
import { RpcClient, type CallOptions } from './rpc.js';
import { decode, encode } from './xdr.js';
import { LibvirtClientError, naming } from './errors.js';
import { AuthType, DrvFeature } from './procedures.js';
import { parseUri, DEFAULT_URI, type ParsedUri } from './uri.js';
import { SshError } from '../util/ssh.js';
import { openTransport } from './transport.js';
import { Domain, type DomainStateInfo } from './domain.js';
import { DomainStats, domainStateName } from './flags.js';
import { typedParamsToRecord } from './types.js';
import { StoragePool, StorageVolume } from './storage.js';
import { EventHub, type DomainEventMap } from './events.js';

export interface ConnectOptions {
  /** Ask for a read-only connection (uses the read-only socket locally). */
  readOnly?: boolean;
  /** Timeout of the connect and of the handshake, in ms. */
  connectTimeoutMs?: number;
  /** Default timeout of every call, in ms. */
  callTimeoutMs?: number;
  /** Keepalive ping interval (ms) and count; 0 turns keepalive off. */
  keepaliveIntervalMs?: number;
  keepaliveCount?: number;
}

export interface Version {
  major: number;
  minor: number;
  micro: number;
  /** libvirt's packed form: major * 1,000,000 + minor * 1,000 + micro. */
  packed: number;
}

export function unpackVersion(packed: bigint | number): Version {
  const n = Number(packed);
  return {
    major: Math.floor(n / 1_000_000),
    minor: Math.floor(n / 1_000) % 1_000,
    micro: n % 1_000,
    packed: n,
  };
}

export function versionString(v: Version): string {
  return `${v.major}.${v.minor}.${v.micro}`;
}

export class Connection {
  readonly events: EventHub;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly rpc: RpcClient,
    readonly uri: ParsedUri,
  ) {
    this.events = new EventHub(this);
  }

  /** Opens a connection to `uri` (default qemu:///system, or $LIBVIRT_DEFAULT_URI). */
  static async open(uri?: string, options: ConnectOptions = {}): Promise<Connection> {
    const chosen = uri ?? process.env['LIBVIRT_DEFAULT_URI'] ?? DEFAULT_URI;
    const parsed = parseUri(chosen, { readOnly: options.readOnly ?? false });
    const timeoutMs = options.connectTimeoutMs ?? 15_000;
    const socket = await openTransport(parsed, timeoutMs);
    const rpc = new RpcClient(socket, {
      callTimeoutMs: options.callTimeoutMs ?? 60_000,
      keepaliveIntervalMs: 0,
    });
    const conn = new Connection(rpc, parsed);
    try {
      await conn.handshake(timeoutMs, options);
    } catch (err) {
      rpc.destroy();
      // ssh's own failure (a refused key...) says more than the closed connection it caused.
      throw sshFailureIn(err) ?? err;
    }
    return conn;
  }

  private async handshake(timeoutMs: number, options: ConnectOptions): Promise<void> {
    const opts = { timeoutMs };
    const { types } = await this.call(C.AUTH_LIST, undefined, opts);
    if (!types.includes(AuthType.NONE)) {
      if (types.includes(AuthType.POLKIT)) {
        await this.call(C.AUTH_POLKIT, undefined, opts);
      } else {
        throw new LibvirtClientError(
          'LIBVIRT_AUTH_UNSUPPORTED',
          `the daemon at ${this.uri.uri} requires authentication brankas does not support ` +
            `(offered: ${types.map(authName).join(', ')}); use the local unix socket or ssh`,
        );
      }
    }
    await this.call(
      C.CONNECT_OPEN,
      { name: this.uri.name, flags: this.uri.readOnly ? 1 : 0 },
      opts,
    );
    const interval = options.keepaliveIntervalMs ?? 5_000;
    if (interval > 0) {
      const { supported } = await this.call(
        C.CONNECT_SUPPORTS_FEATURE,
        { feature: DrvFeature.PROGRAM_KEEPALIVE },
        opts,
      );
      if (supported) this.rpc.startKeepalive(interval, options.keepaliveCount ?? 5);
    }
  }

  /** Calls one procedure with typed arguments and result. */
  async call<A, R>(def: Call<A, R>, args: A, options: CallOptions = {}): Promise<R> {
    const payload = encode(def.args, args);
    const reply = await this.rpc.call(def.program, def.version, def.procedure, payload, {
      name: def.name,
      ...options,
    });
    return decode(def.ret, reply);
  }

  get closed(): boolean {
    return this.rpc.closed;
  }

  /** Closes politely (CONNECT_CLOSE, then the socket). Idempotent; never throws. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.rpc.closed) {
        try {
          await this.call(C.CONNECT_CLOSE, undefined, { timeoutMs: 2_000 });
        } catch {
          // Closing anyway: the daemon frees the connection when the socket ends.
        }
      }
      this.rpc.close();
    })();
    return this.closing;
  }

  /** Aborts the connection at once; pending calls reject. */
  destroy(err?: Error): void {
    this.rpc.destroy(err);
  }

  // Host

  async hostname(): Promise<string> {
    return (await this.call(C.CONNECT_GET_HOSTNAME, undefined)).value;
  }

  async hypervisorType(): Promise<string> {
    return (await this.call(C.CONNECT_GET_TYPE, undefined)).value;
  }

  /** The hypervisor's version (for QEMU, QEMU's own version). */
  async hypervisorVersion(): Promise<Version> {
    return unpackVersion((await this.call(C.CONNECT_GET_VERSION, undefined)).version);
  }

  /** The daemon's libvirt version. */
  async libVersion(): Promise<Version> {
    return unpackVersion((await this.call(C.CONNECT_GET_LIB_VERSION, undefined)).version);
  }

  async capabilities(): Promise<string> {
    return (await this.call(C.CONNECT_GET_CAPABILITIES, undefined)).value;
  }

  async supportsFeature(feature: number): Promise<boolean> {
    return (await this.call(C.CONNECT_SUPPORTS_FEATURE, { feature })).supported !== 0;
  }

  // Domains

  async listDomains(flags: number = 0): Promise<Domain[]> {
    const { domains } = await this.call(C.CONNECT_LIST_ALL_DOMAINS, { needResults: 1, flags });
    return domains.map((ref) => new Domain(this, ref));
  }

  /**
   * Every domain with its state, in one round trip (CONNECT_GET_ALL_DOMAIN_STATS with the
   * state group) instead of a DOMAIN_GET_STATE per domain after listing them.
   */
  async listDomainsWithState(): Promise<{ domain: Domain; state: DomainStateInfo }[]> {
    const { retStats } = await this.call(C.CONNECT_GET_ALL_DOMAIN_STATS, {
      doms: [],
      stats: DomainStats.STATE,
      flags: 0,
    });
    return retStats.map(({ dom, params }) => {
      const p = typedParamsToRecord(params);
      return {
        domain: new Domain(this, dom),
        state: {
          state: domainStateName(Number(p['state.state'])),
          reason: Number(p['state.reason']),
        },
      };
    });
  }

  async lookupDomain(name: string): Promise<Domain> {
    const { dom } = await naming('domain', name, this.call(C.DOMAIN_LOOKUP_BY_NAME, { name }));
    return new Domain(this, dom);
  }

  async lookupDomainByUuid(uuid: string | Buffer): Promise<Domain> {
    const { dom } = await naming(
      'domain with UUID',
      String(uuid),
      this.call(C.DOMAIN_LOOKUP_BY_UUID, { uuid: uuidBytes(uuid) }),
    );
    return new Domain(this, dom);
  }

  /** Defines (or redefines) a persistent domain from XML. */
  async defineDomain(xml: string, flags = 0, options: CallOptions = {}): Promise<Domain> {
    const { dom } = await this.call(C.DOMAIN_DEFINE_XML_FLAGS, { xml, flags }, options);
    return new Domain(this, dom);
  }

  /** Starts a transient domain from XML (gone when it stops). */
  async createDomain(xml: string, flags = 0): Promise<Domain> {
    const { dom } = await this.call(C.DOMAIN_CREATE_XML, { xml, flags });
    return new Domain(this, dom);
  }

  // Storage

  async listStoragePools(flags = 0): Promise<StoragePool[]> {
    const { pools } = await this.call(C.CONNECT_LIST_ALL_STORAGE_POOLS, { needResults: 1, flags });
    return pools.map((ref) => new StoragePool(this, ref));
  }

  async lookupStoragePool(name: string): Promise<StoragePool> {
    const { pool } = await naming(
      'storage pool',
      name,
      this.call(C.STORAGE_POOL_LOOKUP_BY_NAME, { name }),
    );
    return new StoragePool(this, pool);
  }

  async lookupStoragePoolByUuid(uuid: string | Buffer): Promise<StoragePool> {
    const { pool } = await this.call(C.STORAGE_POOL_LOOKUP_BY_UUID, { uuid: uuidBytes(uuid) });
    return new StoragePool(this, pool);
  }

  /** Defines a persistent pool (inactive until started). */
  async defineStoragePool(xml: string): Promise<StoragePool> {
    const { pool } = await this.call(C.STORAGE_POOL_DEFINE_XML, { xml, flags: 0 });
    return new StoragePool(this, pool);
  }

  /** Creates and starts a transient pool. */
  async createStoragePool(xml: string, flags = 0): Promise<StoragePool> {
    const { pool } = await this.call(C.STORAGE_POOL_CREATE_XML, { xml, flags });
    return new StoragePool(this, pool);
  }

  async lookupStorageVolumeByPath(path: string): Promise<StorageVolume> {
    const { vol } = await naming(
      'volume at',
      path,
      this.call(C.STORAGE_VOL_LOOKUP_BY_PATH, { path }),
    );
    return new StorageVolume(this, vol);
  }

  /** Subscribes to a kind of domain event (for one domain, or all). Resolves to an unsubscribe. */
  onDomainEvent<K extends keyof DomainEventMap>(
    kind: K,
    handler: (event: DomainEventMap[K]) => void,
    domain?: Domain,
  ): Promise<() => Promise<void>> {
    return this.events.subscribe(kind, handler, domain);
  }
}

function authName(t: number): string {
  return (
    Object.entries(AuthType)
      .find(([, v]) => v === t)?.[0]
      .toLowerCase() ?? `type ${t}`
  );
}

export function uuidBytes(uuid: string | Buffer): Buffer {
  if (Buffer.isBuffer(uuid)) return uuid;
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) {
    throw new LibvirtClientError('LIBVIRT_INVALID_ARGUMENT', `not a UUID: "${uuid}"`);
  }
  return Buffer.from(hex, 'hex');
}

export function uuidString(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function sshFailureIn(err: unknown): SshError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof SshError) return e;
  return undefined;
}
