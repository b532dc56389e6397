/**
 * Hosts registered by name (`brankas host add NAME URI`), so `-c NAME` and
 * `--all-hosts` reach them: `hosts.json` in the state directory
 * (docs/state-format.md, "The hosts file"), replaced whole through a
 * temporary file and a rename, so a reader sees the old list or the new.
 * Registering a host only records its URI; nothing is connected here.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseUri } from '../libvirt/index.js';
import { ServiceError, unusable } from './errors.js';

export interface RegisteredHost {
  name: string;
  uri: string;
  /** When it was added (ISO 8601). */
  added: string;
}

export interface HostsFile {
  version: 1;
  hosts: RegisteredHost[];
}

const FILE = 'hosts.json';
/** A name never looks like a URI (no ':' or '/'), so `-c` tells them apart. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function isHostName(s: string): boolean {
  return NAME.test(s);
}

export async function readHosts(stateDir: string): Promise<RegisteredHost[]> {
  let text: string;
  try {
    text = await readFile(join(stateDir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw unusable(stateDir, err);
  }
  let parsed: Partial<HostsFile>;
  try {
    parsed = JSON.parse(text) as Partial<HostsFile>;
  } catch (err) {
    throw unusable(stateDir, new Error(`${FILE} is not JSON: ${(err as Error).message}`));
  }
  if (parsed.version !== 1 || !Array.isArray(parsed.hosts)) {
    throw unusable(stateDir, new Error(`${FILE} is not a version 1 hosts file`));
  }
  return parsed.hosts.filter(
    (h): h is RegisteredHost =>
      typeof h?.name === 'string' && typeof h.uri === 'string' && typeof h.added === 'string',
  );
}

async function writeHosts(stateDir: string, hosts: RegisteredHost[]): Promise<void> {
  const body: HostsFile = { version: 1, hosts };
  const tmp = join(stateDir, `.${FILE}.${randomBytes(8).toString('hex')}.tmp`);
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeFile(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(stateDir, FILE));
  } catch (err) {
    await rm(tmp, { force: true });
    throw unusable(stateDir, err);
  }
}

/** Registers `name` for `uri` (checked as a libvirt URI); refuses a name already taken. */
export async function addHost(
  stateDir: string,
  name: string,
  uri: string,
  now = new Date(),
): Promise<RegisteredHost> {
  if (!isHostName(name)) {
    throw new ServiceError(
      'HOST_INVALID_NAME',
      `'${name}' cannot name a host: letters, digits, '.', '_' and '-' only (up to 63), starting with a letter or digit`,
      { details: { host: name } },
    );
  }
  parseUri(uri);
  const hosts = await readHosts(stateDir);
  if (hosts.some((h) => h.name === name)) {
    throw new ServiceError('HOST_EXISTS', `a host named '${name}' is already registered`, {
      details: { host: name },
    });
  }
  const host = { name, uri, added: now.toISOString() };
  await writeHosts(stateDir, [...hosts, host]);
  return host;
}

export async function removeHost(stateDir: string, name: string): Promise<RegisteredHost> {
  const hosts = await readHosts(stateDir);
  const host = hosts.find((h) => h.name === name);
  if (!host) throw hostNotFound(name);
  await writeHosts(
    stateDir,
    hosts.filter((h) => h !== host),
  );
  return host;
}

function hostNotFound(name: string): ServiceError {
  return new ServiceError(
    'HOST_NOT_FOUND',
    `no host named '${name}' is registered (brankas host list shows them; -c also takes a URI)`,
    { details: { host: name } },
  );
}

/**
 * What `-c` means: a URI as it is, a registered host's name as its URI, nothing as nothing
 * (the default connection).
 */
export async function resolveConnectTarget(
  stateDir: string,
  target: string | undefined,
): Promise<string | undefined> {
  if (target === undefined || target.includes(':') || !isHostName(target)) return target;
  const host = (await readHosts(stateDir)).find((h) => h.name === target);
  if (!host) throw hostNotFound(target);
  return host.uri;
}
