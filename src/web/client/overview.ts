/// <reference lib="dom" />
/**
 * The overview: every VM with its power state, the age of its last backup against the policy,
 * the result of its last restore test, and its warnings (snapshots but no backup, a backup
 * older than the policy, a failed last job).
 */
import { api } from './api.js';
import { age, bytes, h } from './dom.js';
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

interface VmRow {
  name: string;
  state: string;
  snapshotCount: number;
  lastBackup: BackupRow | null;
}

/** How old a backup may be before the overview warns (until schedules set a policy per VM). */
const POLICY_HOURS = 24;

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
  const policy = `${POLICY_HOURS} h`;
  const rows = vms.map((vm) => {
    const last = vm.lastBackup;
    // The last restore test of any of the VM's backups, newest backup first.
    const tested = backups.filter((b) => b.vm === vm.name && b.verification).at(-1);
    const warnings: string[] = [];
    if (vm.snapshotCount > 0 && !last)
      warnings.push(t('warn.noBackup', { count: vm.snapshotCount }));
    if (last && Date.now() - Date.parse(last.time) > POLICY_HOURS * 3600_000) {
      warnings.push(t('warn.old', { policy }));
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
    h('p', {}, t('overview.policy', { policy })),
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
              ['col.vm', 'col.state', 'col.lastBackup', 'col.restoreTest', 'col.warnings'] as const
            ).map((k) => h('th', { scope: 'col' }, t(k))),
          ),
        ),
        h('tbody', {}, rows),
      ),
    ),
  );
}
