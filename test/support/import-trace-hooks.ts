/** Module resolve hook: appends each resolved URL (but node: built-ins) to the trace file. */
import { appendFileSync } from 'node:fs';

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(
  specifier: string,
  context: unknown,
  next: Next,
): Promise<{ url: string }> {
  const r = await next(specifier, context);
  const file = process.env['BRANKAS_TEST_IMPORT_TRACE'];
  if (file && !r.url.startsWith('node:')) appendFileSync(file, `${r.url}\n`);
  return r;
}
