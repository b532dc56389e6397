/** Serving a backup's disk over NBD: see mount.ts. */
export { mountBackup, nbdUri, type Mount, type MountInfo, type MountOptions } from './mount.js';
export { BackupExport } from './backup-export.js';
