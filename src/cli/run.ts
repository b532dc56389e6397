/**
 * The CLI runner: global options, command dispatch, and the one place where
 * errors become messages and exit codes. A user never sees a stack trace for
 * a mistake of theirs; BRANKAS_DEBUG=1 shows it for ours.
 */
import { parseArgs } from 'node:util';
import { isBrankasError, errorMessage } from '../util/errors.js';
import { asFileError } from '../util/file-errors.js';
import { CliContext, type CliIO } from './context.js';
import { UsageError, type Command, type OptionSpec } from './command.js';
import { pickLang, translator, type MessageKey } from './i18n.js';
import { errorText } from './error-text.js';

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, INTERRUPTED: 130 } as const;

/**
 * Commands by their first word, loaded only when used: a command pays for the
 * modules it needs (the repository's native zstd, the image readers...), not
 * for all of them. Order is the order of `brankas --help`.
 */
const GROUPS: Record<string, () => Promise<Command[]>> = {
  inventory: async () => [(await import('./commands/inventory.js')).inventoryCommand],
  status: async () => [(await import('./commands/status.js')).statusCommand],
  snapshot: async () => (await import('./commands/snapshot.js')).snapshotCommands,
  lab: async () => [
    ...(await import('./commands/lab.js')).labCommands,
    ...(await import('./commands/lab-thin.js')).labThinCommands,
  ],
  disk: async () => (await import('./commands/disk.js')).diskCommands,
  volume: async () => (await import('./commands/volume.js')).volumeCommands,
  backup: async () => [(await import('./commands/backup.js')).backupCommand],
  backups: async () => [(await import('./commands/backup.js')).backupsCommand],
  restore: async () => [(await import('./commands/restore.js')).restoreCommand],
  verify: async () => [(await import('./commands/verify.js')).verifyCommand],
  doctor: async () => [(await import('./commands/doctor.js')).doctorCommand],
  mount: async () => [(await import('./commands/mount.js')).mountCommand],
  files: async () => [(await import('./commands/files.js')).filesCommand],
  run: async () => [(await import('./commands/run.js')).runCommand],
  'serve-export': async () => [(await import('./commands/serve-export.js')).serveExportCommand],
  repo: async () => (await import('./commands/repo.js')).repoCommands,
  demo: async () => [(await import('./commands/demo.js')).demoCommand],
  serve: async () => [(await import('./commands/serve.js')).serveCommand],
  schedule: async () => (await import('./commands/schedule.js')).scheduleCommands,
  service: async () => [(await import('./commands/service.js')).serviceInstall],
  host: async () => (await import('./commands/host.js')).hostCommands,
};

async function allCommands(): Promise<Command[]> {
  return (await Promise.all(Object.values(GROUPS).map((load) => load()))).flat();
}

const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  lang: { type: 'string' },
  connect: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
};

export const VERSION = '0.1.0';

function mainHelp(COMMANDS: Command[]): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'brankas: keep libvirt/KVM virtual machines safe.',
    '',
    'Usage: brankas <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    '  -c, --connect URI  libvirt connection URI, or a host registered with brankas host add\n' +
      '                     (default: $LIBVIRT_DEFAULT_URI or qemu:///system)',
    '  --json             machine-readable output',
    '  --lang en|id       language of messages (default from $LANG)',
    '  -h, --help         help for brankas or a command',
    '  --version          print the version',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [`Usage: ${c.usage}`, '', c.summary, ...(c.help ? ['', c.help] : [])].join('\n');
}

/**
 * Global options may come before the command (`brankas --lang id status`): they are moved after
 * it, where the command's parser reads them with its own.
 */
function commandFirst(argv: string[]): string[] {
  const lead: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--json' || a.startsWith('--lang=') || a.startsWith('--connect=')) {
      lead.push(a);
      i += 1;
    } else if ((a === '--lang' || a === '-c' || a === '--connect') && i + 1 < argv.length) {
      lead.push(a, argv[i + 1]!);
      i += 2;
    } else break;
  }
  return i === 0 || i === argv.length ? argv : [...argv.slice(i), ...lead];
}

export async function run(givenArgv: string[], io: CliIO): Promise<number> {
  const argv = commandFirst(givenArgv);
  const first = argv[0];
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(mainHelp(await allCommands()) + '\n');
    return first === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (first === '--version') {
    io.stdout.write(`brankas ${VERSION}\n`);
    return EXIT.OK;
  }
  const COMMANDS = Object.hasOwn(GROUPS, first) ? await GROUPS[first]!() : [];
  // Commands may have two words ("snapshot create"): the longest match wins.
  const command =
    COMMANDS.find((c) => c.name === `${first} ${argv[1] ?? ''}`) ??
    COMMANDS.find((c) => c.name === first);
  const words = command?.name.split(' ').length ?? 1;
  // Language must be known before the first message, even a usage error.
  const langFlag =
    argv.find((a, i) => argv[i - 1] === '--lang') ??
    argv.find((a) => a.startsWith('--lang='))?.slice(7);
  let lang;
  try {
    lang = pickLang(langFlag, io.env);
  } catch (err) {
    io.stderr.write(`usage error: ${errorMessage(err)}\n`);
    return EXIT.USAGE;
  }
  const t = translator(lang);
  if (!command) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
    if (group.length > 0) {
      // "brankas snapshot" alone, or with an unknown sub-command: list the group.
      const help = group.map((c) => `  ${c.usage}\n      ${c.summary}`).join('\n');
      const known = argv[1] === undefined || argv[1] === '--help' || argv[1] === '-h';
      if (!known)
        io.stderr.write(t('usage.unknownCommand', { command: `${first} ${argv[1]}` }) + '\n');
      (known ? io.stdout : io.stderr).write(help + '\n');
      return known && argv[1] !== undefined ? EXIT.OK : EXIT.USAGE;
    }
    io.stderr.write(t('usage.unknownCommand', { command: first }) + '\n');
    return EXIT.USAGE;
  }

  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(words),
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    const n = parsed.positionals.length;
    const p = command.positionals ?? { min: 0, max: 0, names: '' };
    if (!parsed.values['help'] && (n < p.min || n > p.max)) {
      throw n < p.min
        ? UsageError.say('usage.missingArguments', { names: p.names })
        : UsageError.say('usage.unexpectedArgument', { value: parsed.positionals[p.max]! });
    }
  } catch (err) {
    const said = parseError(err);
    if (argv.includes('--json')) {
      // As every other error under --json: one object on stdout, the message in English.
      const message = said ? translator('en')(said.key, said.params) : errorMessage(err);
      io.stdout.write(JSON.stringify({ error: { code: 'USAGE', message } }) + '\n');
      return EXIT.USAGE;
    }
    io.stderr.write(
      t('usage.error', { message: said ? t(said.key, said.params) : errorMessage(err) }) + '\n',
    );
    io.stderr.write(t('usage.hint', { command: command.name }) + '\n');
    return EXIT.USAGE;
  }
  if (parsed.values['help']) {
    io.stdout.write(commandHelp(command) + '\n');
    return EXIT.OK;
  }

  const ctx = new CliContext(
    io,
    lang,
    t,
    parsed.values['json'] === true,
    parsed.values['connect'] as string | undefined,
  );
  try {
    const code = await command.run(ctx, parsed);
    return code ?? EXIT.OK;
  } catch (err) {
    return reportError(ctx, err);
  } finally {
    await ctx.close();
  }
}

function reportError(ctx: CliContext, thrown: unknown): number {
  // A file system error at a path (a directory where a file was expected, a read-only mount...)
  // is said as one line naming the path, wherever it came from.
  const path = (thrown as { path?: unknown } | null)?.path;
  const err = typeof path === 'string' ? asFileError(path, thrown) : thrown;
  const usage = err instanceof UsageError;
  const code = usage ? 'USAGE' : isBrankasError(err) ? err.code : 'INTERNAL';
  if (ctx.json) {
    const body = isBrankasError(err) ? err.toJSON() : { code, message: errorMessage(err) };
    ctx.io.stdout.write(JSON.stringify({ error: body }) + '\n');
  } else {
    if (usage) {
      const message =
        err.typed !== undefined
          ? errorText(ctx.lang, err.typed)
          : err.key !== undefined
            ? ctx.t(err.key, err.params)
            : errorMessage(err);
      ctx.io.stderr.write(ctx.t('usage.error', { message }) + '\n');
    } else {
      ctx.io.stderr.write(ctx.t('error.prefix', { message: errorText(ctx.lang, err) }) + '\n');
    }
  }
  if (ctx.io.env['BRANKAS_DEBUG']) {
    if (err instanceof Error && err.stack) ctx.io.stderr.write(err.stack + '\n');
  } else if (!usage && !isBrankasError(err) && !ctx.json) {
    // Not one of our typed errors: a bug of ours. One line more says how to report it.
    ctx.io.stderr.write(ctx.t('error.internalHint') + '\n');
  }
  return usage ? EXIT.USAGE : EXIT.FAILURE;
}

// Disk data plane commands (disk info, volumes, Experiment 2).

/**
 * node:util's parseArgs errors (English only, with advice about `--` that fits no brankas
 * command) as catalogue keys; undefined for anything else. Its texts name the option in
 * quotes: "Unknown option '--x'...", "Option '--x <value>' argument missing", "Option '--x'
 * argument is ambiguous...", "Option '--x' does not take an argument".
 */
function parseError(
  err: unknown,
): { key: MessageKey; params: Record<string, string | number> } | undefined {
  if (err instanceof UsageError && err.key !== undefined) {
    return { key: err.key, params: err.params ?? {} };
  }
  const code = (err as { code?: unknown } | null)?.code;
  const message = errorMessage(err);
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (option === undefined) return undefined;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION')
    return { key: 'usage.unknownOption', params: { option } };
  if (code !== 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return undefined;
  if (/ambiguous/.test(message)) return { key: 'usage.optionDashValue', params: { option } };
  if (/does not take an argument/.test(message)) {
    return { key: 'usage.optionTakesNoValue', params: { option } };
  }
  return { key: 'usage.optionNeedsValue', params: { option } };
}
