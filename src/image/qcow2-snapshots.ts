/**
 * The qcow2 internal snapshot table: a list of variable-length entries at
 * snapshots_offset. Only listed, never read from: a backup reads the active
 * disk, and records the snapshots so a restore can say what was there.
 */
import { ImageCorruptError } from './errors.js';
import type { ImageFile } from './file.js';
import type { Qcow2Header } from './qcow2-header.js';

export interface InternalSnapshot {
  id: string;
  name: string;
  /** Size of the saved VM state (RAM, devices); 0 for disk-only snapshots. */
  vmStateSize: number;
  date: Date;
  /** Guest clock at the snapshot, in nanoseconds. */
  vmClockNs: number;
  /** Virtual disk size when the snapshot was taken. */
  diskSize: number;
  l1TableOffset: number;
  l1Size: number;
}

const ENTRY_HEADER = 40;
/** QEMU's limit on the whole table. */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;
const MAX_EXTRA_DATA = 1024;

export async function readSnapshots(file: ImageFile, h: Qcow2Header): Promise<InternalSnapshot[]> {
  if (h.nbSnapshots === 0) return [];
  const path = file.path;
  // Entries are small; read the table in generous pieces rather than one read per field.
  const avail = Math.min(MAX_TABLE_BYTES, file.size - h.snapshotsOffset);
  if (avail <= 0)
    throw new ImageCorruptError(path, 'snapshot table starts past the end of the file');
  const table = await file.readExact(
    h.snapshotsOffset,
    Math.min(avail, h.nbSnapshots * 1024 + 4096),
    'snapshot table',
  );
  let buf = table;
  const out: InternalSnapshot[] = [];
  let at = 0;
  for (let i = 0; i < h.nbSnapshots; i++) {
    const need = async (n: number): Promise<void> => {
      if (at + n <= buf.length) return;
      if (at + n > avail)
        throw new ImageCorruptError(
          path,
          `snapshot table entry ${i} extends past the end of the file`,
        );
      buf = await file.readExact(
        h.snapshotsOffset,
        Math.min(avail, Math.max(at + n, buf.length * 2)),
        'snapshot table',
      );
    };
    await need(ENTRY_HEADER);
    const l1TableOffset = Number(buf.readBigUInt64BE(at));
    const l1Size = buf.readUInt32BE(at + 8);
    const idSize = buf.readUInt16BE(at + 12);
    const nameSize = buf.readUInt16BE(at + 14);
    const dateSec = buf.readUInt32BE(at + 16);
    const dateNsec = buf.readUInt32BE(at + 20);
    const vmClockNs = Number(buf.readBigUInt64BE(at + 24));
    let vmStateSize = buf.readUInt32BE(at + 32);
    const extraSize = buf.readUInt32BE(at + 36);
    if (extraSize > MAX_EXTRA_DATA)
      throw new ImageCorruptError(path, `snapshot ${i} has ${extraSize} bytes of extra data`);
    const total = ENTRY_HEADER + extraSize + idSize + nameSize;
    await need(total);
    const extra = at + ENTRY_HEADER;
    let diskSize = h.virtualSize;
    if (extraSize >= 8) vmStateSize = Number(buf.readBigUInt64BE(extra));
    if (extraSize >= 16) diskSize = Number(buf.readBigUInt64BE(extra + 8));
    const idAt = extra + extraSize;
    out.push({
      id: buf.toString('utf8', idAt, idAt + idSize),
      name: buf.toString('utf8', idAt + idSize, idAt + idSize + nameSize),
      vmStateSize,
      date: new Date(dateSec * 1000 + Math.floor(dateNsec / 1e6)),
      vmClockNs,
      diskSize,
      l1TableOffset,
      l1Size,
    });
    at += Math.ceil(total / 8) * 8;
  }
  return out;
}
