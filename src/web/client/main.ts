/**
 * The dashboard's shell: the sign-in form (the token is pasted once), the navigation, the
 * language switch, and a hash router that renders one page at a time from the API. It only
 * calls the API; everything it shows comes from there.
 */
import { ApiFailure, forgetToken, getToken, setToken } from './api.js';
import { h } from './dom.js';
import { lang, setLang, t, type Key } from './i18n.js';
import { jobsPage } from './jobs.js';
import { overviewPage } from './overview.js';
import { repoPage } from './repo.js';
import { schedulesPage } from './schedules.js';
import { vmPage } from './vm.js';
import { filesPage } from './files.js';
import { runsPage } from './runs.js';
import { tr } from './words-recovery.js';

const root = document.getElementById('app')!;

function signIn(refused: boolean): HTMLElement {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const remember = h('input', { id: 'remember', type: 'checkbox' });
  return h(
    'form',
    {
      id: 'sign-in',
      onsubmit: (e: Event) => {
        e.preventDefault();
        setToken(input.value.trim(), remember.checked);
        void render();
      },
    },
    h('h1', {}, t('token.title')),
    h('p', {}, t('token.help')),
    refused ? h('p', { class: 'error', role: 'alert' }, t('token.bad')) : '',
    h('label', { for: 'token' }, t('token.label')),
    input,
    h('label', { class: 'check' }, remember, ' ', t('token.remember')),
    h('button', { type: 'submit' }, t('token.submit')),
  );
}

function nav(current: string): HTMLElement {
  const link = (href: string, key: Key) =>
    h('a', { href, ...(current === href ? { 'aria-current': 'page' } : {}) }, t(key));
  return h(
    'header',
    {},
    h('a', { href: '#/', class: 'brand' }, t('title')),
    h(
      'nav',
      { 'aria-label': 'main' },
      link('#/', 'nav.overview'),
      link('#/jobs', 'nav.jobs'),
      link('#/repo', 'nav.repo'),
      link('#/schedules', 'nav.schedules'),
      h(
        'a',
        { href: '#/runs', ...(current === '#/runs' ? { 'aria-current': 'page' } : {}) },
        tr('nav.runs'),
      ),
    ),
    h(
      'button',
      {
        type: 'button',
        id: 'lang-switch',
        lang: lang() === 'en' ? 'id' : 'en',
        onclick: () => {
          setLang(lang() === 'en' ? 'id' : 'en');
          void render();
        },
      },
      t('lang.switch'),
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          forgetToken();
          void render();
        },
      },
      t('token.signOut'),
    ),
  );
}

let rendering = 0;

async function render(): Promise<void> {
  const mine = ++rendering;
  if (!getToken()) {
    document.documentElement.lang = lang();
    root.replaceChildren(signIn(false));
    return;
  }
  const hash = location.hash || '#/';
  const vm = /^#\/vm\/(.+)$/.exec(hash);
  const files = /^#\/files\/([^?]+)(?:\?(.*))?$/.exec(hash);
  const title = vm
    ? decodeURIComponent(vm[1]!)
    : files
      ? tr('files.title', { backup: decodeURIComponent(files[1]!) })
      : hash === '#/runs'
        ? tr('nav.runs')
        : t(
            hash === '#/jobs'
              ? 'nav.jobs'
              : hash === '#/repo'
                ? 'nav.repo'
                : hash === '#/schedules'
                  ? 'nav.schedules'
                  : 'nav.overview',
          );
  const rerender = () => {
    if (mine === rendering) void render();
  };
  let page: HTMLElement;
  try {
    page = vm
      ? await vmPage(decodeURIComponent(vm[1]!), rerender)
      : files
        ? await filesPage(decodeURIComponent(files[1]!), new URLSearchParams(files[2] ?? ''))
        : hash === '#/runs'
          ? await runsPage(rerender)
          : hash === '#/jobs'
            ? await jobsPage(rerender)
            : hash === '#/repo'
              ? await repoPage(rerender)
              : hash === '#/schedules'
                ? await schedulesPage(rerender)
                : await overviewPage();
  } catch (err) {
    if (err instanceof ApiFailure && err.status === 401) {
      forgetToken();
      document.documentElement.lang = lang();
      root.replaceChildren(signIn(true));
      return;
    }
    page = h(
      'p',
      { class: 'error', role: 'alert' },
      t('error', { message: (err as Error).message }),
    );
  }
  if (mine !== rendering) return; // a newer render won
  const kind = vm ? 'vm' : files ? 'files' : hash.slice(2) || 'overview';
  const main = h('main', { id: 'main', 'data-page': kind });
  main.append(h('h1', {}, title), page);
  document.documentElement.lang = lang();
  root.replaceChildren(nav(vm || files ? '' : hash), main);
}

window.addEventListener('hashchange', () => void render());
void render();
