/**
 * The overview: every VM with its power state, the age of its last backup, its schedule (the
 * policies covering it and the next run), the result of its last restore test, and its warnings:
 * no schedule, snapshots but no backup, a backup older than its schedule allows, a failed last
 * job. "Which VMs are not safe" at a glance.
 */
import { api } from './api.js';
import { age, bytes, h, seconds } from './dom.js';
import { t, type Key } from './i18n.js';
import type { Job } from './job-view.js';
import { kindText } from './job-view.js';

export interface Verification {
  passed: boolean;
  how: 'data' | 'boot' | null;
  at: string | null;
  reason: string | null;
}

export interface BackupRow {
  id: string;
  vm: string;
  time: string;
  method: string;
  disks: string[];
  diskBytes: { name: string; virtualSize: number; dataBytes: number }[];
  logicalBytes: number;
  dataBytes: number;
  verification: Verification | null;
}

interface VmSchedule {
  policies: string[];
  nextRun: string | null;
  everySeconds: number | null;
}

interface VmRow {
  name: string;
  state: string;
  snapshotCount: number;
  lastBackup: BackupRow | null;
  schedule: VmSchedule | null;
}

/**
 * A backup is late once its schedule's period has passed and half a period more: one run
 * missed, with room for a run that is still under way.
 */
export function isLate(lastBackup: string, everySeconds: number, now = Date.now()): boolean {
  return now - Date.parse(lastBackup) > everySeconds * 1500;
}

/** "1 d", "6 h", "15 min": a schedule's period. */
function every(s: number): string {
  if (s % 86_400 === 0) return `${s / 86_400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  return seconds(s);
}

export function badge(v: Verification | null): HTMLElement {
  if (!v)
    return h('span', { class: 'badge untested', 'data-badge': 'untested' }, t('badge.untested'));
  const how = v.how ? ` (${t(v.how === 'boot' ? 'badge.boot' : 'badge.data')})` : '';
  return h(
    'span',
    {
      class: `badge ${v.passed ? 'passed' : 'failed'}`,
      'data-badge': v.passed ? 'passed' : 'failed',
      title: v.reason ?? v.at ?? '',
    },
    t(v.passed ? 'badge.passed' : 'badge.failed') + how,
  );
}

export function stateText(s: string): string {
  return ['running', 'shutoff', 'paused'].includes(s) ? t(`state.${s}` as Key) : s;
}

export async function overviewPage(): Promise<HTMLElement> {
  const [{ vms }, { jobs }, { backups }, repo] = await Promise.all([
    api<{ vms: VmRow[] }>('/vms'),
    api<{ jobs: Job[] }>('/jobs?limit=200'),
    api<{ backups: BackupRow[] }>('/backups'),
    api<{ space: { freeBytes: number; totalBytes: number; nearlyFull: boolean } | null }>(
      '/repo/space',
    ),
  ]);
  const full = repo.space?.nearlyFull
    ? h(
        'p',
        { class: 'warnings', role: 'alert', id: 'repo-full' },
        t('warn.repoFullText', {
          free: bytes(repo.space.freeBytes),
          total: bytes(repo.space.totalBytes),
        }),
      )
    : '';
  if (vms.length === 0) return h('p', {}, t('overview.noVms'));
  const rows = vms.map((vm) => {
    const last = vm.lastBackup;
    // The last restore test of any of the VM's backups, newest backup first.
    const tested = backups.filter((b) => b.vm === vm.name && b.verification).at(-1);
    const warnings: string[] = [];
    if (vm.snapshotCount > 0 && !last)
      warnings.push(t('warn.noBackup', { count: vm.snapshotCount }));
    const sched = vm.schedule;
    if (!sched) warnings.push(t('warn.noSchedule'));
    if (last && sched?.everySeconds && isLate(last.time, sched.everySeconds)) {
      warnings.push(t('warn.old', { every: every(sched.everySeconds) }));
    }
    const lastJob = jobs.find((j) => j.vm === vm.name && j.endedAt !== null);
    if (lastJob?.state === 'failed') {
      warnings.push(
        t('warn.failedJob', {
          kind: kindText(lastJob.kind),
          message: lastJob.error?.message ?? '',
        }),
      );
    }
    return h(
      'tr',
      { 'data-vm': vm.name },
      h('th', { scope: 'row' }, h('a', { href: `#/vm/${encodeURIComponent(vm.name)}` }, vm.name)),
      h('td', { 'data-state': vm.state }, stateText(vm.state)),
      h('td', {}, last ? t('ago', { age: age(last.time) }) : t('never')),
      h(
        'td',
        { 'data-schedule': sched ? sched.policies.join(' ') : '' },
        sched
          ? [
              sched.policies.join(', '),
              sched.nextRun
                ? h(
                    'small',
                    { class: 'next-run' },
                    ' · ',
                    t('overview.next', { at: new Date(sched.nextRun).toLocaleString() }),
                  )
                : '',
            ]
          : '–',
      ),
      h('td', {}, tested ? badge(tested.verification) : badge(null)),
      h(
        'td',
        {},
        warnings.length
          ? h(
              'ul',
              { class: 'warnings' },
              warnings.map((w) => h('li', {}, w)),
            )
          : '',
      ),
    );
  });
  return h(
    'div',
    {},
    full,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        {},
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...(
              [
                'col.vm',
                'col.state',
                'col.lastBackup',
                'col.schedule',
                'col.restoreTest',
                'col.warnings',
              ] as const
            ).map((k) => h('th', { scope: 'col' }, t(k))),
          ),
        ),
        h('tbody', {}, rows),
      ),
    ),
  );
}
