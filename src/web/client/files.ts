/**
 * A backup's files (`#/files/BACKUP?path=/dir&disk=vda`): a directory's entries, with links
 * into subdirectories and up, and downloads of a file (as it is) or a directory (a tar). The
 * download is fetched with the token in its header (a link cannot carry it) and handed to the
 * browser as a saved file.
 */
import { ApiFailure, api, getToken } from './api.js';
import { bytes, h } from './dom.js';
import { t } from './i18n.js';
import { tr } from './words-recovery.js';

interface Entry {
  name: string;
  type: string;
  size: number;
  mtime: string;
  target?: string;
}
interface Listing {
  backup: string;
  vm: string;
  disk: string;
  volume: string;
  fs: string;
  path: string;
  entries: Entry[];
}

export function filesHref(backup: string, path: string, disk?: string): string {
  const q = new URLSearchParams({ path, ...(disk ? { disk } : {}) });
  return `#/files/${encodeURIComponent(backup)}?${q.toString()}`;
}

function join(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name}`;
}

function parent(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  parts.pop();
  return `/${parts.join('/')}`;
}

async function download(url: string, name: string): Promise<number> {
  const res = await fetch(`/api/v1${url}`, {
    headers: { authorization: `Bearer ${getToken() ?? ''}` },
  });
  if (!res.ok) {
    const e = ((await res.json().catch(() => null)) as { error?: ApiFailure } | null)?.error;
    throw new ApiFailure(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? '', {});
  }
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = h('a', { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  // The browser has taken the file by then; the memory goes back later.
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
  return blob.size;
}

export async function filesPage(backup: string, query: URLSearchParams): Promise<HTMLElement> {
  const path = query.get('path') || '/';
  const disk = query.get('disk') ?? undefined;
  const base = `/backups/${encodeURIComponent(backup)}/files`;
  const q = (extra: Record<string, string>) =>
    new URLSearchParams({ ...extra, ...(disk ? { disk } : {}) }).toString();
  const l = await api<Listing>(`${base}?${q({ path })}`);
  const said = h('p', { id: 'files-said', role: 'status', 'aria-live': 'polite' });
  const message = h('p', { class: 'error', role: 'alert' });
  const get = (entry: Entry, tar: boolean) => {
    const full = join(l.path, entry.name);
    const name = tar ? `${entry.name}.tar` : entry.name;
    message.textContent = '';
    said.textContent = tr('files.downloading', { name });
    void download(`${base}/download?${q({ path: full, format: tar ? 'tar' : 'file' })}`, name).then(
      (size) => {
        said.textContent = tr('files.downloaded', { name, size: bytes(size) });
      },
      (err: Error) => {
        said.textContent = '';
        message.textContent = t('error', { message: err.message });
      },
    );
  };
  const rows = l.entries.map((e) => {
    const full = join(l.path, e.name);
    const dir = e.type === 'dir';
    return h(
      'tr',
      { 'data-entry': e.name, 'data-type': e.type },
      h(
        'th',
        { scope: 'row' },
        dir ? h('a', { href: filesHref(backup, full, disk) }, `${e.name}/`) : e.name,
        e.target !== undefined ? h('span', { class: 'muted' }, ` → ${e.target}`) : '',
      ),
      h('td', {}, dir ? '' : bytes(e.size)),
      h('td', {}, h('time', { datetime: e.mtime }, new Date(e.mtime).toLocaleString())),
      h(
        'td',
        {},
        e.type === 'file'
          ? h(
              'button',
              { type: 'button', class: 'download', onclick: () => get(e, false) },
              tr('files.download'),
            )
          : dir && l.volume !== ''
            ? h(
                'button',
                { type: 'button', class: 'download-tar secondary', onclick: () => get(e, true) },
                tr('files.downloadTar'),
              )
            : '',
      ),
    );
  });
  return h(
    'div',
    { id: 'files', 'data-path': l.path },
    h(
      'p',
      {},
      tr('files.where', { path: l.path, disk: l.disk, vm: l.vm, fs: l.fs || l.volume || '-' }),
    ),
    h('p', { class: 'muted' }, tr('files.slow')),
    l.path !== '/'
      ? h(
          'p',
          {},
          h('a', { href: filesHref(backup, parent(l.path), disk), id: 'files-up' }, tr('files.up')),
        )
      : '',
    said,
    message,
    rows.length === 0
      ? h('p', {}, tr('files.empty'))
      : h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { id: 'file-list' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...(['files.name', 'files.size', 'files.modified', 'runs.actions'] as const).map(
                  (k) => h('th', { scope: 'col' }, tr(k)),
                ),
              ),
            ),
            h('tbody', {}, rows),
          ),
        ),
  );
}
