/**
 * Domain events. A subscription registers a server-side callback
 * (CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY); the daemon then sends
 * MESSAGE frames carrying the callback id, which are routed here by program
 * and procedure and handed to the subscriber that owns the id.
 */
import * as C from './calls.js';
import { EventMsg } from './calls.js';
import type { Connection } from './connection.js';
import { uuidString } from './connection.js';
import { decode, type Codec } from './xdr.js';
import { REMOTE_PROGRAM, RemoteProc } from './procedures.js';
import { DomainEventId, lifecycleEventName, type LifecycleEventName } from './flags.js';
import { typedParamsToRecord } from './types.js';
import type { Domain } from './domain.js';

export interface EventDomain {
  name: string;
  uuid: string;
}

export interface DomainEventMap {
  lifecycle: { domain: EventDomain; event: LifecycleEventName | string; detail: number };
  'block-job': { domain: EventDomain; disk: string; type: number; status: number };
  'job-completed': {
    domain: EventDomain;
    stats: Record<string, number | bigint | boolean | string>;
  };
}

interface Route<K extends keyof DomainEventMap> {
  eventId: number;
  procedure: number;
  parse(payload: Buffer): { callbackID: number; event: DomainEventMap[K] };
}

function route<T, K extends keyof DomainEventMap>(
  eventId: number,
  procedure: number,
  codec: Codec<T & { callbackID: number }>,
  map: (msg: T) => DomainEventMap[K],
): Route<K> {
  return {
    eventId,
    procedure,
    parse(payload) {
      const msg = decode(codec, payload);
      return { callbackID: msg.callbackID, event: map(msg) };
    },
  };
}

const ref = (d: { name: string; uuid: Buffer }): EventDomain => ({
  name: d.name,
  uuid: uuidString(d.uuid),
});

const ROUTES: { [K in keyof DomainEventMap]: Route<K> } = {
  lifecycle: route(
    DomainEventId.LIFECYCLE,
    RemoteProc.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
    EventMsg.LIFECYCLE,
    (m) => ({
      domain: ref(m.msg.dom),
      event: lifecycleEventName(m.msg.event),
      detail: m.msg.detail,
    }),
  ),
  'block-job': route(
    DomainEventId.BLOCK_JOB_2,
    RemoteProc.DOMAIN_EVENT_BLOCK_JOB_2,
    EventMsg.BLOCK_JOB_2,
    (m) => ({ domain: ref(m.dom), disk: m.dst, type: m.type, status: m.status }),
  ),
  'job-completed': route(
    DomainEventId.JOB_COMPLETED,
    RemoteProc.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED,
    EventMsg.JOB_COMPLETED,
    (m) => ({ domain: ref(m.dom), stats: typedParamsToRecord(m.params) }),
  ),
};

interface Registration {
  callbackID: number;
  handlers: Set<(payload: unknown) => void>;
}

/**
 * libvirt allows one registration per event kind and domain on a connection
 * ("event callback already tracked"): subscribers of the same kind and domain
 * share one server-side callback, deregistered when the last one leaves.
 */
export class EventHub {
  private readonly handlers = new Map<number, Set<(payload: unknown) => void>>();
  private readonly registrations = new Map<string, Promise<Registration>>();
  private readonly routed = new Set<string>();

  constructor(private readonly conn: Connection) {}

  async subscribe<K extends keyof DomainEventMap>(
    kind: K,
    handler: (event: DomainEventMap[K]) => void,
    domain?: Domain,
  ): Promise<() => Promise<void>> {
    const r = ROUTES[kind] as Route<K>;
    this.ensureRouted(kind, r);
    const key = `${kind} ${domain ? domain.uuid : '*'}`;
    let pending = this.registrations.get(key);
    if (!pending) {
      pending = (async () => {
        const { callbackID } = await this.conn.call(C.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY, {
          eventID: r.eventId,
          dom: domain ? domain.wire : null,
        });
        const handlers = new Set<(payload: unknown) => void>();
        this.handlers.set(callbackID, handlers);
        return { callbackID, handlers };
      })();
      this.registrations.set(key, pending);
      pending.catch(() => this.registrations.delete(key));
    }
    const reg = await pending;
    const own = (payload: unknown): void => handler(payload as DomainEventMap[K]);
    reg.handlers.add(own);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      reg.handlers.delete(own);
      if (reg.handlers.size > 0) return;
      this.registrations.delete(key);
      this.handlers.delete(reg.callbackID);
      if (this.conn.closed) return;
      await this.conn.call(C.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, {
        callbackID: reg.callbackID,
      });
    };
  }

  private ensureRouted<K extends keyof DomainEventMap>(kind: K, r: Route<K>): void {
    if (this.routed.has(kind)) return;
    this.routed.add(kind);
    this.conn.rpc.onMessage(REMOTE_PROGRAM, r.procedure, (payload) => {
      // A malformed event throws out of here into the dispatcher, which ends the connection.
      const { callbackID, event } = r.parse(payload);
      for (const h of this.handlers.get(callbackID) ?? []) h(event);
    });
  }
}
