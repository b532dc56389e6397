/**
 * `brankas demo`: the whole tutorial on a throwaway tiny guest (snapshot
 * life cycle, thin provisioning, cold backup, the disaster and the restore,
 * the restore test), printed as it happens in English or Indonesian.
 */
import { Demo, type DemoEvent } from '../../engine/lab/demo.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { powerLine } from './backup.js';
import { printLabStep } from './lab.js';
import { concludeThin, printThinStep } from './lab-thin.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'The whole tutorial on a throwaway guest: snapshots, thin provisioning, backup, restore',
  usage: 'brankas demo [--dir DIR] [--skip-thin] [--json] [--lang id]',
  help:
    'Boots a tiny guest (built the first time), performs Experiment 1 (snapshot life cycle),\n' +
    'Experiment 2 (thin provisioning, in a temporary pool), a cold backup into a fresh encrypted\n' +
    'repository, a disaster (the disk file deleted: the snapshot cannot help, the backup can),\n' +
    'the restore, and the restore test (verify --boot). Its working files go in a fresh\n' +
    'directory under DIR (default /var/tmp). Everything it made is removed at the end.',
  options: { dir: { type: 'string' }, 'skip-thin': { type: 'boolean' } },
  async run(ctx, { values }) {
    const events: DemoEvent[] = [];
    const demo = new Demo(await ctx.connect(), {
      ...(typeof values['dir'] === 'string' ? { parentDir: values['dir'] } : {}),
      skipThin: values['skip-thin'] === true,
      signal: ctx.signal(),
      onEvent: (e) => {
        events.push(e);
        if (!ctx.json) say(ctx, e);
      },
    });
    if (!ctx.json) {
      ctx.print(ctx.t('demo.title'));
      ctx.print(ctx.t('demo.booting'));
    }
    const stopListening = ctx.onInterrupt(() => demo.cleanup());
    try {
      const result = await demo.run();
      if (ctx.json) {
        ctx.printJson({ ...result, events });
      } else {
        ctx.print();
        ctx.print(
          ctx.t(result.passed ? 'demo.passed' : 'demo.failed', {
            seconds: result.seconds.toFixed(0),
          }),
        );
      }
      return result.passed ? 0 : 1;
    } finally {
      stopListening();
    }
  },
};

function say(ctx: CliContext, e: DemoEvent): void {
  switch (e.kind) {
    case 'guest-ready':
      return ctx.print(ctx.t('demo.guestReady', { vm: e.vm, seconds: e.seconds.toFixed(1) }));
    case 'part':
      ctx.print();
      ctx.print(ctx.t(`demo.part.${e.part}`));
      if (e.part === 'snapshot') {
        ctx.print(ctx.t('lab.hypothesis'));
      } else if (e.part === 'thin') {
        ctx.print(ctx.t('thin.hypothesis'));
      }
      return;
    case 'lab':
      return printLabStep(ctx, e.step);
    case 'lab-result':
      ctx.print(ctx.t(e.result.confirmed ? 'lab.confirmed' : 'lab.refuted'));
      return;
    case 'thin':
      return printThinStep(ctx, e.step);
    case 'thin-result':
      ctx.print();
      return concludeThin(ctx, e.result.empty, e.result.written, e.result.writeBytes);
    case 'repo-created':
      return ctx.print(ctx.t('demo.repoCreated', { path: e.path }));
    case 'files-written':
      return ctx.print(ctx.t('demo.filesWritten', { checksums: indent(e.checksums) }));
    case 'snapshot-taken':
      return ctx.print(ctx.t('demo.snapshotTaken', { name: e.snapshot }));
    case 'power':
      return ctx.print(powerLine(ctx, e.event));
    case 'backed-up':
      return ctx.print(
        ctx.t('demo.backedUp', {
          id: e.id,
          read: formatBytes(e.readBytes),
          stored: formatBytes(e.newStoredBytes),
          seconds: e.seconds.toFixed(1),
        }),
      );
    case 'disk-deleted':
      return ctx.print(ctx.t('demo.diskDeleted', { path: e.path }));
    case 'revert-failed':
      return ctx.print(ctx.t('demo.revertFailed', { name: e.snapshot, message: e.message }));
    case 'revert-succeeded':
      return ctx.print(ctx.t('demo.revertSucceeded', { name: e.snapshot }));
    case 'restored':
      return ctx.print(ctx.t('demo.restored', { id: e.id, seconds: e.seconds.toFixed(1) }));
    case 'files-compared':
      return ctx.print(
        ctx.t(e.same ? 'demo.filesSame' : 'demo.filesDiffer', { checksums: indent(e.checksums) }),
      );
    case 'verified':
      return ctx.print(
        e.result.passed
          ? ctx.t('demo.verifyPassed', {
              id: e.result.backup,
              seconds: e.result.seconds.toFixed(1),
            })
          : ctx.t('demo.verifyFailed', { id: e.result.backup, reason: e.result.reason ?? '' }),
      );
    case 'cleaned-up':
      ctx.print();
      return ctx.print(ctx.t('demo.cleaned'));
  }
}

function indent(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
