/**
 * The web dashboard in a real Chromium (Debian's, driven by playwright-core; nothing downloads
 * a browser) against `brankas serve`'s app on a loopback port, a real tiny guest on
 * qemu:///system, a fresh repository and the real scheduler: sign in with the token, see the VM
 * (with no schedule, a warning), take a snapshot, back it up (live, the default for a running VM)
 * and watch the job's progress bar reach the end, see the backup in the timeline, run a restore
 * test and see its badge, a revert that asks first (cancelled from the keyboard), add a schedule
 * for the VM and see its next run (also on the overview), run it now and watch its job, delete
 * it, look at jobs (a finished job's kept log) and check the repository (a job), switch to
 * Indonesian. Then a backup's files: browse to a file the guest wrote and download it (the
 * same bytes), and a VM run from the backup, made local and its serving stopped.
 * Every wait is for a state, with a deadline; screenshots of each page go to .artifacts/
 * (git-ignored).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createApi, startServer, type RunningServer } from '../src/api/index.js';
import { TinyGuest } from '../src/engine/guest/tiny-guest.js';
import { Connection } from '../src/libvirt/index.js';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import {
  JobHistory,
  JobQueue,
  runPolicy,
  ScheduleFile,
  ScheduleRuns,
  Scheduler,
} from '../src/service/index.js';
import { runOperations } from '../src/cli/run-ops.js';
import { initPlainRepo } from './support/cli.js';
import { repoPath, testName } from './support/guest.js';
import { removeDomain } from './support/guest-lab.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'web-dashboard-test-token';
/** Deadlines for jobs on the guest under TCG on a loaded host (states are waited for, not time). */
const JOB_DEADLINE_MS = 600_000;
const PAGE_DEADLINE_MS = 60_000;
const ARTIFACTS = repoPath('.artifacts', 'web-dashboard');

let conn: Connection;
let repoDir: string;
let stateDir: string;
let profileDir: string;
let guest: TinyGuest;
let history: JobHistory;
let queue: JobQueue;
let runs: ScheduleRuns;
let scheduler: Scheduler;
let server: RunningServer;
let browser: BrowserContext;
let page: Page;
let vm: string;
let runs0: ReturnType<typeof runOperations>;
/** The guest's md5sum of the file it wrote before the backups, downloaded from them. */
let unduhSum: string;
const runName = testName('web-run');
const problems: string[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs chromium`);
  await mkdir(ARTIFACTS, { recursive: true });
  conn = await Connection.open('qemu:///system');
  repoDir = await initPlainRepo();
  stateDir = await mkdtemp(join(tmpdir(), 'brankas-test-web-state-'));
  profileDir = await mkdtemp(join(tmpdir(), 'brankas-test-web-profile-'));
  history = JobHistory.open(stateDir);
  queue = new JobQueue({ stateDir, history, connect: async () => conn });
  const openRepo = () => Repository.open(new LocalBackend(repoDir));
  // The scheduler as `brankas serve` wires it (its file and runs in the state directory).
  const file = new ScheduleFile(stateDir);
  runs = ScheduleRuns.open(stateDir);
  const runDeps = { queue, connect: async () => conn, openRepo, runs };
  scheduler = new Scheduler({ runs, load: () => file.read(), fire: (p) => runPolicy(runDeps, p) });
  await scheduler.start();
  runs0 = runOperations({
    stateDir,
    connect: async () => conn,
    location: repoDir,
    password: undefined,
    openRepo,
    env: {},
  });
  const app = createApi({
    token: TOKEN,
    queue,
    connect: async () => conn,
    openRepo,
    runs: runs0,
    schedules: {
      file,
      run: (p) => runPolicy(runDeps, p),
      nextRun: (p) => scheduler.nextRun(p),
      lastRun: (p) => runs.lastRun(p.id),
      changed: () => void scheduler.tick(),
    },
  });
  server = await startServer(app, { kind: 'tcp', host: '127.0.0.1', port: 0 });
  guest = await TinyGuest.launch(conn, { name: testName('web') });
  vm = guest.domain.name;
  await guest.console.run('head -c 300000 /dev/urandom > /data/unduh.bin; sync');
  unduhSum = (await guest.console.run('md5sum /data/unduh.bin')).split(/\s+/)[0]!;
  browser = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1200, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.setDefaultTimeout(PAGE_DEADLINE_MS);
  // The page's own errors, and anything the CSP refused, fail the scenario.
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Refused to|Content Security Policy/.test(m.text())) {
      problems.push(`CSP: ${m.text()}`);
    }
  });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  await runs0?.stop(runName, true).catch(() => undefined);
  const copy = await conn?.lookupDomain(runName).catch(() => undefined);
  if (copy) await removeDomain(copy);
  await scheduler?.stop();
  await queue?.close();
  runs?.close();
  await server?.close();
  history?.close();
  await guest?.dispose();
  await conn?.close();
  for (const d of [repoDir, stateDir, profileDir]) {
    if (d) await rm(d, { recursive: true, force: true });
  }
});

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The job element of the given kind on the VM page (the newest first). */
const jobOf = (kind: string, within = '#vm-jobs') =>
  page.locator(`${within} .job[data-kind="${kind}"]`).first();

async function jobSucceeded(kind: string, within?: string): Promise<void> {
  const job = jobOf(kind, within);
  await job.locator('[data-state="succeeded"], [data-state="failed"]').first().waitFor({
    timeout: JOB_DEADLINE_MS,
  });
  assert.equal(await job.getAttribute('data-state'), 'succeeded', (await job.textContent()) ?? '');
}

describe('web dashboard in Chromium', () => {
  test('the scenario: sign in, the VM, a snapshot, a backup with its progress, a restore test badge, Indonesian', async () => {
    // Signing in: the page asks for the token once and keeps it in sessionStorage.
    await page.goto(`${server.url}/`);
    await page.fill('#token', TOKEN);
    await page.click('#sign-in button[type="submit"]');
    const row = page.locator(`tr[data-vm="${vm}"]`);
    await row.waitFor();
    assert.equal(await row.locator('[data-state]').getAttribute('data-state'), 'running');
    assert.match((await row.textContent()) ?? '', /never/);
    // No policy covers it yet: a warning, as a VM nothing backs up is not safe.
    assert.equal(await row.locator('[data-schedule]').getAttribute('data-schedule'), '');
    assert.match((await row.locator('ul.warnings').textContent()) ?? '', /no schedule/);
    await shot('1-overview');

    // The VM page: its disk, no snapshots yet; take one.
    await row.locator('a').click();
    await page.locator('main[data-page="vm"] #snapshot-tree').waitFor();
    assert.match((await page.locator('table').first().textContent()) ?? '', /vda/);
    await page.fill('#snapshot-name', 'sebelum-backup');
    await page.click('form.inline button[type="submit"]');
    await jobSucceeded('snapshot');
    await page.locator('[data-snapshot="sebelum-backup"]').waitFor();
    assert.deepEqual(
      (await guest.domain.listSnapshots()).map((s) => s.name),
      ['sebelum-backup'],
    );
    await shot('2-vm-snapshot');

    // A backup: its job's progress bar ends full, and it is in the timeline, not yet tested.
    await page.click('#backup-now');
    await jobSucceeded('backup');
    // The engine's progress came through the event stream to its end, and the bar is full.
    assert.equal(await jobOf('backup').getAttribute('data-progress'), '1');
    const bar = jobOf('backup').locator('progress');
    // The element's property, not its attribute (the test's own types have no DOM).
    assert.equal(await bar.evaluate((p) => (p as unknown as { value: number }).value), 1);
    const entry = page.locator('#backup-timeline li[data-backup]');
    await entry.first().waitFor();
    assert.equal(await entry.count(), 1);
    assert.equal(await entry.locator('[data-badge]').getAttribute('data-badge'), 'untested');
    // Backed up live (the API's default, auto, like the CLI's): the guest was never shut down.
    const done = queue.list({ vm }).find((j) => j.kind === 'backup');
    assert.equal((done?.result as { mode?: string } | null)?.mode, 'live', JSON.stringify(done));
    assert.equal((await guest.domain.state()).state, 'running', 'the VM is still running');
    // What the backup read of the disk is on the disk's row.
    assert.match((await page.locator('table tr', { hasText: 'vda' }).textContent()) ?? '', /MiB$/);
    await shot('3-vm-backup');

    // The restore test boots a copy; its badge then says passed.
    await entry.locator('button.restore-test').click();
    await jobSucceeded('verify');
    await page
      .locator('#backup-timeline li[data-backup] [data-badge="passed"]')
      .waitFor({ timeout: JOB_DEADLINE_MS });
    await shot('4-vm-restore-test');

    // A revert asks first, saying what will be lost; from the keyboard, Escape cancels it.
    const jobs = await page.locator('#vm-jobs .job').count();
    await page.locator('[data-snapshot="sebelum-backup"] button').first().focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog.ask');
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /will be LOST/);
    assert.match((await dialog.textContent()) ?? '', /running memory/);
    await shot('4b-vm-revert-asks');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#vm-jobs .job').count(), jobs, 'nothing was started');

    // A schedule for the VM, through the real scheduler: added, its next run shown.
    await page.goto(`${server.url}/#/schedules`);
    await page.locator('#schedule-add').waitFor();
    await page.fill('#policy-id', 'harian');
    await page.fill('#policy-vms', vm);
    await page.fill('#policy-when', '0 3 * * *');
    await page.selectOption('#policy-mode', 'live');
    // keep-last only: a keep-daily would forget the restore-tested backup of today.
    await page.fill('#policy-keep-daily', '');
    await page.fill('#policy-keep-last', '5');
    await page.click('#schedule-add button[type="submit"]');
    const policy = page.locator('tr[data-policy="harian"]');
    await policy.waitFor();
    const next = await policy.locator('[data-next-run]').getAttribute('data-next-run');
    assert.ok(next && Date.parse(next) > Date.now(), `a next run in the future: ${next}`);
    assert.equal(new Date(next).getMinutes(), 0);
    // Run now: its backup job is shown here and followed to its end.
    await policy.locator('button.run-now').click();
    await jobSucceeded('backup', '#schedule-jobs');
    assert.match((await page.locator('#schedule-started').textContent()) ?? '', new RegExp(vm));
    await shot('5-schedules');

    // The overview: the backup's age, the passed test, the schedule and its next run, and no
    // "no schedule" warning any more.
    await page.goto(`${server.url}/#/`);
    await row.locator('[data-badge="passed"]').waitFor();
    assert.equal(await row.locator('[data-schedule]').getAttribute('data-schedule'), 'harian');
    assert.match((await row.locator('.next-run').textContent()) ?? '', /next/);
    assert.doesNotMatch((await row.textContent()) ?? '', /no schedule/);
    await shot('5b-overview-scheduled');
    // When the overview calls a backup late: after its schedule's period and half of it more
    // (the page's own module, asked in the page; a daily schedule, so after 36 h).
    const late = await page.evaluate(
      `import('/assets/overview.js').then((m) => ['2026-01-02T11:59:59Z', '2026-01-02T12:00:01Z']
        .map((now) => m.isLate('2026-01-01T00:00:00Z', 86400, Date.parse(now))))`,
    );
    assert.deepEqual(late, [false, true]);

    // Deleting the schedule asks first; then it is gone.
    await page.goto(`${server.url}/#/schedules`);
    await policy.locator('button.delete').click();
    await page.locator('dialog.ask button.danger').click();
    await policy.waitFor({ state: 'detached' });
    assert.equal(await page.locator('#schedules tbody tr').count(), 0);

    // The jobs (snapshot, backup, restore test, the schedule's backup) and the repository.
    await page.goto(`${server.url}/#/jobs`);
    const history = page.locator('#job-history tbody tr');
    await history.nth(3).waitFor();
    assert.equal(await history.count(), 4);
    // A finished job's log is kept by the server: the restore test's steps and states.
    const kept = page.locator('#job-history tr[data-kind="verify"] details.job-log');
    await kept.locator('summary').click();
    await kept.locator('li[data-type="state"]', { hasText: 'succeeded' }).waitFor();
    assert.ok((await kept.locator('li[data-type="note"]').count()) > 0, 'the steps it sent');
    await shot('6-jobs');
    await page.goto(`${server.url}/#/repo`);
    await page.locator('#growth-chart circle.stored').first().waitFor();
    const stats = (await page.locator('#repo-stats').textContent()) ?? '';
    assert.match(stats, /Deduplication/);
    // What the repository is, as `brankas repo info` says it.
    assert.match(stats, /Location/);
    assert.match(stats, /zstd level \d+/);
    assert.match(stats, /KiB each, ids blake3/);
    assert.equal(await page.locator('#repo-damaged').count(), 0, 'no damaged backup here');
    // The check is a job on the repository, followed on the page to its end.
    await page.click('#repo-verify');
    await jobSucceeded('repo-verify', '#repo-jobs');
    await page.locator('#repo-said', { hasText: 'sound' }).waitFor({ timeout: JOB_DEADLINE_MS });
    await shot('7-repo');

    // Indonesian, kept across pages; and at phone width.
    await page.click('#lang-switch');
    await page.locator('html[lang="id"] #repo-stats').waitFor();
    assert.match((await page.locator('#repo-stats').textContent()) ?? '', /Deduplikasi/);
    await page.goto(`${server.url}/#/vm/${vm}`);
    await page.locator('#backup-timeline [data-badge="passed"]').waitFor();
    assert.match((await page.locator('#backup-timeline').textContent()) ?? '', /lulus/);
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('8-vm-id-phone');
    const wide = (await page.evaluate('document.documentElement.scrollWidth')) as number;
    assert.ok(wide <= 390, `the page fits a phone's width (${wide} px)`);
    assert.deepEqual(problems, []);
  });

  test("a backup's files: browse to a file and download it; run a VM from the backup, make it local, stop serving", async () => {
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto(`${server.url}/#/vm/${vm}`);
    const entry = page.locator('#backup-timeline li[data-backup]').first();
    // From the keyboard: the link to the newest backup's files, then the file's button.
    await entry.locator('a.browse-files').focus();
    await page.keyboard.press('Enter');
    const file = page.locator('#file-list tr[data-entry="unduh.bin"]');
    await file.waitFor({ timeout: JOB_DEADLINE_MS });
    assert.equal(await page.locator('#files').getAttribute('data-path'), '/');
    await file.locator('button.download').focus();
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: JOB_DEADLINE_MS }),
      page.keyboard.press('Enter'),
    ]);
    assert.equal(download.suggestedFilename(), 'unduh.bin');
    const got = await readFile(await download.path());
    assert.equal(got.length, 300000);
    assert.equal(createHash('md5').update(got).digest('hex'), unduhSum, 'the same bytes');
    await page.locator('#files-said', { hasText: 'unduh.bin' }).waitFor();
    await shot('9-files');

    // Run a VM from the backup (not started: nothing boots), then on the runs page make it
    // local (a job) and stop serving.
    await page.goto(`${server.url}/#/vm/${vm}`);
    await entry.locator('input.run-as').fill(runName);
    await entry.locator('form.run-from button[type="submit"]').click();
    await jobSucceeded('restore');
    await page.goto(`${server.url}/#/runs`);
    const run = page.locator(`#runs tr[data-run="${runName}"]`);
    await run.waitFor();
    assert.equal(await run.getAttribute('data-state'), 'serving');
    await run.locator('button.persist').click();
    await jobSucceeded('restore', '#run-jobs');
    await page.locator(`#runs tr[data-run="${runName}"][data-state="persisted"]`).waitFor();
    await shot('10-runs');
    await page.locator(`#runs tr[data-run="${runName}"] button.stop`).click();
    await run.waitFor({ state: 'detached' });
    assert.deepEqual(await runs0.list(), []);
    assert.deepEqual(problems, []);
  });
});
