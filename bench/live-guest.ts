// What the live-backup benchmarks share (bench/live-backup.ts, live-impact.ts, live-builds.ts):
// the teardown of the domains they define, a data disk of mixed text and random pieces, a tiny
// guest booted with it as vdb, and scattered fsync'd writes from inside that guest.

import { chmod, copyFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { BOOT_TIMEOUT_MS, guestDomainXml } from '../src/engine/guest/tiny-guest.js';
import { READY_MARKER, SerialConsole } from '../src/engine/guest/serial-console.js';
import { Connection, DomainUndefine, type Domain } from '../src/libvirt/index.js';
import { prng } from '../src/util/testing/index.js';
import { log, lookupForRemoval, removeOrUndefine, run, Teardown } from './fixture.js';
import { randomStream, TextSource } from './mixed-data.js';

const PIECE = 4 * 1024 * 1024;
const WRITE = 256 * 1024;

/** A teardown that destroys and undefines (with snapshot and checkpoint records) what it defined. */
export function domainTeardown(): Teardown {
  const created: Teardown = new Teardown({
    announce: () => {
      if (created.domains.length > 0) log(`cleaning up ${created.domains.join(', ')}…`);
    },
    waitingMessage: 'cleanup: waiting for the command in flight to end…',
    removeDomains: async (uri) => {
      for (const name of created.domains) {
        await removeOrUndefine(uri, name, async () => {
          const conn = await Connection.open(uri, { callTimeoutMs: 120_000 });
          try {
            const dom = await lookupForRemoval(conn, name, created.unconfirmed.has(name));
            if (await dom.isActive()) await dom.destroy();
            await dom.undefine(
              DomainUndefine.SNAPSHOTS_METADATA | DomainUndefine.CHECKPOINTS_METADATA,
            );
          } finally {
            await conn.close().catch(() => undefined);
          }
        });
      }
    },
  });
  return created;
}

/**
 * `dir`/vdb.qcow2 of virtualSize bytes holding dataSize bytes in 4 MiB pieces, text and random by
 * turns, spread evenly over the disk.
 */
export async function mixedDataDisk(
  dir: string,
  virtualSize: number,
  dataSize: number,
): Promise<string> {
  const raw = join(dir, 'data.raw');
  const text = new TextSource(7);
  const random = randomStream(7);
  const buf = Buffer.allocUnsafe(PIECE);
  const pieces = dataSize / PIECE;
  const stride = Math.floor(virtualSize / pieces / PIECE) * PIECE;
  const fh = await open(raw, 'w');
  try {
    await fh.truncate(virtualSize);
    for (let i = 0; i < pieces; i++) {
      if (i % 2 === 0) text.fill(buf);
      else random(buf);
      await fh.write(buf, 0, PIECE, i * stride);
    }
  } finally {
    await fh.close();
  }
  const qcow2 = join(dir, 'vdb.qcow2');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  await run('rm', ['-f', raw]);
  await chmod(qcow2, 0o666);
  return qcow2;
}

/**
 * `count` dd writes of 256 KiB of /dev/urandom at scattered aligned offsets of vdb (a disk of
 * virtualSize bytes; offsets drawn from `seed`), each with fsync, then sync. Returns the seconds.
 */
export async function scatteredWrites(
  console: SerialConsole,
  virtualSize: number,
  count: number,
  seed: number,
): Promise<number> {
  const random = prng(seed);
  const slots = Math.floor(virtualSize / WRITE);
  const offsets = new Set<number>();
  while (offsets.size < count) offsets.add(Math.floor(random() * slots));
  const list = [...offsets];
  const start = performance.now();
  for (let i = 0; i < list.length; i += 25) {
    const batch = list.slice(i, i + 25).join(' ');
    const out = await console.run(
      `for o in ${batch}; do dd if=/dev/urandom of=/dev/vdb bs=262144 seek=$o count=1 conv=notrunc,fsync 2>/dev/null || echo WRITE-FAILED; done`,
      600_000,
    );
    if (out.includes('WRITE-FAILED')) throw new Error('a write inside the guest failed');
  }
  await console.run('sync', 600_000);
  return (performance.now() - start) / 1000;
}

export interface LiveGuest {
  name: string;
  domain: Domain;
  console: SerialConsole;
}

/** Defines (through `created`) and boots a guest with its own copies of the root and data disks. */
export async function launchGuest(
  created: Teardown,
  conn: Connection,
  images: { kernel: string; initrd: string; baseDisk: string },
  dir: string,
  name: string,
  dataDisk: string,
  o: { agent?: boolean } = {},
): Promise<LiveGuest> {
  const vda = join(dir, `${name}-vda.qcow2`);
  const vdb = join(dir, `${name}-vdb.qcow2`);
  await copyFile(images.baseDisk, vda);
  await copyFile(dataDisk, vdb);
  for (const f of [vda, vdb]) await chmod(f, 0o666);
  const serial = join(dir, `${name}.sock`);
  const domain = await created.define(
    conn,
    name,
    guestDomainXml({
      name,
      kernel: images.kernel,
      initrd: images.initrd,
      disks: [
        { path: vda, format: 'qcow2', target: 'vda' },
        { path: vdb, format: 'qcow2', target: 'vdb' },
      ],
      serialSocket: serial,
      memoryMiB: 256,
      ...(o.agent ? { agent: true } : {}),
    }),
  );
  await domain.start();
  const console = await SerialConsole.connect(serial, { timeoutMs: 10_000 });
  await console.waitFor(READY_MARKER, BOOT_TIMEOUT_MS);
  return { name, domain, console };
}
