/**
 * brankas as a library. The layers, each also importable on its own
 * (`brankas/libvirt`, `brankas/image`, `brankas/nbd`, `brankas/repo`,
 * `brankas/engine`): the libvirt RPC client, the disk data plane, the backup
 * repository, and the engines built on them.
 */
export * from './libvirt/index.js';
export * from './util/errors.js';
export * as image from './image/index.js';
export * as nbd from './nbd/index.js';
export * as repo from './repo/index.js';
export * from './engine/index.js';
