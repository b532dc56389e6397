/**
 * A child process for the crash-safety test: writes one backup of
 * deterministic data into a repository and says when it has committed. The
 * test kills it with SIGKILL at random moments.
 *
 *   node crash-writer.js REPO_DIR SEED SIZE_BYTES     (password in BRANKAS_TEST_PASSWORD)
 */
import { LocalBackend } from '../backend/local.js';
import { Repository } from '../repository.js';
import { bufferSource } from '../source.js';
import { realisticBytes } from './support.js';
import { BackupWriter } from '../writer.js';

const [dir, seedArg, sizeArg] = process.argv.slice(2);
const seed = Number(seedArg);
const repo = await Repository.open(new LocalBackend(dir!), {
  password: process.env['BRANKAS_TEST_PASSWORD'],
  workers: 1,
});
const w = await BackupWriter.start(repo, { vm: { name: 'crash' }, labels: { seed: String(seed) } });
process.stdout.write('started\n');
const data = realisticBytes(Number(sizeArg), seed);
await w.addDisk({ name: 'vda', source: bufferSource(data) });
const half = Buffer.from(data.subarray(0, data.length >> 1));
await w.addDisk({ name: 'vdb', source: bufferSource(half) });
const m = await w.commit();
process.stdout.write(`committed ${m.id}\n`);
await repo.close();
