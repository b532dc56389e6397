// s3rver in a child process of its own, for the S3 benchmarks (s3-restore-read.ts,
// s3-backup-write.ts): its CPU time is then counted apart from the client's.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './fixture.js';

/** s3rver in a child process; resolves with its endpoint, bucket and pid. */
export async function startServer(): Promise<{
  endpoint: string;
  bucket: string;
  pid: number;
  stop(): void;
}> {
  const module = join(repoRoot(), 'dist', 'src', 'repo', 'backend', 'testing', 's3-server.js');
  const script = `import { startS3Server } from ${JSON.stringify(module)};
const s = await startS3Server();
console.log(JSON.stringify({ endpoint: s.endpoint, bucket: s.bucket }));
process.stdin.resume();
process.stdin.on('end', async () => { await s.cleanup(); process.exit(0); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString()));
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code})`)));
  });
  const info = JSON.parse(line) as { endpoint: string; bucket: string };
  return { ...info, pid: child.pid!, stop: () => child.stdin.end() };
}

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
