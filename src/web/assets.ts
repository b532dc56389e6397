/**
 * Serves the dashboard: `/` is the page, `/assets/` its style sheet and the compiled client
 * modules (read from the package's dist/src/web/client/, by a strict name, never a path the
 * request makes up; the same folder whether this code runs from the module tree or the bundle). None of it is secret (the data comes through the API, with the token), so no
 * token is asked for here; every response carries a CSP that allows only this origin.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { findPackageRoot } from '../util/package-root.js';
import { INDEX_HTML, STYLE_CSS } from './page.js';

const CLIENT_DIR = join(findPackageRoot() ?? '.', 'dist', 'src', 'web', 'client');

export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

function send(body: string, type: string): Response {
  return new Response(body, { headers: { ...HEADERS, 'content-type': type } });
}

export function webRoutes(app: Hono): void {
  app.get('/', () => send(INDEX_HTML, 'text/html; charset=utf-8'));
  app.get('/assets/style.css', () => send(STYLE_CSS, 'text/css; charset=utf-8'));
  app.get('/assets/:file{[a-z][a-z0-9-]*\\.js}', async (c) => {
    const file = c.req.param('file');
    let text: string;
    try {
      text = await readFile(join(CLIENT_DIR, file), 'utf8');
    } catch {
      return c.notFound();
    }
    // The source map comment names a file this server does not serve.
    return send(
      text.replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n'),
      'text/javascript; charset=utf-8',
    );
  });
}
