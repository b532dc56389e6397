/**
 * A VM's page: its disks (virtual, allocated, what its last backup read), the snapshot tree
 * with create, revert (showing what will be lost, asking first) and delete, its backups as a
 * timeline with their restore-test badges, and the actions: back up, restore test, restore as
 * a copy, browse its files, run a VM from it. Jobs started here are shown live below the actions.
 */
import { api } from './api.js';
import { ask } from './ask.js';
import { age, bytes, h } from './dom.js';
import { t } from './i18n.js';
import { isFinal, jobView, type Job } from './job-view.js';
import { badge, stateText, type BackupRow } from './overview.js';
import { filesHref } from './files.js';
import { runForm } from './runs.js';
import { tr } from './words-recovery.js';

interface Disk {
  target: string;
  virtualSize: string | null;
  allocation: string | null;
}
interface Vm {
  name: string;
  state: string;
  disks: Disk[];
}
interface Snapshot {
  name: string;
  depth: number;
  current: boolean;
  creationTime: number;
  description?: string;
  children: string[];
}

/**
 * The jobs started on each VM's page, kept across re-renders so a finished job stays in view:
 * a running one keeps its live element, an ended one is drawn again (in the language now).
 */
const started = new Map<string, { job: Job; el: HTMLElement; progress?: string }[]>();

export async function vmPage(name: string, rerender: () => void): Promise<HTMLElement> {
  const path = `/vms/${encodeURIComponent(name)}`;
  const [vm, { snapshots }, { backups }] = await Promise.all([
    api<Vm>(path),
    api<{ snapshots: Snapshot[] }>(`${path}/snapshots`),
    api<{ backups: BackupRow[] }>(`/backups?vm=${encodeURIComponent(name)}`),
  ]);
  const mine = started.get(name) ?? [];
  started.set(name, mine);
  for (const entry of mine) {
    if (!isFinal(entry.job)) continue;
    entry.el = jobView(entry.job);
    if (entry.progress !== undefined) entry.el.dataset['progress'] = entry.progress;
  }
  const jobs = h('div', { class: 'jobs', id: 'vm-jobs' }, ...mine.map((e) => e.el));
  const message = h('p', { class: 'error', role: 'alert' });
  const follow = (job: Job): void => {
    const entry: { job: Job; el: HTMLElement; progress?: string } = {
      job,
      el: jobView(job, (ended) => {
        entry.job = ended;
        entry.progress = entry.el.dataset['progress'];
        rerender();
      }),
    };
    mine.unshift(entry);
    jobs.prepend(entry.el);
  };
  const run = async (fn: () => Promise<void>): Promise<void> => {
    message.textContent = '';
    try {
      await fn();
    } catch (err) {
      message.textContent = t('error', { message: (err as Error).message });
    }
  };
  const last = backups.at(-1);

  const disks = h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...(['col.disk', 'col.virtual', 'col.allocated', 'col.backupReads'] as const).map((k) =>
          h('th', { scope: 'col' }, t(k)),
        ),
      ),
    ),
    h(
      'tbody',
      {},
      vm.disks.map((d) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, d.target),
          h('td', {}, bytes(d.virtualSize)),
          h('td', {}, bytes(d.allocation)),
          h('td', {}, bytes(last?.diskBytes.find((x) => x.name === d.target)?.dataBytes)),
        ),
      ),
    ),
  );

  const snapName = h('input', {
    id: 'snapshot-name',
    name: 'snapshot',
    required: true,
    pattern: '[A-Za-z0-9_][A-Za-z0-9_.+:\\-]*',
    maxlength: 128,
  });
  const snapForm = h(
    'form',
    {
      class: 'inline',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void run(async () => {
          follow(await api<Job>(`${path}/snapshots`, 'POST', { name: snapName.value }));
          snapName.value = '';
        });
      },
    },
    h('label', { for: 'snapshot-name' }, t('vm.snapshotName')),
    snapName,
    h('button', { type: 'submit' }, t('vm.takeSnapshot')),
  );
  const revert = (s: Snapshot) =>
    run(async () => {
      const url = `${path}/snapshots/${encodeURIComponent(s.name)}/revert`;
      const { plan } = await api<{
        plan: { loseChangesSince: number; losesRunningMemory: boolean };
      }>(url, 'POST', { dryRun: true });
      const since = new Date(plan.loseChangesSince * 1000).toLocaleString();
      const lines = [t('confirm.revert', { vm: name, snapshot: s.name, since })];
      if (plan.losesRunningMemory) lines.push(t('confirm.revertMemory'));
      if (await ask(lines)) follow(await api<Job>(url, 'POST', { confirm: true }));
    });
  const remove = (s: Snapshot) =>
    run(async () => {
      const url = `${path}/snapshots/${encodeURIComponent(s.name)}`;
      const children = s.children.length > 0;
      const { plan } = await api<{ plan: { removes: string[] } }>(url, 'DELETE', {
        dryRun: true,
        children,
      });
      if (await ask([t('confirm.delete', { vm: name, names: plan.removes.join(', ') })])) {
        follow(await api<Job>(url, 'DELETE', { confirm: true, children }));
      }
    });
  const restoreOver = (b: BackupRow) =>
    run(async () => {
      const url = `/backups/${b.id}/restore`;
      // The engine plans it first: a running VM or a missing backup is said before asking.
      const { plan } = await api<{ plan: { droppedSnapshots: string[] } }>(url, 'POST', {
        force: true,
        dryRun: true,
      });
      const lines = [t('confirm.restoreOver', { vm: name, backup: b.id })];
      if (plan.droppedSnapshots.length > 0) {
        lines.push(t('confirm.restoreSnapshots', { names: plan.droppedSnapshots.join(', ') }));
      }
      if (await ask(lines)) follow(await api<Job>(url, 'POST', { force: true, confirm: true }));
    });
  const tree = snapshots.length
    ? h(
        'ul',
        { class: 'tree', id: 'snapshot-tree' },
        snapshots.map((s) =>
          h(
            'li',
            { 'data-snapshot': s.name, class: `depth-${Math.min(s.depth, 8)}` },
            h('strong', {}, s.name),
            s.current ? h('span', { class: 'badge current' }, t('vm.current')) : '',
            h('time', {}, new Date(s.creationTime * 1000).toLocaleString()),
            s.description ? h('span', { class: 'muted' }, s.description) : '',
            h('button', { type: 'button', onclick: () => void revert(s) }, t('vm.revert')),
            h(
              'button',
              { type: 'button', class: 'danger', onclick: () => void remove(s) },
              t('vm.delete'),
            ),
          ),
        ),
      )
    : h('p', { id: 'snapshot-tree' }, t('vm.noSnapshots'));

  const timeline = backups.length
    ? h(
        'ol',
        { class: 'timeline', id: 'backup-timeline' },
        [...backups].reverse().map((b) => {
          const copyName = h('input', {
            'aria-label': t('vm.restoreAsName'),
            placeholder: t('vm.restoreAsName'),
            value: `${name}-restored`,
          });
          return h(
            'li',
            { 'data-backup': b.id },
            h('time', { datetime: b.time, title: b.time }, t('ago', { age: age(b.time) })),
            h('code', {}, b.id),
            h('span', {}, `${b.method}, ${bytes(b.dataBytes)} / ${bytes(b.logicalBytes)}`),
            badge(b.verification),
            h(
              'button',
              {
                type: 'button',
                class: 'restore-test',
                onclick: () =>
                  void run(async () =>
                    follow(await api<Job>(`/backups/${b.id}/verify`, 'POST', { boot: true })),
                  ),
              },
              t('vm.restoreTest'),
            ),
            h(
              'form',
              {
                class: 'inline',
                onsubmit: (e: Event) => {
                  e.preventDefault();
                  void run(async () =>
                    follow(
                      await api<Job>(`/backups/${b.id}/restore`, 'POST', { as: copyName.value }),
                    ),
                  );
                },
              },
              copyName,
              h('button', { type: 'submit' }, t('vm.restoreAs')),
            ),
            h(
              'button',
              { type: 'button', class: 'danger', onclick: () => void restoreOver(b) },
              t('vm.restoreOver'),
            ),
            h('a', { href: filesHref(b.id, '/'), class: 'browse-files' }, tr('files.browse')),
            runForm(b.id, name, run, follow),
          );
        }),
      )
    : h('p', { id: 'backup-timeline' }, t('vm.noBackups'));

  return h(
    'div',
    {},
    h('p', {}, h('span', { 'data-state': vm.state, id: 'vm-state' }, stateText(vm.state))),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        {
          type: 'button',
          id: 'backup-now',
          onclick: () => void run(async () => follow(await api<Job>(`${path}/backup`, 'POST', {}))),
        },
        t('vm.backupNow'),
      ),
    ),
    message,
    jobs,
    h('h2', {}, t('vm.disks')),
    h('div', { class: 'scroll' }, disks),
    h('h2', {}, t('vm.snapshots')),
    snapForm,
    tree,
    h('h2', {}, t('vm.backups')),
    timeline,
  );
}
