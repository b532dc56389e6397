/// <reference lib="dom" />
/**
 * Schedules, as far as the server has a scheduler (GET/DELETE /api/v1/schedules): the list with
 * a delete per entry. A server without one answers 404, shown as "no scheduler".
 */
import { api, ApiFailure } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';

type Schedule = { id: string; vm?: string } & Record<string, unknown>;

export async function schedulesPage(rerender: () => void): Promise<HTMLElement> {
  let schedules: Schedule[];
  try {
    schedules = (await api<{ schedules: Schedule[] }>('/schedules')).schedules;
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 404) {
      return h('p', { id: 'no-scheduler' }, t('schedules.none'));
    }
    throw err;
  }
  return h(
    'ul',
    { id: 'schedules' },
    schedules.map((s) =>
      h(
        'li',
        {},
        h('strong', {}, s.vm ?? s.id),
        ' ',
        h('code', {}, JSON.stringify({ ...s, id: undefined, vm: undefined })),
        h(
          'button',
          {
            type: 'button',
            class: 'danger',
            onclick: () =>
              void api(`/schedules/${encodeURIComponent(s.id)}`, 'DELETE').then(rerender),
          },
          t('schedules.delete'),
        ),
      ),
    ),
  );
}
