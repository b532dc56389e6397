/**
 * `brankas lab snapshot-lifecycle`: the seed's Experiment 1, performed on a
 * throwaway tiny guest (or on a given VM through its guest agent), printed
 * step by step with the observation and the explanation.
 */
import { randomBytes } from 'node:crypto';
import { snapshotLifecycle, type LabStep } from '../../engine/lab/snapshot-lifecycle.js';
import { TinyGuest } from '../../engine/guest/tiny-guest.js';
import { AgentShell } from '../../engine/guest/agent-shell.js';
import { findVm } from '../../engine/snapshot/tree.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';

export const labSnapshotLifecycle: Command = {
  name: 'lab snapshot-lifecycle',
  summary: "Experiment 1 of the tutorial: a snapshot's life cycle, on a throwaway guest",
  usage: 'brankas lab snapshot-lifecycle [--vm NAME [--dir DIR]] [--json] [--lang id]',
  help:
    'Without --vm, a tiny guest is built (first time only), booted, used and removed.\n' +
    'With --vm, the experiment runs on that VM through its QEMU guest agent, in DIR (default /),\n' +
    'and takes and deletes a snapshot named snap-awal on it.',
  options: { vm: { type: 'string' }, dir: { type: 'string' } },
  async run(ctx, { values }) {
    const conn = await ctx.connect();
    const steps: LabStep[] = [];
    const onStep = (s: LabStep): void => {
      steps.push(s);
      if (!ctx.json) printLabStep(ctx, s);
    };
    let guest: TinyGuest | undefined;
    let launching: Promise<TinyGuest> | undefined;
    // A guest still booting when a signal comes is waited for (launch removes it when stopped).
    const cleanup = async (): Promise<void> => {
      const g = guest ?? (await launching?.catch(() => undefined));
      guest = launching = undefined;
      await g?.dispose();
    };
    const stopListening = ctx.onInterrupt(() => cleanup());
    try {
      let result;
      if (values['vm']) {
        const vm = await findVm(conn, values['vm'] as string);
        intro(ctx, vm.name);
        result = await snapshotLifecycle(vm, new AgentShell(vm), {
          dir: (values['dir'] as string | undefined) ?? '/',
          onStep,
        });
      } else {
        const name = `brankas-lab-${randomBytes(3).toString('hex')}`;
        if (!ctx.json) ctx.print(ctx.t('lab.booting', { name }));
        launching = TinyGuest.launch(conn, { name, signal: ctx.signal() });
        guest = await launching;
        intro(ctx, name);
        result = await snapshotLifecycle(guest.domain, guest.shell(), { dir: '/data', onStep });
      }
      await cleanup();
      if (ctx.json) return ctx.printJson({ ...result, steps });
      ctx.print();
      ctx.print(ctx.t(result.confirmed ? 'lab.confirmed' : 'lab.refuted'));
      ctx.print();
      ctx.print(ctx.t('lab.why'));
      return result.confirmed ? 0 : 1;
    } finally {
      await cleanup();
      stopListening();
    }
  },
};

function intro(ctx: CliContext, vm: string): void {
  if (ctx.json) return;
  ctx.print(ctx.t('lab.title', { vm }));
  ctx.print(ctx.t('lab.hypothesis'));
  ctx.print();
}

export function printLabStep(ctx: CliContext, s: LabStep): void {
  switch (s.step) {
    case 'file-created':
      return ctx.print(ctx.t('lab.step1', { file: s.file, listing: s.listing.join(' ') }));
    case 'snapshot-taken':
      return ctx.print(ctx.t('lab.step2', { name: s.snapshot, seconds: s.seconds.toFixed(1) }));
    case 'second-file-created':
      return ctx.print(ctx.t('lab.step3', { file: s.file, listing: s.listing.join(' ') }));
    case 'reverted':
      return ctx.print(ctx.t('lab.step4', { name: s.snapshot, seconds: s.seconds.toFixed(1) }));
    case 'observed':
      return ctx.print(ctx.t('lab.step5', { listing: s.listing.join(' ') || '-' }));
    case 'cleaned-up':
      return ctx.print(ctx.t('lab.cleaned'));
  }
}

export const labCommands = [labSnapshotLifecycle];
