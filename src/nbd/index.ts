/**
 * brankas's NBD client: the NBD protocol spoken directly over a unix socket or
 * TCP, a DiskReader over an export, and a qemu-nbd manager to export local
 * images. Start with `NbdClient.connect()`, `NbdDiskReader.open()` or
 * `openImageOverNbd()`. Its server side, `NbdServer.listen()`, serves any
 * `NbdExport` read-only.
 */
export { NbdClient } from './client.js';
export type {
  NbdClientOptions,
  NbdConnectOptions,
  RequestOptions,
  StatusExtent,
  WriteOptions,
  WriteZeroesOptions,
} from './client.js';
export type { ExportInfo } from './handshake.js';
export type { NbdTarget } from './transport.js';
export { NbdDiskReader, extentKind } from './reader.js';
export type { NbdDiskReaderOptions, Range } from './reader.js';
export { QemuNbd, liveQemuNbdCount } from './qemu-nbd.js';
export type { QemuNbdOptions } from './qemu-nbd.js';
export { openImageOverNbd } from './open-image.js';
export { RemoteQemuNbd, openRemoteImage, openRemoteImageOverNbd } from './remote-qemu-nbd.js';
export type { RemoteImageOptions, RemoteQemuNbdOptions } from './remote-qemu-nbd.js';
export type { OpenImageOptions } from './open-image.js';
export {
  CONTEXT_ALLOCATION_DEPTH,
  CONTEXT_BASE_ALLOCATION,
  NBD_STATE_DIRTY,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  dirtyBitmapContext,
} from './constants.js';
export * from './errors.js';
export { NbdServer } from './server/server.js';
export type { NbdServerOptions } from './server/server.js';
export type { ExportExtent, ExportExtentKind, NbdExport } from './server/types.js';
