/**
 * Instant recovery on the dashboard: the form that runs a VM from a backup (on the VM page's
 * timeline; a job followed there), and the runs page (`#/runs`): each VM run from a backup
 * with its state, and its buttons: make it local (a job, followed here) and stop serving
 * (when the VM still reads from the backup the server refuses; forcing it asks first).
 */
import { ApiFailure, api } from './api.js';
import { ask } from './ask.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { isFinal, jobView, type Job } from './job-view.js';
import { stateText } from './overview.js';
import { tr, type RecoveryKey } from './words-recovery.js';

interface Run {
  vm: string;
  backup: string;
  since: string;
  state: 'serving' | 'broken' | 'persisted' | 'idle';
  vmState: string | null;
  dependsOnExport: boolean;
  persisted: unknown;
}

/** The "run from backup" form of one backup: name, start or not; the job goes to `follow`. */
export function runForm(
  backup: string,
  vm: string,
  run: (fn: () => Promise<void>) => Promise<void>,
  follow: (job: Job) => void,
): HTMLElement {
  const name = h('input', {
    'aria-label': tr('run.asName'),
    placeholder: tr('run.asName'),
    value: `${vm}-run`,
    class: 'run-as',
  });
  const start = h('input', { type: 'checkbox', class: 'run-start' });
  return h(
    'form',
    {
      class: 'inline run-from',
      onsubmit: (e: Event) => {
        e.preventDefault();
        void run(async () =>
          follow(
            await api<Job>(`/backups/${backup}/run`, 'POST', {
              as: name.value,
              start: start.checked,
            }),
          ),
        );
      },
    },
    name,
    h('label', { class: 'check' }, start, ' ', tr('run.start')),
    h('button', { type: 'submit' }, tr('run.from')),
  );
}

/** Jobs started on the runs page, kept across re-renders. */
const started: { job: Job; el: HTMLElement }[] = [];

export async function runsPage(rerender: () => void): Promise<HTMLElement> {
  const { runs } = await api<{ runs: Run[] }>('/runs');
  for (const entry of started) if (isFinal(entry.job)) entry.el = jobView(entry.job);
  const jobs = h('div', { class: 'jobs', id: 'run-jobs' }, ...started.map((e) => e.el));
  const message = h('p', { class: 'error', role: 'alert' });
  const act = async (fn: () => Promise<void>): Promise<void> => {
    message.textContent = '';
    try {
      await fn();
    } catch (err) {
      message.textContent = t('error', { message: (err as Error).message });
    }
  };
  const stop = (r: Run) =>
    act(async () => {
      const url = `/runs/${encodeURIComponent(r.vm)}/stop`;
      try {
        await api(url, 'POST', {});
      } catch (err) {
        if (!(err instanceof ApiFailure) || err.code !== 'RUN_VM_DEPENDS') throw err;
        if (!(await ask([tr('confirm.stopRun', { vm: r.vm, backup: r.backup })]))) return;
        await api(url, 'POST', { force: true, confirm: true });
      }
      rerender();
    });
  const persist = (r: Run) =>
    act(async () => {
      const job = await api<Job>(`/runs/${encodeURIComponent(r.vm)}/persist`, 'POST', {});
      const entry = {
        job,
        el: jobView(job, (ended) => {
          entry.job = ended;
          rerender();
        }),
      };
      started.unshift(entry);
      jobs.prepend(entry.el);
    });
  const table = runs.length
    ? h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { id: 'runs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...(
                [
                  'runs.vm',
                  'runs.backup',
                  'runs.state',
                  'runs.vmState',
                  'runs.since',
                  'runs.actions',
                ] as const
              ).map((k) => h('th', { scope: 'col' }, tr(k))),
            ),
          ),
          h(
            'tbody',
            {},
            runs.map((r) =>
              h(
                'tr',
                { 'data-run': r.vm, 'data-state': r.state },
                h(
                  'th',
                  { scope: 'row' },
                  h('a', { href: `#/vm/${encodeURIComponent(r.vm)}` }, r.vm),
                ),
                h('td', {}, h('code', {}, r.backup)),
                h('td', {}, tr(`runs.state.${r.state}` as RecoveryKey)),
                h('td', {}, r.vmState ? stateText(r.vmState) : '–'),
                h('td', {}, h('time', { datetime: r.since }, new Date(r.since).toLocaleString())),
                h(
                  'td',
                  {},
                  r.state === 'serving'
                    ? h(
                        'button',
                        { type: 'button', class: 'persist', onclick: () => void persist(r) },
                        tr('runs.persist'),
                      )
                    : '',
                  h(
                    'button',
                    { type: 'button', class: 'stop danger', onclick: () => void stop(r) },
                    tr('runs.stop'),
                  ),
                ),
              ),
            ),
          ),
        ),
      )
    : h('p', { id: 'runs' }, tr('runs.none'));
  return h('div', {}, message, jobs, table);
}
