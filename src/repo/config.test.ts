import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { newConfig, peekConfig, sealConfig, writeLevel } from './config.js';
import { seal } from './envelope.js';

function body(bytes: Buffer): Record<string, unknown> {
  const envelope = JSON.parse(bytes.toString('utf8')) as { body: string };
  return JSON.parse(envelope.body) as Record<string, unknown>;
}

describe('config', () => {
  it('a new repository names chunks by BLAKE3 in a version 2 config', () => {
    const c = newConfig({ encrypted: false });
    assert.equal(c.chunkHash, 'blake3');
    const sealed = sealConfig(c, undefined);
    assert.equal(body(sealed)['version'], 2);
    assert.equal(body(sealed)['chunkHash'], 'blake3');
    assert.deepEqual(peekConfig(sealed), c);
  });

  it('SHA-256 is written as version 1, exactly the old format, and read back as sha256', () => {
    for (const macKey of [undefined, randomBytes(32)]) {
      const c = newConfig({ encrypted: macKey !== undefined, chunkHash: 'sha256' });
      const sealed = sealConfig(c, macKey);
      assert.equal(body(sealed)['version'], 1);
      assert.equal('chunkHash' in body(sealed), false);
      assert.deepEqual(peekConfig(sealed), c);
    }
  });

  it('refuses an unknown version, an unknown hash, and a hash it was not asked for', () => {
    const c = newConfig({ encrypted: false });
    assert.throws(() => peekConfig(seal('brankas-config', { ...c, version: 4 }, undefined)), {
      code: 'REPO_UNSUPPORTED_VERSION',
    });
    assert.throws(() => peekConfig(seal('brankas-config', { ...c, chunkHash: 'md5' }, undefined)), {
      code: 'REPO_CONFIG_CORRUPT',
    });
    assert.throws(() => newConfig({ encrypted: false, chunkHash: 'md5' as unknown as 'sha256' }), {
      code: 'REPO_INVALID_ARGUMENT',
    });
  });

  it('an authenticated unencrypted config is version 3 and says where its auth key is; no other has the field', () => {
    for (const place of ['repository', 'external'] as const) {
      for (const chunkHash of ['blake3', 'sha256'] as const) {
        const c = newConfig({ encrypted: false, chunkHash, authentication: place });
        const sealed = sealConfig(c, randomBytes(32));
        assert.equal(body(sealed)['version'], 3);
        assert.equal(body(sealed)['authentication'], place);
        assert.deepEqual(peekConfig(sealed), c);
      }
    }
    const v3 = newConfig({ encrypted: false, authentication: 'repository' });
    const bad = [
      { ...v3, authentication: undefined },
      { ...v3, authentication: 'elsewhere' },
      { ...v3, encryption: 'aes-256-gcm' },
      { ...newConfig({ encrypted: false }), authentication: 'repository' },
    ];
    for (const b of bad) {
      assert.throws(() => peekConfig(seal('brankas-config', b, undefined)), {
        code: 'REPO_CONFIG_CORRUPT',
      });
    }
    assert.throws(() => newConfig({ encrypted: true, authentication: 'repository' }), {
      code: 'REPO_INVALID_ARGUMENT',
    });
  });

  it('compression: zstd at a level, or none; the default config has no level field', () => {
    const plain = newConfig({ encrypted: false });
    assert.equal('compressionLevel' in body(sealConfig(plain, undefined)), false);
    assert.equal(writeLevel(plain), 1);
    const six = newConfig({ encrypted: false, compressionLevel: 6 });
    assert.equal(writeLevel(peekConfig(sealConfig(six, undefined))), 6);
    const none = newConfig({ encrypted: false, compression: 'none' });
    assert.equal(writeLevel(peekConfig(sealConfig(none, undefined))), 0);
    for (const bad of [0, 20, 1.5]) {
      assert.throws(() => newConfig({ encrypted: false, compressionLevel: bad }), {
        code: 'REPO_BAD_LEVEL',
      });
      assert.throws(
        () => peekConfig(seal('brankas-config', { ...plain, compressionLevel: bad }, undefined)),
        { code: 'REPO_CONFIG_CORRUPT' },
      );
    }
    assert.throws(() => newConfig({ encrypted: false, compression: 'none', compressionLevel: 3 }), {
      code: 'REPO_INVALID_ARGUMENT',
    });
    assert.throws(
      () => peekConfig(seal('brankas-config', { ...plain, compression: 'lz4' }, undefined)),
      {
        code: 'REPO_CONFIG_CORRUPT',
      },
    );
  });
});
