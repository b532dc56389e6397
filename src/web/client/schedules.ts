/**
 * The schedules editor, against the scheduler's API (GET/POST /api/v1/schedules, DELETE
 * /api/v1/schedules/:id, POST .../:id/run): the policies with their next run, adding one,
 * running one now (its jobs are shown and followed live here), deleting one (asked first). A
 * server without a scheduler answers 404, shown as "no scheduler".
 */
import { api, ApiFailure } from './api.js';
import { ask } from './ask.js';
import { h } from './dom.js';
import { t, type Key } from './i18n.js';
import { jobView, type Job } from './job-view.js';

interface Policy {
  id: string;
  vms: string[];
  when: string;
  mode: string;
  keep: Record<string, number>;
  restoreTestDays: number | null;
  timezone: string | null;
  nextRun: string | null;
}

function field(id: string, key: Key, attrs: Record<string, string | number | boolean> = {}) {
  const input = h('input', { id, name: id, ...attrs });
  return { input, el: h('label', { for: id }, t(key), ' ', input) };
}

function addForm(rerender: () => void, said: HTMLElement): HTMLElement {
  const id = field('policy-id', 'schedules.id', {
    required: true,
    pattern: '[a-z0-9][a-z0-9_\\-]*',
  });
  const vms = field('policy-vms', 'schedules.vms', { required: true, placeholder: 'web01 db*' });
  const when = field('policy-when', 'schedules.when', { required: true, value: '0 2 * * *' });
  const mode = h(
    'select',
    { id: 'policy-mode' },
    ['auto', 'live', 'cold'].map((m) => h('option', { value: m }, m)),
  );
  const keepDaily = field('policy-keep-daily', 'schedules.keepDaily', {
    type: 'number',
    min: 0,
    value: 7,
  });
  const keepLast = field('policy-keep-last', 'schedules.keepLast', { type: 'number', min: 0 });
  const test = field('policy-test', 'schedules.restoreTestDays', { type: 'number', min: 1 });
  return h(
    'form',
    {
      class: 'inline',
      id: 'schedule-add',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const body: Record<string, unknown> = {
          id: id.input.value,
          vms: vms.input.value.trim().split(/\s+/),
          when: when.input.value,
          mode: mode.value,
        };
        if (keepDaily.input.value !== '') body['keep-daily'] = Number(keepDaily.input.value);
        if (keepLast.input.value !== '') body['keep-last'] = Number(keepLast.input.value);
        if (test.input.value !== '') body['restore-test-days'] = Number(test.input.value);
        api('/schedules', 'POST', body).then(rerender, (err: Error) => {
          said.textContent = t('error', { message: err.message });
        });
      },
    },
    id.el,
    vms.el,
    when.el,
    h('label', { for: 'policy-mode' }, t('schedules.mode'), ' ', mode),
    keepDaily.el,
    keepLast.el,
    test.el,
    h('button', { type: 'submit' }, t('schedules.add')),
  );
}

export async function schedulesPage(rerender: () => void): Promise<HTMLElement> {
  let policies: Policy[];
  try {
    policies = (await api<{ policies: Policy[] }>('/schedules')).policies;
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 404) {
      return h('p', { id: 'no-scheduler' }, t('schedules.none'));
    }
    throw err;
  }
  const said = h('p', { role: 'status', class: 'error' });
  // The jobs of a run started here, followed until they end (a rerender would drop them).
  const started = h('p', { role: 'status', id: 'schedule-started' });
  const runJobs = h('div', { class: 'jobs', id: 'schedule-jobs' });
  const runNow = (p: Policy) => async () => {
    said.textContent = '';
    try {
      const run = await api<{ vms: string[]; jobs: Job[] }>(
        `/schedules/${encodeURIComponent(p.id)}/run`,
        'POST',
        {},
      );
      started.textContent = t('schedules.started', {
        count: run.jobs.length,
        vms: run.vms.join(', '),
      });
      runJobs.replaceChildren(...run.jobs.map((j) => jobView(j)));
    } catch (err) {
      said.textContent = t('error', { message: (err as Error).message });
    }
  };
  const act = (fn: () => Promise<unknown>) => () =>
    void fn().then(rerender, (err: Error) => {
      said.textContent = t('error', { message: err.message });
    });
  const keepText = (k: Record<string, number>) =>
    Object.entries(k)
      .map(([unit, n]) => `${unit} ${n}`)
      .join(', ');
  const rows = policies.map((p) =>
    h(
      'tr',
      { 'data-policy': p.id },
      h('th', { scope: 'row' }, p.id),
      h('td', {}, p.vms.join(' ')),
      h('td', {}, h('code', {}, p.when), p.timezone ? ` (${p.timezone})` : ''),
      h('td', {}, p.mode),
      h('td', {}, keepText(p.keep)),
      h('td', {}, p.restoreTestDays === null ? '–' : String(p.restoreTestDays)),
      h(
        'td',
        { class: 'next-run', 'data-next-run': p.nextRun ?? '' },
        p.nextRun ? new Date(p.nextRun).toLocaleString() : '–',
      ),
      h(
        'td',
        {},
        h(
          'button',
          { type: 'button', class: 'run-now', onclick: () => void runNow(p)() },
          t('schedules.run'),
        ),
        ' ',
        h(
          'button',
          {
            type: 'button',
            class: 'danger delete',
            onclick: act(async () => {
              if (await ask([t('confirm.schedule', { id: p.id })])) {
                await api(`/schedules/${encodeURIComponent(p.id)}`, 'DELETE');
              }
            }),
          },
          t('schedules.delete'),
        ),
      ),
    ),
  );
  const cols: Key[] = [
    'schedules.id',
    'schedules.vms',
    'schedules.when',
    'schedules.mode',
    'schedules.keep',
    'schedules.restoreTestDays',
    'schedules.next',
    'schedules.actions',
  ];
  return h(
    'div',
    {},
    said,
    started,
    runJobs,
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'schedules' },
        h('thead', {}, h('tr', {}, ...cols.map((k) => h('th', { scope: 'col' }, t(k))))),
        h('tbody', {}, rows),
      ),
    ),
    h('h2', {}, t('schedules.add')),
    addForm(rerender, said),
  );
}
