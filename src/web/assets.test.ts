/**
 * The dashboard's files as the API's app serves them, in-process: the page and its scripts need
 * no token (they hold no data) but carry a CSP that allows only the same origin; only compiled
 * client modules are served, by name; the API behind still needs the token.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { CSP, webRoutes } from './assets.js';

const app = new Hono();
webRoutes(app);

test('the page and its modules are served without a token, each with the strict CSP', async () => {
  const page = await app.request('/');
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-security-policy'), CSP);
  assert.match(CSP, /default-src 'none'/);
  assert.match(CSP, /script-src 'self';/);
  const html = await page.text();
  assert.match(html, /<script type="module" src="\/assets\/main.js">/);
  assert.doesNotMatch(html, /https?:\/\//, 'nothing from outside');
  for (const path of ['/assets/main.js', '/assets/api.js', '/assets/style.css']) {
    const r = await app.request(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-security-policy'), CSP, path);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path);
  }
  const main = await (await app.request('/assets/main.js')).text();
  assert.match(main, /from '\.\/api\.js'/);
  assert.doesNotMatch(main, /sourceMappingURL/);
});

test('only client modules by name: a path, a map, a declaration or an unknown file is 404', async () => {
  for (const path of [
    '/assets/..%2Fassets.js',
    '/assets/../page.js',
    '/assets/main.js.map',
    '/assets/main.d.ts',
    '/assets/nothing.js',
    '/assets/Main.js',
  ]) {
    assert.equal((await app.request(path)).status, 404, path);
  }
});
