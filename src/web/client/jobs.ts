/**
 * Jobs: those running or queued, each with its live progress and log, then the history
 * (the server's SQLite job history), newest first, each with the log the server kept of it
 * (its states and notes), read when opened.
 */
import { api } from './api.js';
import { h } from './dom.js';
import { t, type Key } from './i18n.js';
import { isFinal, jobView, kindText, noteText, type Job } from './job-view.js';

interface LogEntry {
  at: string;
  type: 'state' | 'note';
  data: unknown;
}

/** A finished job's kept log, fetched the first time it is opened. */
function keptLog(j: Job): HTMLElement {
  const list = h('ol', { class: 'log' });
  const el = h(
    'details',
    {
      class: 'job-log',
      ontoggle: () => {
        if (!el.open || el.dataset['loaded'] !== undefined) return;
        el.dataset['loaded'] = '';
        void api<{ log: LogEntry[] }>(`/jobs/${j.id}/log`).then(
          ({ log }) =>
            list.replaceChildren(
              ...log.map((l) =>
                h(
                  'li',
                  { 'data-type': l.type },
                  h('time', { datetime: l.at }, new Date(l.at).toLocaleTimeString()),
                  ' ',
                  l.type === 'state' ? t(`job.state.${String(l.data)}` as Key) : noteText(l.data),
                ),
              ),
            ),
          (err: Error) => list.replaceChildren(h('li', { class: 'error' }, err.message)),
        );
      },
    },
    h('summary', {}, t('job.log')),
    list,
  );
  return el;
}

export async function jobsPage(rerender: () => void): Promise<HTMLElement> {
  const { jobs } = await api<{ jobs: Job[] }>('/jobs?limit=200');
  if (jobs.length === 0) return h('p', {}, t('jobs.none'));
  const live = jobs.filter((j) => !isFinal(j));
  const cancel = (j: Job) =>
    h(
      'button',
      { type: 'button', onclick: () => void api(`/jobs/${j.id}/cancel`, 'POST').then(rerender) },
      t('job.cancel'),
    );
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'jobs' },
      live.map((j) =>
        h(
          'div',
          {},
          jobView(j, () => rerender()),
          cancel(j),
        ),
      ),
    ),
    h('h2', {}, t('jobs.history')),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { id: 'job-history' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...(
              ['col.kind', 'col.vm', 'col.state', 'col.started', 'col.outcome', 'job.log'] as const
            ).map((k) => h('th', { scope: 'col' }, t(k))),
          ),
        ),
        h(
          'tbody',
          {},
          jobs
            .filter(isFinal)
            .map((j) =>
              h(
                'tr',
                { 'data-job': j.id, 'data-kind': j.kind },
                h('td', {}, kindText(j.kind)),
                h(
                  'td',
                  {},
                  j.vm === null
                    ? h('a', { href: '#/repo' }, t('job.repository'))
                    : h('a', { href: `#/vm/${encodeURIComponent(j.vm)}` }, j.vm),
                ),
                h(
                  'td',
                  { class: `state-${j.state}`, title: j.error?.message ?? '' },
                  t(`job.state.${j.state}` as Key),
                ),
                h('td', {}, new Date(j.startedAt ?? j.createdAt).toLocaleString()),
                h(
                  'td',
                  {},
                  j.error
                    ? h('span', { class: 'error' }, j.error.message)
                    : j.result !== null
                      ? h(
                          'details',
                          {},
                          h('summary', {}, t('job.result')),
                          h('pre', {}, JSON.stringify(j.result, null, 2)),
                        )
                      : '',
                ),
                h('td', {}, keptLog(j)),
              ),
            ),
        ),
      ),
    ),
  );
}
