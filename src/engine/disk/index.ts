/**
 * The disk engines: measuring images and VM disks (inspect), storage volumes
 * (volume), and size parsing. Nothing here prints.
 */
export * from './errors.js';
export * from './inspect.js';
export * from './size.js';
export * from './volume.js';
