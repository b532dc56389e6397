/**
 * brankas's libvirt client: libvirt's RPC protocol spoken directly over a
 * unix socket, TCP or SSH, without native bindings. Start with
 * `Connection.open(uri)`.
 */
export { Connection, unpackVersion, versionString, uuidString, uuidBytes } from './connection.js';
export type { ConnectOptions, Version } from './connection.js';
export { Domain } from './domain.js';
export type { DomainInfo, DomainStateInfo, BlockInfo, JobInfo } from './domain.js';
export { DomainSnapshot } from './snapshot.js';
export { DomainCheckpoint } from './checkpoint.js';
export { StoragePool, StorageVolume } from './storage.js';
export type { PoolInfo, VolumeInfo } from './storage.js';
export type { RpcStream, StreamItem } from './stream.js';
export type { DomainEventMap, EventDomain } from './events.js';
export * from './errors.js';
export * from './flags.js';
export { parseUri, DEFAULT_URI, SYSTEM_SOCKET, SYSTEM_SOCKET_RO } from './uri.js';
export type { ParsedUri, Transport } from './uri.js';
export { readDomainXml } from './domain-xml.js';
export type { DiskSpec, DomainXmlFacts } from './domain-xml.js';
