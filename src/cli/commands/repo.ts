/**
 * `brankas repo init|set|info|stats` and the list of every `repo` command (verify, prune and gc
 * in repo-maintenance.ts, repair, key, upgrade and copy in their own files): the backup
 * repository (src/repo/, docs/repository-format.md). Thin: parse, call, render.
 */
import { parseSize } from './repo-size.js';
import {
  backupInfo,
  repositoryInfo,
  type BackupInfo,
  type RepoInfo,
} from '../../engine/repo-info.js';
import { checkChunkSize, checkCompressionLevel, writeLevel } from '../../repo/config.js';
import { Repository } from '../../repo/repository.js';
import { repoStats } from '../../repo/stats.js';
import { UsageError, type Command, type ParsedArgs } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';
import {
  ratio,
  readNewPassword,
  repoLocation,
  repoOption,
  withBackend,
  withRepo,
} from './repo-common.js';
import { repoCopyCommand } from './repo-copy.js';
import { repoKeyCommand } from './repo-key.js';
import { repoRepairCommand } from './repo-repair.js';
import { repoUpgrade } from './repo-upgrade.js';
import { repoGc, repoPrune, repoVerify } from './repo-maintenance.js';

export const repoInit: Command = {
  name: 'repo init',
  summary: 'Create a backup repository (encrypted unless --no-encryption)',
  usage:
    'brankas repo init [--repo PATH] [--no-encryption] [--chunk-size SIZE] [--chunk-hash blake3|sha256]\n' +
    '                  [--compression zstd|none] [--compression-level 1-19] [--auth-key-file PATH] [--json]',
  help:
    'The password comes from $BRANKAS_PASSWORD_FILE, $BRANKAS_PASSWORD_COMMAND or a prompt.\n' +
    'The repository is $BRANKAS_REPO or /var/lib/brankas/repo unless --repo says otherwise;\n' +
    'an existing S3 bucket is s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX], with the keys in\n' +
    '$AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY or a profile named by $AWS_PROFILE.\n' +
    'The chunk size (64K to 4M, a power of two) is fixed for the life of the repository.\n' +
    'Chunks are named by BLAKE3 (default); --chunk-hash sha256 makes an encrypted repository\n' +
    'of format version 1 that older brankas releases can read, at a quarter of the hashing speed.\n' +
    'New chunks are compressed with zstd at level 1 (the fastest); a higher level stores less\n' +
    'for more time (level 4: 5 % less than level 1 on a tar of /usr, at a third of the speed),\n' +
    '--compression none stores chunks as they are (fastest, largest). docs/benchmarks.md\n' +
    'has the figures.\n' +
    'An unencrypted repository is signed with an auth key kept in it; --auth-key-file PATH keeps\n' +
    'the key in that new file outside it instead (every command then needs\n' +
    'BRANKAS_AUTH_KEY_FILE=PATH), so that only its holders can write backups brankas accepts.',
  options: {
    ...repoOption,
    'no-encryption': { type: 'boolean' },
    'chunk-size': { type: 'string' },
    'chunk-hash': { type: 'string' },
    compression: { type: 'string' },
    'compression-level': { type: 'string' },
    'auth-key-file': { type: 'string' },
  },
  async run(ctx, args) {
    const location = repoLocation(ctx, args);
    const plain = args.values['no-encryption'] === true;
    const authKeyFile = args.values['auth-key-file'] as string | undefined;
    if (authKeyFile !== undefined && !plain) {
      throw UsageError.say('usage.authKeyFile');
    }
    const chunk = args.values['chunk-size'] as string | undefined;
    const hash = args.values['chunk-hash'] as string | undefined;
    if (hash !== undefined && hash !== 'blake3' && hash !== 'sha256') {
      throw UsageError.say('usage.oneOf', {
        option: '--chunk-hash',
        allowed: 'blake3, sha256',
        value: hash,
      });
    }
    const { compression, level } = compressionOptions(args);
    const chunkSize = chunk === undefined ? undefined : parseSize(chunk);
    if (chunkSize !== undefined) {
      try {
        checkChunkSize(chunkSize);
      } catch (err) {
        throw UsageError.from(err);
      }
    }
    // Every value is checked above, and that no repository is there: nothing is printed or
    // asked before an error.
    await withBackend(ctx, location, (backend) => Repository.checkAbsent(backend));
    const password = plain ? undefined : await readNewPassword(ctx, true);
    if (plain) ctx.note(ctx.t('repo.noEncryptionWarning'));
    const config = await withBackend(ctx, location, (backend) =>
      Repository.init(backend, {
        password,
        chunkSize,
        chunkHash: hash,
        compression,
        compressionLevel: level,
        ...(authKeyFile !== undefined ? { authKeyFile } : {}),
      }),
    );
    if (ctx.json) return ctx.printJson({ location, config });
    ctx.print(
      ctx.t('repo.created', {
        location,
        chunk: formatBytes(config.chunkSize),
        encryption: config.encryption,
      }),
    );
  },
};

export const repoSet: Command = {
  name: 'repo set',
  summary: 'Change how new chunks are stored (compression); stored chunks stay as they are',
  usage:
    'brankas repo set [--compression zstd|none] [--compression-level 1-19] [--repo PATH] [--json]',
  help:
    'Backups from now on use the new setting; chunks already stored keep theirs (every\n' +
    'record says how it is stored, so any mix reads back). --compression-level alone means zstd.',
  options: {
    ...repoOption,
    compression: { type: 'string' },
    'compression-level': { type: 'string' },
  },
  async run(ctx, args) {
    const { compression, level } = compressionOptions(args);
    if (compression === undefined && level === undefined) {
      throw UsageError.say('usage.needsOneOf', {
        command: 'repo set',
        a: '--compression',
        b: '--compression-level',
      });
    }
    const config = await withRepo(ctx, args, (repo) =>
      repo.setCompression(compression ?? 'zstd', level),
    );
    if (ctx.json) return ctx.printJson({ config });
    ctx.print(ctx.t('repo.compressionSet', { compression: compressionText(writeLevel(config)) }));
  },
};

/** --compression and --compression-level, checked. */
function compressionOptions(args: ParsedArgs): {
  compression: 'zstd' | 'none' | undefined;
  level: number | undefined;
} {
  const compression = args.values['compression'] as string | undefined;
  if (compression !== undefined && compression !== 'zstd' && compression !== 'none') {
    throw UsageError.say('usage.oneOf', {
      option: '--compression',
      allowed: 'zstd, none',
      value: compression,
    });
  }
  const levelText = args.values['compression-level'] as string | undefined;
  // Digits only: Number() would also take '0x3', '1e1' and ' 5'.
  const level =
    levelText === undefined ? undefined : /^\d{1,3}$/.test(levelText) ? Number(levelText) : NaN;
  if (level !== undefined) {
    try {
      checkCompressionLevel(level, levelText);
    } catch (err) {
      throw UsageError.from(err);
    }
  }
  if (level !== undefined && compression === 'none') {
    throw UsageError.say('usage.levelNeedsZstd');
  }
  return { compression, level };
}

export const repoInfo: Command = {
  name: 'repo info',
  summary: 'Show the repository and its backups, or one backup in detail',
  usage: 'brankas repo info [BACKUP] [--repo PATH] [--json]',
  options: { ...repoOption },
  positionals: { min: 0, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    await withRepo(
      ctx,
      args,
      async (repo) => {
        const one = args.positionals[0];
        if (one) {
          const info = await backupInfo(repo, one);
          if (ctx.json) return ctx.printJson(info);
          return renderBackupInfo(ctx, info);
        }
        const info = await repositoryInfo(repo);
        if (ctx.json) return ctx.printJson(info);
        renderRepoInfo(ctx, info);
      },
      false,
    );
  },
};

function renderBackupInfo(ctx: CliContext, m: BackupInfo): void {
  ctx.print(
    table([
      [ctx.t('repo.col.backup'), m.id],
      ['VM', `${m.vm.name}${m.vm.uuid ? ` (${m.vm.uuid})` : ''}`],
      [ctx.t('repo.col.started'), m.startedAt],
      [ctx.t('repo.col.finished'), m.finishedAt],
      [ctx.t('repo.col.method'), m.method],
      [ctx.t('repo.col.parent'), m.parent ?? '-'],
      [ctx.t('repo.col.signature'), m.verified ? ctx.t('repo.verified') : ctx.t('repo.unverified')],
    ]),
  );
  ctx.print();
  ctx.print(
    table([
      ['DISK', ctx.t('repo.col.size'), 'DATA', ctx.t('repo.col.newStored'), 'FORMAT'],
      ...m.disks.map((d) => [
        d.name,
        formatBytes(d.virtualSize),
        formatBytes(d.dataBytes),
        formatBytes(d.newStoredBytes),
        d.format ?? '-',
      ]),
    ]),
  );
}

function renderRepoInfo(ctx: CliContext, info: RepoInfo): void {
  const c = info.config;
  ctx.print(
    table([
      [ctx.t('repo.col.repository'), info.location],
      ['id', c.id],
      [
        ctx.t('repo.col.format'),
        `v${c.version}, chunks ${formatBytes(c.chunkSize)} named by ${c.chunkHash}, packs ${formatBytes(c.packSize)}, ${compressionText(info.compressionLevel)}, ${c.encryption}${c.encryption === 'none' ? `, auth key ${c.authentication ?? 'none'}` : ''}`,
      ],
      [ctx.t('repo.col.keys'), String(info.keys.length)],
    ]),
  );
  ctx.print();
  ctx.print(ctx.t('repo.backups', { count: info.backups.length }));
  if (info.backups.length) {
    ctx.print(
      table(
        [
          [ctx.t('repo.col.backup'), 'VM', ctx.t('repo.col.started'), 'DISKS', 'DATA'],
          ...info.backups.map((b) => [
            b.id,
            b.vm.name,
            b.startedAt,
            b.disks.map((d) => d.name).join(','),
            formatBytes(b.disks.reduce((n, d) => n + d.dataBytes, 0)),
          ]),
        ],
        '  ',
      ),
    );
  }
  for (const e of info.damaged) {
    ctx.note(ctx.t('repo.damagedManifest', { message: String(e['message']) }));
  }
}

export const repoStatsCommand: Command = {
  name: 'repo stats',
  summary: 'Sizes and ratios: logical, stored, deduplication, compression',
  usage: 'brankas repo stats [--repo PATH] [--json]',
  options: { ...repoOption },
  async run(ctx, args) {
    await withRepo(ctx, args, async (repo) => {
      const s = await repoStats(repo);
      if (ctx.json) return ctx.printJson(s);
      ctx.print(
        table([
          [ctx.t('repo.stats.backups'), `${s.backups} (${s.vms} VM, ${s.disks} disks)`],
          [ctx.t('repo.stats.logical'), formatBytes(s.logicalBytes)],
          [ctx.t('repo.stats.data'), formatBytes(s.dataBytes)],
          [
            ctx.t('repo.stats.unique'),
            `${formatBytes(s.uniquePlainBytes)} (${s.uniqueChunks} chunks)`,
          ],
          [ctx.t('repo.stats.stored'), formatBytes(s.totalBytes)],
          [ctx.t('repo.stats.dedup'), ratio(s.dedupRatio)],
          [ctx.t('repo.stats.compression'), ratio(s.compressionRatio)],
          [ctx.t('repo.stats.overall'), ratio(s.overallRatio)],
        ]),
      );
      if (s.damagedIndexRuns)
        ctx.note(ctx.t('repo.statsDamagedRuns', { count: s.damagedIndexRuns }));
    });
  },
};

export const repoCommands: Command[] = [
  repoInit,
  repoSet,
  repoInfo,
  repoVerify,
  repoPrune,
  repoGc,
  repoStatsCommand,
  repoRepairCommand,
  repoKeyCommand,
  repoUpgrade,
  repoCopyCommand,
];

function compressionText(level: number): string {
  return level === 0 ? 'uncompressed' : `zstd level ${level}`;
}
