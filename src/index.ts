/**
 * brankas as a library. The layers, each also importable on its own
 * (`brankas/libvirt`, `brankas/image`, `brankas/nbd`, `brankas/repo`,
 * `brankas/engine`, `brankas/service`): the libvirt RPC client, the disk data
 * plane, the backup repository, the engines built on them, and the service
 * (jobs, the per-VM lock, the journal).
 */
export * from './libvirt/index.js';
export * from './util/errors.js';
export * as image from './image/index.js';
export * as nbd from './nbd/index.js';
export * as repo from './repo/index.js';
export * from './engine/index.js';
export * as service from './service/index.js';
