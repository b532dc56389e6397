/**
 * A repository in an S3 bucket, end to end: `brankas repo` commands with an s3: location
 * against a real S3-protocol server (s3rver on 127.0.0.1, started and stopped here), backups
 * written with the library's writer over buffers and read back, verify --read-data, prune and
 * gc; wrong credentials and a missing bucket as one-line errors; and the real executable,
 * whose output never carries the AWS SDK's warning about Node versions.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { S3Backend } from '../src/repo/backend/s3.js';
import {
  S3_TEST_CREDENTIALS,
  startS3Server,
  type S3TestServer,
} from '../src/repo/backend/testing/s3-server.js';
import { BackupDisk } from '../src/repo/reader.js';
import { Repository } from '../src/repo/repository.js';
import { randomBytes } from 'node:crypto';
import { bufferSource, type ExtentSource } from '../src/repo/source.js';
import { realisticBytes } from '../src/repo/testing/support.js';
import { BackupWriter } from '../src/repo/writer.js';
import { cli, TEST_STATE_DIR } from './support/cli.js';
import { BRANKAS_MAIN } from './support/main-path.js';

const run = promisify(execFile);
const MAIN = BRANKAS_MAIN;
const KEYS = {
  AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
};

let server: S3TestServer;
before(async () => {
  server = await startS3Server();
});
after(() => server?.cleanup());

/** Writes a backup of one disk through the library; its id. */
async function backup(location: string, data: Buffer): Promise<string> {
  const repo = await Repository.open(new S3Backend(location, { credentials: S3_TEST_CREDENTIALS }));
  try {
    const w = await BackupWriter.start(repo, { vm: { name: 'web01' } });
    await w.addDisk({ name: 'vda', source: bufferSource(data) });
    return (await w.commit()).id;
  } finally {
    await repo.close();
  }
}

async function readBack(location: string, id: string): Promise<Buffer> {
  const repo = await Repository.open(new S3Backend(location, { credentials: S3_TEST_CREDENTIALS }));
  try {
    const disk = await BackupDisk.open(repo, id, 'vda');
    try {
      return await disk.read(0, disk.virtualSize);
    } finally {
      await disk.close();
    }
  } finally {
    await repo.close();
  }
}

describe('a repository in an S3 bucket', () => {
  it('init, backups read back, verify --read-data, prune and gc work through the CLI', async () => {
    const env = { BRANKAS_REPO: server.location(), ...KEYS };
    const init = await cli(['repo', 'init', '--no-encryption', '--chunk-size', '64K'], env);
    assert.equal(init.code, 0, init.stderr);
    const again = await cli(['repo', 'init', '--no-encryption', '--json'], env);
    assert.equal(again.code, 1);
    assert.match(again.stdout, /REPO_EXISTS/);

    const first = realisticBytes(700 * 1024, 1);
    const second = realisticBytes(700 * 1024, 2);
    const ids = [await backup(env.BRANKAS_REPO, first), await backup(env.BRANKAS_REPO, second)];
    assert.deepEqual(await readBack(env.BRANKAS_REPO, ids[0]!), first);

    const info = await cli(['repo', 'info', '--json'], env);
    assert.equal(info.code, 0, info.stderr);
    const listed = (JSON.parse(info.stdout) as { backups: { id: string }[] }).backups;
    assert.deepEqual(
      listed.map((b) => b.id),
      ids,
    );
    const verify = await cli(['repo', 'verify', '--read-data'], env);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /No problems found/);

    const prune = await cli(['repo', 'prune', '--keep-last', '1'], env);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, /1 backup\(s\) removed/);
    const gc = await cli(['repo', 'gc', '--json'], env);
    assert.equal(gc.code, 0, gc.stderr);
    const stats = JSON.parse((await cli(['repo', 'stats', '--json'], env)).stdout) as {
      backups: number;
    };
    assert.equal(stats.backups, 1);
    assert.deepEqual(await readBack(env.BRANKAS_REPO, ids[1]!), second);
    const after = await cli(['repo', 'verify', '--read-data'], env);
    assert.equal(after.code, 0, after.stdout + after.stderr);
  });

  it('a server that stops mid-backup fails it clearly; nothing partial is listed and the next backup works', async () => {
    const env = { BRANKAS_REPO: server.location(), ...KEYS };
    assert.equal(
      (await cli(['repo', 'init', '--no-encryption', '--chunk-size', '64K'], env)).code,
      0,
    );
    const kept = realisticBytes(300 * 1024, 3);
    const keptId = await backup(env.BRANKAS_REPO, kept);
    // Incompressible, so the pack being written is a multipart upload when the server goes.
    const data = randomBytes(12 * 1024 * 1024);
    const plain = bufferSource(data);
    let stopped = false;
    const stopping: ExtentSource = {
      virtualSize: plain.virtualSize,
      extents: () => plain.extents(),
      read: async (offset, length) => {
        if (!stopped && offset >= 8 * 1024 * 1024) {
          stopped = true;
          await server.stop();
        }
        return plain.read(offset, length);
      },
    };
    const repo = await Repository.open(
      new S3Backend(env.BRANKAS_REPO, { credentials: S3_TEST_CREDENTIALS, maxAttempts: 2 }),
    );
    let failure: unknown;
    try {
      const w = await BackupWriter.start(repo, { vm: { name: 'web01' } });
      try {
        await w.addDisk({ name: 'vda', source: stopping });
        await w.commit();
      } catch (err) {
        failure = err;
        await w.abort().catch(() => undefined);
      }
    } finally {
      await repo.close().catch(() => undefined);
      await server.start();
    }
    assert.ok(stopped, 'the server was stopped during the backup');
    assert.equal((failure as { code?: string } | undefined)?.code, 'REPO_S3_UNREACHABLE');
    const info = await cli(['repo', 'info', '--json'], env);
    assert.equal(info.code, 0, info.stderr);
    const listed = (JSON.parse(info.stdout) as { backups: { id: string }[] }).backups;
    assert.deepEqual(
      listed.map((b) => b.id),
      [keptId],
    );
    const next = await backup(env.BRANKAS_REPO, data);
    assert.deepEqual(await readBack(env.BRANKAS_REPO, next), data);
    const verify = await cli(['repo', 'verify', '--read-data'], env);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.deepEqual(await readBack(env.BRANKAS_REPO, keptId), kept);
  });

  it('wrong credentials are one clear line, REPO_S3_AUTH', async () => {
    const r = await cli(['repo', 'info'], {
      BRANKAS_REPO: server.location(),
      AWS_ACCESS_KEY_ID: 'NOT-A-KEY',
      AWS_SECRET_ACCESS_KEY: 'wrong',
    });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /refused the credentials/);
    const json = await cli(['repo', 'info', '--json'], {
      BRANKAS_REPO: server.location(),
      AWS_ACCESS_KEY_ID: 'NOT-A-KEY',
      AWS_SECRET_ACCESS_KEY: 'wrong',
    });
    assert.match(json.stdout, /"REPO_S3_AUTH"/);
  });

  it('a missing bucket is one clear line naming it, and init does not make it', async () => {
    const env = { BRANKAS_REPO: `s3:${server.endpoint}/no-such-bucket-0/repo`, ...KEYS };
    for (const args of [
      ['repo', 'info'],
      ['repo', 'init', '--no-encryption'],
    ]) {
      const r = await cli(args, env);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /no bucket no-such-bucket-0 at http:\/\/127\.0\.0\.1:\d+/);
    }
  });

  it("the executable's output never carries the AWS SDK's Node version warning", async () => {
    const location = server.location();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...KEYS,
      BRANKAS_STATE_DIR: TEST_STATE_DIR,
      LANG: 'C',
    };
    delete env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'];
    const r = await run(
      process.execPath,
      [MAIN, 'repo', 'init', '--no-encryption', '--repo', location],
      { env },
    );
    assert.match(r.stdout, /chunks/);
    assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|AWS SDK/);
    const info = await run(process.execPath, [MAIN, 'repo', 'info', '--repo', location], { env });
    assert.doesNotMatch(info.stderr, /NodeVersionSupportWarning|AWS SDK/);
  });

  it('the AWS SDK is loaded only when an s3: location is used', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'brankas-test-sdk-'));
    try {
      // Module hooks that note every import and require of an @aws-sdk package in a file (the
      // backend loads the SDK's CommonJS build with require, which ESM hooks do not see).
      const log = join(dir, 'imports');
      await writeFile(
        join(dir, 'require-hook.cjs'),
        `const Module = require('node:module');\n` +
          `const { appendFileSync } = require('node:fs');\n` +
          `const load = Module._load;\n` +
          `Module._load = function (request, ...rest) {\n` +
          `  if (request.startsWith('@aws-sdk/')) appendFileSync(${JSON.stringify(log)}, request + '\\n');\n` +
          `  return load.call(this, request, ...rest);\n};\n`,
      );
      const hooks =
        `import { appendFileSync } from 'node:fs';\n` +
        `export async function resolve(specifier, context, next) {\n` +
        `  if (specifier.startsWith('@aws-sdk/')) appendFileSync(${JSON.stringify(log)}, specifier + '\\n');\n` +
        `  return next(specifier, context);\n}\n`;
      await writeFile(join(dir, 'hooks.mjs'), hooks);
      await writeFile(
        join(dir, 'register.mjs'),
        `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
      );
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...KEYS,
        BRANKAS_STATE_DIR: TEST_STATE_DIR,
        LANG: 'C',
      };
      const brankas = (args: string[]) =>
        run(
          process.execPath,
          [
            '--require',
            join(dir, 'require-hook.cjs'),
            '--import',
            join(dir, 'register.mjs'),
            MAIN,
            ...args,
          ],
          { env },
        );
      const imported = () => readFile(log, 'utf8').catch(() => '');
      await brankas(['repo', 'init', '--no-encryption', '--repo', join(dir, 'repo')]);
      await brankas(['repo', 'info', '--repo', join(dir, 'repo')]);
      assert.equal(await imported(), '', 'a local repository loads no AWS SDK');
      await brankas(['repo', 'init', '--no-encryption', '--repo', server.location()]);
      assert.match(await imported(), /@aws-sdk\/client-s3/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
