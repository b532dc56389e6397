/**
 * The repository: logical against stored bytes, the deduplication and compression ratios, and
 * its growth over time as an SVG chart (two lines: what the backups hold, what is stored). The
 * check and garbage collection are jobs of the server (one at a time): shown and followed here.
 */
import { api } from './api.js';
import { ask } from './ask.js';
import { bytes, h, svg } from './dom.js';
import { t } from './i18n.js';
import { jobView, type Job } from './job-view.js';

interface Overview {
  stats: {
    backups: number;
    logicalBytes: number;
    dataBytes: number;
    totalBytes: number;
    dedupRatio: number;
    compressionRatio: number;
    overallRatio: number;
  };
  growth: { at: string; logicalBytes: number; storedBytes: number }[];
  space: { freeBytes: number; totalBytes: number; nearlyFull: boolean } | null;
  // What `brankas repo info` says of it (engine/repo-info.ts), in the same answer.
  location: string;
  config: { chunkSize: number; chunkHash: string; encryption: string };
  compressionLevel: number;
  keys: unknown[];
  damaged: unknown[];
}

interface Gc {
  deadPacks: number;
  deadBytes: number;
  deletedPacks: number;
  deletedBytes: number;
}

const W = 600;
const H = 220;
const PAD = 36;

function chart(growth: Overview['growth']): Element {
  if (growth.length === 0) return h('p', {}, t('repo.noGrowth'));
  const t0 = Date.parse(growth[0]!.at);
  const t1 = Math.max(t0 + 1, Date.parse(growth.at(-1)!.at));
  const top = Math.max(1, ...growth.map((g) => g.logicalBytes));
  const x = (at: string) => PAD + ((Date.parse(at) - t0) / (t1 - t0)) * (W - 2 * PAD);
  const y = (v: number) => H - PAD - (v / top) * (H - 2 * PAD);
  const line = (key: 'logicalBytes' | 'storedBytes', cls: string) =>
    svg('polyline', {
      class: cls,
      fill: 'none',
      points: growth.map((g) => `${x(g.at).toFixed(1)},${y(g[key]).toFixed(1)}`).join(' '),
    });
  // Each backup a dot, so that one backup alone shows too.
  const dots = (key: 'logicalBytes' | 'storedBytes', cls: string) =>
    growth.map((g) => svg('circle', { class: cls, r: 3.5, cx: x(g.at), cy: y(g[key]) }));
  const label = (text: string, yy: number, cls: string) => {
    const el = svg('text', { x: PAD + 4, y: yy, class: cls });
    el.textContent = text;
    return el;
  };
  const date = (at: string, xx: number, anchor: string) => {
    const el = svg('text', { x: xx, y: H - PAD + 16, 'text-anchor': anchor });
    el.textContent = new Date(at).toLocaleDateString();
    return el;
  };
  const title = svg('title', {});
  title.textContent = t('repo.growth');
  return svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'chart', id: 'growth-chart' },
    title,
    svg('line', { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, class: 'axis' }),
    svg('line', { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD, class: 'axis' }),
    line('logicalBytes', 'logical'),
    line('storedBytes', 'stored'),
    ...dots('logicalBytes', 'logical'),
    ...dots('storedBytes', 'stored'),
    date(growth[0]!.at, PAD, 'start'),
    date(growth.at(-1)!.at, W - PAD, 'end'),
    label(`${t('repo.logical')}: ${bytes(growth.at(-1)!.logicalBytes)}`, 16, 'logical'),
    label(`${t('repo.stored')}: ${bytes(growth.at(-1)!.storedBytes)}`, 30, 'stored'),
  );
}

/** The actions: a structure check, and garbage collection planned, asked, then done. */
function actions(rerender: () => void): HTMLElement {
  const said = h('p', { id: 'repo-said', role: 'status' });
  const jobs = h('div', { class: 'jobs', id: 'repo-jobs' });
  /** Starts a repository job, follows it here, and resolves with its end. */
  const follow = async (path: string, body: unknown): Promise<Job> => {
    const job = await api<Job>(path, 'POST', body);
    return new Promise((resolve) => jobs.replaceChildren(jobView(job, resolve)));
  };
  const outcome = (j: Job, ok: () => string): string | undefined =>
    j.state === 'succeeded' ? ok() : j.error ? t('error', { message: j.error.message }) : undefined;
  const run = (fn: () => Promise<string | undefined>) => async () => {
    said.textContent = '';
    try {
      const text = await fn();
      if (text !== undefined) said.textContent = text;
    } catch (err) {
      said.textContent = t('error', { message: (err as Error).message });
    }
  };
  const verify = run(async () => {
    const j = await follow('/repo/verify', {});
    return outcome(j, () =>
      t((j.result as { ok: boolean }).ok ? 'repo.verifyOk' : 'repo.verifyDamaged'),
    );
  });
  const gc = run(async () => {
    const plan = await api<Gc>('/repo/gc', 'POST', { dryRun: true });
    const asked = t('confirm.gc', { packs: plan.deadPacks, bytes: bytes(plan.deadBytes) });
    if (!(await ask([asked]))) return undefined;
    const j = await follow('/repo/gc', { confirm: true });
    if (j.state === 'succeeded') rerender();
    return outcome(j, () => {
      const done = j.result as Gc;
      return t('repo.gcDone', { packs: done.deletedPacks, bytes: bytes(done.deletedBytes) });
    });
  });
  return h(
    'div',
    { class: 'actions' },
    h(
      'button',
      { type: 'button', id: 'repo-verify', onclick: () => void verify() },
      t('repo.verify'),
    ),
    ' ',
    h('button', { type: 'button', class: 'secondary', onclick: () => void gc() }, t('repo.gc')),
    said,
    jobs,
  );
}

export async function repoPage(rerender: () => void): Promise<HTMLElement> {
  const o = await api<Overview>('/repo');
  const s = o.stats;
  const ratio = (r: number) => `${r.toFixed(2)}×`;
  const c = o.config;
  const rows: [string, string][] = [
    [t('repo.location'), o.location],
    [
      t('repo.encryption'),
      c.encryption === 'none' ? t('repo.notEncrypted') : c.encryption.toUpperCase(),
    ],
    [t('repo.chunks'), t('repo.chunksText', { size: bytes(c.chunkSize), hash: c.chunkHash })],
    [
      t('repo.compressionLevel'),
      o.compressionLevel === 0
        ? t('repo.uncompressed')
        : t('repo.zstdLevel', { level: o.compressionLevel }),
    ],
    ...(c.encryption === 'none'
      ? []
      : [[t('repo.keys'), String(o.keys.length)] as [string, string]]),
    [t('repo.backups'), String(s.backups)],
    [t('repo.logical'), bytes(s.logicalBytes)],
    [t('repo.data'), bytes(s.dataBytes)],
    [t('repo.stored'), bytes(s.totalBytes)],
    [t('repo.dedup'), ratio(s.dedupRatio)],
    [t('repo.compression'), ratio(s.compressionRatio)],
    [t('repo.overall'), ratio(s.overallRatio)],
  ];
  if (o.space) {
    rows.push([t('repo.free'), `${bytes(o.space.freeBytes)} / ${bytes(o.space.totalBytes)}`]);
  }
  const damaged =
    o.damaged.length > 0
      ? [
          h(
            'p',
            { class: 'warnings', role: 'alert', id: 'repo-damaged' },
            t('repo.damaged', { count: o.damaged.length }),
          ),
        ]
      : [];
  return h(
    'div',
    {},
    actions(rerender),
    ...damaged,
    h(
      'table',
      { id: 'repo-stats' },
      h(
        'tbody',
        {},
        rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))),
      ),
    ),
    h('h2', {}, t('repo.growth')),
    chart(o.growth),
  );
}
