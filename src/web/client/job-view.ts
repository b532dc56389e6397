/**
 * One job as the dashboard shows it: its state, a progress bar (with the rate and the time
 * left, from the engine's done/total bytes over time; a repository check reports packs, as
 * done/total, without a rate), and its log (the notes it sent),
 * followed live through the job's event stream until it ends.
 */
import { followJob } from './api.js';
import { bytes, h, seconds } from './dom.js';
import { t, type Key } from './i18n.js';

export interface Job {
  id: string;
  /** Null for a job on the repository (a check, prune, gc). */
  vm: string | null;
  kind: string;
  state: string;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  result: unknown;
  error: { code: string; message: string } | null;
}

const FINAL = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export const isFinal = (j: Job): boolean => FINAL.includes(j.state);

export function kindText(kind: string): string {
  return t(`job.kind.${kind}` as Key);
}

export function noteText(n: unknown): string {
  if (n && typeof n === 'object') {
    const o = n as Record<string, unknown>;
    if (typeof o['step'] === 'string') return o['step'];
    if (typeof o['kind'] === 'string')
      return [o['kind'], o['vm'], o['state']].filter(Boolean).join(' ');
  }
  return JSON.stringify(n);
}

/** The element of a job; it follows the job's events while it runs, then calls onEnd. */
export function jobView(job: Job, onEnd?: (j: Job) => void): HTMLElement {
  const state = h('span', { class: `state state-${job.state}`, 'data-state': job.state });
  const bar = h('progress', { max: 1, value: 0, 'aria-label': t('col.progress') });
  const rate = h('span', { class: 'rate' });
  const log = h('ol', { class: 'log', 'aria-label': t('job.log') });
  const error = h('p', { class: 'error' });
  const el = h(
    'section',
    { class: 'job', 'data-job': job.id, 'data-kind': job.kind, 'aria-live': 'polite' },
    h('h3', {}, `${kindText(job.kind)} · ${job.vm ?? t('job.repository')} `, state),
    bar,
    rate,
    error,
    h('details', {}, h('summary', {}, t('job.log')), log),
  );
  let first: { at: number; done: number } | undefined;
  const show = (j: Job): void => {
    state.textContent = t(`job.state.${j.state}` as Key);
    state.className = `state state-${j.state}`;
    state.dataset['state'] = j.state;
    el.dataset['state'] = j.state;
    if (j.state === 'succeeded') {
      bar.value = 1;
      rate.textContent = '';
    }
    if (j.error) error.textContent = t('error', { message: j.error.message });
  };
  show(job);
  if (isFinal(job)) return el;
  const abort = new AbortController();
  void followJob(
    job.id,
    (type, data) => {
      if (type === 'state') {
        const j = data as Job;
        show(j);
        if (isFinal(j)) {
          abort.abort();
          onEnd?.(j);
        }
      } else if (type === 'progress') {
        const p = data as {
          doneBytes?: number;
          totalBytes?: number;
          done?: number;
          total?: number;
        };
        if (typeof p.done === 'number' && p.total) {
          bar.value = p.done / p.total;
          el.dataset['progress'] = String(bar.value);
          return;
        }
        if (typeof p.doneBytes !== 'number' || !p.totalBytes) return;
        bar.value = p.doneBytes / p.totalBytes;
        // What the engine last said, apart from the full bar an ended job shows anyway.
        el.dataset['progress'] = String(bar.value);
        const now = performance.now();
        first ??= { at: now, done: p.doneBytes };
        const perS = ((p.doneBytes - first.done) * 1000) / Math.max(1, now - first.at);
        if (perS > 0) {
          rate.textContent = t('job.rate', {
            rate: bytes(perS),
            eta: seconds((p.totalBytes - p.doneBytes) / perS),
          });
        }
      } else if (type === 'note') {
        log.append(h('li', {}, noteText(data)));
      }
    },
    abort.signal,
  ).catch(() => undefined);
  return el;
}
