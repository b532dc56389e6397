import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { NbdClient, type NbdClientOptions } from './client.js';
import { Cmd, Info, NBD_CLISERV_MAGIC, Opt, RepErr, TransmissionFlag } from './constants.js';
import { NbdClientError, NbdOptionError } from './errors.js';
import { NbdPeer, socketPair, type PeerOptions } from './testing/index.js';
import { HANG_MS, waitUntil } from '../util/testing/index.js';
import { encodeGoData, encodeMetaContextData, encodeOption, encodeRequest } from './wire.js';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

const ascii = (s: string): string => Buffer.from(s).toString('hex');

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof Error);
    assert.equal((err as { code?: unknown }).code, code, err.message);
    return true;
  };
}

async function connect(
  t: TestContext,
  peerOptions: PeerOptions,
  options: NbdClientOptions = {},
): Promise<{ client: NbdClient; peer: NbdPeer }> {
  const [a, b] = socketPair();
  const peer = new NbdPeer(b, peerOptions);
  t.after(() => {
    a.destroy();
    b.destroy();
  });
  const client = await NbdClient.over(a, { connectTimeoutMs: HANG_MS, ...options });
  t.after(() => client.destroy());
  return { client, peer };
}

describe('option and request encoding', () => {
  test('NBD_OPT_STRUCTURED_REPLY', () => {
    assert.deepEqual(encodeOption(Opt.STRUCTURED_REPLY), hex('49484156454f5054 00000008 00000000'));
  });

  test('NBD_OPT_GO with an export name and an NBD_INFO_BLOCK_SIZE request', () => {
    assert.deepEqual(
      encodeOption(Opt.GO, encodeGoData('vda', [Info.BLOCK_SIZE])),
      hex(`49484156454f5054 00000007 0000000b  00000003 ${ascii('vda')} 0001 0003`),
    );
  });

  test('NBD_OPT_GO for the default export with no information requests', () => {
    assert.deepEqual(
      encodeOption(Opt.GO, encodeGoData('', [])),
      hex('49484156454f5054 00000007 00000006  00000000 0000'),
    );
  });

  test('NBD_OPT_SET_META_CONTEXT with two queries', () => {
    assert.deepEqual(
      encodeOption(
        Opt.SET_META_CONTEXT,
        encodeMetaContextData('vda', ['base:allocation', 'qemu:dirty-bitmap:bm0']),
      ),
      hex(
        `49484156454f5054 0000000a 00000037
         00000003 ${ascii('vda')}
         00000002
         0000000f ${ascii('base:allocation')}
         00000015 ${ascii('qemu:dirty-bitmap:bm0')}`,
      ),
    );
  });

  test('a READ request header with a 64-bit offset', () => {
    assert.deepEqual(
      encodeRequest(0, Cmd.READ, 1, 2 ** 32, 65536),
      hex('25609513 0000 0000 0000000000000001 0000000100000000 00010000'),
    );
  });

  test('a WRITE_ZEROES request with NO_HOLE and a large cookie', () => {
    assert.deepEqual(
      encodeRequest(2, Cmd.WRITE_ZEROES, 2 ** 40 + 5, 512, 1 << 30),
      hex('25609513 0002 0006 0000010000000005 0000000000000200 40000000'),
    );
  });
});

describe('handshake', () => {
  test('sends client flags, STRUCTURED_REPLY, SET_META_CONTEXT and GO, in that order', async (t) => {
    const { client, peer } = await connect(
      t,
      { size: 1 << 30, contexts: { 'base:allocation': 5, 'qemu:dirty-bitmap:bm0': 9 } },
      { exportName: 'vda', metaContexts: ['base:allocation', 'qemu:dirty-bitmap:bm0'] },
    );
    assert.deepEqual(
      Buffer.concat(peer.handshakeBytes),
      Buffer.concat([
        hex('00000003'), // C_FIXED_NEWSTYLE | C_NO_ZEROES (the peer offers NO_ZEROES)
        encodeOption(Opt.STRUCTURED_REPLY),
        encodeOption(
          Opt.SET_META_CONTEXT,
          encodeMetaContextData('vda', ['base:allocation', 'qemu:dirty-bitmap:bm0']),
        ),
        encodeOption(Opt.GO, encodeGoData('vda', [Info.BLOCK_SIZE])),
      ]),
    );
    assert.equal(client.size, 1 << 30);
    assert.equal(client.info.structuredReplies, true);
    assert.deepEqual(
      [...client.info.contexts],
      [
        ['base:allocation', 5],
        ['qemu:dirty-bitmap:bm0', 9],
      ],
    );
    assert.equal(client.readOnly, false);
    assert.equal(client.info.maxPayload, 32 * 1024 * 1024);
  });

  test('takes block size constraints from NBD_INFO_BLOCK_SIZE', async (t) => {
    const { client } = await connect(t, {
      blockSize: { min: 512, preferred: 4096, max: 1 << 20 },
      transmissionFlags: TransmissionFlag.HAS_FLAGS | TransmissionFlag.READ_ONLY,
    });
    assert.equal(client.info.minBlock, 512);
    assert.equal(client.info.preferredBlock, 4096);
    assert.equal(client.info.maxPayload, 1 << 20);
    assert.equal(client.readOnly, true);
  });

  test('caps an advertised maximum payload above 32 MiB', async (t) => {
    const { client } = await connect(t, {
      blockSize: { min: 1, preferred: 4096, max: 0xffffffff },
    });
    assert.equal(client.info.maxPayload, 32 * 1024 * 1024);
  });

  test('rejects impossible block size constraints', async (t) => {
    await assert.rejects(
      connect(t, { blockSize: { min: 3, preferred: 4096, max: 1 << 20 } }),
      hasCode('NBD_PROTOCOL'),
    );
  });

  test('an unknown export is an NbdOptionError with the server message, and the client aborts', async (t) => {
    const [a, b] = socketPair();
    const peer = new NbdPeer(b, {
      refuse: { option: Opt.GO, type: RepErr.UNKNOWN, message: "export 'nope' not present" },
    });
    t.after(() => b.destroy());
    const err = await NbdClient.over(a, { exportName: 'nope' }).catch((e: unknown) => e);
    assert.ok(err instanceof NbdOptionError);
    assert.equal(err.code, 'NBD_REP_ERR_UNKNOWN');
    assert.match(err.message, /export 'nope' not present/);
    await waitUntil(() => peer.options.at(-1)?.option === Opt.ABORT, 'a soft disconnect');
  });

  test('maps other option errors to their protocol names', async (t) => {
    await assert.rejects(
      connect(t, { refuse: { option: Opt.GO, type: RepErr.TLS_REQD, message: 'tls please' } }),
      hasCode('NBD_REP_ERR_TLS_REQD'),
    );
    await assert.rejects(
      connect(t, { refuse: { option: Opt.STRUCTURED_REPLY, type: RepErr.POLICY, message: '' } }),
      hasCode('NBD_REP_ERR_POLICY'),
    );
  });

  test('a metadata context the server does not offer fails the connection, naming it', async (t) => {
    const err = await connect(
      t,
      { contexts: { 'base:allocation': 1 } },
      { metaContexts: ['base:allocation', 'qemu:dirty-bitmap:missing'] },
    ).catch((e: unknown) => e);
    assert.ok(err instanceof NbdClientError);
    assert.equal(err.code, 'NBD_META_CONTEXT_UNAVAILABLE');
    assert.match(err.message, /qemu:dirty-bitmap:missing/);
    assert.match(err.message, /granted base:allocation/);
  });

  test('without structured replies, reads use simple replies and contexts are refused', async (t) => {
    const disk = Buffer.alloc(8192, 7);
    const { client } = await connect(t, { structuredReplies: false, disk });
    assert.equal(client.info.structuredReplies, false);
    assert.deepEqual(await client.read(100, 50), Buffer.alloc(50, 7));
    await assert.rejects(
      connect(t, { structuredReplies: false }, { metaContexts: ['base:allocation'] }),
      hasCode('NBD_UNSUPPORTED'),
    );
  });

  test('falls back to NBD_OPT_EXPORT_NAME when the server lacks NBD_OPT_GO', async (t) => {
    const { client, peer } = await connect(t, { noGo: true, disk: Buffer.alloc(4096, 1) });
    assert.equal(client.size, 4096);
    assert.deepEqual(
      peer.options.map((o) => o.option),
      [Opt.STRUCTURED_REPLY, Opt.GO, Opt.EXPORT_NAME],
    );
    assert.deepEqual(await client.read(0, 4), Buffer.alloc(4, 1));
  });

  test('refuses an oldstyle server', async (t) => {
    await assert.rejects(connect(t, { magic: NBD_CLISERV_MAGIC }), hasCode('NBD_UNSUPPORTED'));
  });

  test('times out a server that never greets', async (t) => {
    const [a, b] = socketPair();
    t.after(() => b.destroy());
    await assert.rejects(NbdClient.over(a, { connectTimeoutMs: 50 }), hasCode('NBD_TIMEOUT'));
  });

  test('a server hanging up mid-handshake is NBD_CONNECTION_CLOSED', async () => {
    const [a, b] = socketPair();
    b.write(hex('4e42444d41474943'));
    setTimeout(() => b.end(), 10);
    await assert.rejects(NbdClient.over(a), hasCode('NBD_CONNECTION_CLOSED'));
  });
});
