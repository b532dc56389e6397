/**
 * Snapshots: short-term save points that depend on the VM's own disk files
 * ("a snapshot is not a backup"). List, create, revert, delete, with the
 * seed's guardrails.
 */
export * from './model.js';
export * from './tree.js';
export * from './guards.js';
export * from './create.js';
export * from './revert.js';
export * from './delete.js';
export * from './checkpoints.js';
