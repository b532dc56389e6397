import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RawHttp } from './s3-http.js';

/** A loopback server answering each request with the next canned bytes, cut into pieces. */
let server: Server;
let port: number;
let answers: { bytes: Buffer; cut: number; close?: boolean; silent?: boolean }[] = [];
const requests: string[] = [];
const sockets = new Set<Socket>();
let connections = 0;

before(async () => {
  server = createServer((s) => {
    sockets.add(s);
    connections++;
    s.on('close', () => sockets.delete(s));
    let head = '';
    s.on('data', (d) => {
      head += d.toString('latin1');
      while (head.includes('\r\n\r\n')) {
        const end = head.indexOf('\r\n\r\n');
        requests.push(head.slice(0, end));
        head = head.slice(end + 4);
        const a = answers.shift();
        if (!a) {
          s.destroy();
          return;
        }
        if (a.silent) return;
        // Written in pieces of `cut` bytes, each its own write (and mostly its own read).
        void (async () => {
          for (let o = 0; o < a.bytes.length; o += a.cut) {
            s.write(a.bytes.subarray(o, o + a.cut));
            await new Promise((r) => setImmediate(r));
          }
          if (a.close) s.destroy();
        })();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const answer = (status: string, headers: string[], body: Buffer | string): Buffer =>
  Buffer.concat([
    Buffer.from(`HTTP/1.1 ${status}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`),
    Buffer.from(body),
  ]);

const body = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 7) & 255));

describe('RawHttp', () => {
  it('reads a body straight into the target, the head and body cut at any byte', async () => {
    const http = new RawHttp('127.0.0.1', port, 10_000, 10_000);
    try {
      for (const cut of [1, 7, 100, 4096, 30_000]) {
        answers = [
          {
            bytes: answer('206 Partial Content', [`Content-Length: ${body.length}`], body),
            cut,
          },
        ];
        const into = Buffer.alloc(body.length + 10);
        const a = await http.get('/b/k', { host: 'x', range: 'bytes=0-1' }, () => into);
        assert.equal(a.statusCode, 206);
        assert.equal(a.body.buffer, into.buffer, `cut ${cut}: read into the target`);
        assert.deepEqual(a.body, body);
      }
      assert.match(requests.at(-1)!, /^GET \/b\/k HTTP\/1\.1\r\nhost: x\r\nrange: bytes=0-1$/);
    } finally {
      http.close();
    }
  });

  it('keeps one connection alive across requests', async () => {
    const http = new RawHttp('127.0.0.1', port, 10_000, 10_000);
    try {
      const before = connections;
      for (let i = 0; i < 3; i++) {
        answers = [{ bytes: answer('200 OK', ['Content-Length: 3'], 'abc'), cut: 2 }];
        const a = await http.get('/', {}, (n) => Buffer.alloc(n));
        assert.equal(a.body.toString(), 'abc');
      }
      assert.equal(connections, before + 1);
    } finally {
      http.close();
    }
  });

  it('collects an error answer, chunked or not, with its head', async () => {
    const http = new RawHttp('127.0.0.1', port, 10_000, 10_000);
    try {
      const xml = '<Error><Code>NoSuchKey</Code></Error>';
      const chunked = `${(10).toString(16)}\r\n${xml.slice(0, 10)}\r\n${(xml.length - 10).toString(16)};x=y\r\n${xml.slice(10)}\r\n0\r\n\r\n`;
      answers = [
        { bytes: answer('404 Not Found', ['Transfer-Encoding: chunked'], chunked), cut: 5 },
        { bytes: answer('503 Slow Down', [`Content-Length: ${xml.length}`], xml), cut: 3 },
      ];
      const a = await http.get('/', {}, () => assert.fail('no target for an error'));
      assert.equal(a.statusCode, 404);
      assert.equal(a.body.toString(), xml);
      const b = await http.get('/', {}, () => assert.fail('no target for an error'));
      assert.equal(b.statusCode, 503);
      assert.equal(b.body.toString(), xml);
    } finally {
      http.close();
    }
  });

  it('a body longer than the target takes is collected whole, not written past it', async () => {
    const http = new RawHttp('127.0.0.1', port, 10_000, 10_000);
    try {
      answers = [{ bytes: answer('200 OK', ['Content-Length: 10'], '0123456789'), cut: 4 }];
      const a = await http.get('/', {}, (n) => (n <= 5 ? Buffer.alloc(5) : undefined));
      assert.equal(a.body.toString(), '0123456789');
      // A target shorter than it says it takes is not written into either.
      answers = [{ bytes: answer('200 OK', ['Content-Length: 10'], '0123456789'), cut: 4 }];
      const short = Buffer.alloc(5);
      const b = await http.get('/', {}, () => short);
      assert.equal(b.body.toString(), '0123456789');
      assert.deepEqual(short, Buffer.alloc(5));
    } finally {
      http.close();
    }
  });

  it('a connection dropped mid-body fails the request with ECONNRESET, and the next one reconnects', async () => {
    const http = new RawHttp('127.0.0.1', port, 10_000, 10_000);
    try {
      answers = [
        {
          bytes: answer('200 OK', ['Content-Length: 100'], 'x'.repeat(40)),
          cut: 16,
          close: true,
        },
      ];
      await assert.rejects(
        http.get('/', {}, (n) => Buffer.alloc(n)),
        (e: Error & { code?: string }) => e.code === 'ECONNRESET',
      );
      answers = [{ bytes: answer('200 OK', ['Content-Length: 2'], 'ok'), cut: 1 }];
      assert.equal((await http.get('/', {}, (n) => Buffer.alloc(n))).body.toString(), 'ok');
    } finally {
      http.close();
    }
  });

  it('a request without an answer fails as a TimeoutError after the request timeout', async () => {
    // The server never answers: the outcome does not depend on the machine's speed.
    const http = new RawHttp('127.0.0.1', port, 10_000, 300);
    try {
      answers = [{ bytes: Buffer.alloc(0), cut: 1, silent: true }];
      await assert.rejects(
        http.get('/', {}, (n) => Buffer.alloc(n)),
        (e: Error & { code?: string }) => e.name === 'TimeoutError' && e.code === 'ETIMEDOUT',
      );
    } finally {
      http.close();
    }
  });

  it('a refused connection fails with ECONNREFUSED', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const http = new RawHttp('127.0.0.1', dead, 10_000, 10_000);
    await assert.rejects(
      http.get('/', {}, (n) => Buffer.alloc(n)),
      (e: Error & { code?: string }) => e.code === 'ECONNREFUSED',
    );
    http.close();
  });
});
