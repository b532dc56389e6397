import { test } from 'node:test';
import assert from 'node:assert/strict';
import { graphicsPasswords, redactPasswords, secureGraphics } from './graphics.js';

function domain(graphics: string): string {
  return `<domain type='qemu'><name>web01</name><devices>${graphics}</devices></domain>`;
}

const open = domain(
  "<graphics type='vnc' port='-1' autoport='yes' listen='0.0.0.0'><listen type='address' address='0.0.0.0'/></graphics>",
);

test('a console whose password the backup left out listens on a local socket only', () => {
  const { xml, graphics } = secureGraphics(open, {});
  assert.deepEqual(graphics, [{ type: 'vnc', action: 'local-socket' }]);
  assert.doesNotMatch(xml, /0\.0\.0\.0|port=|autoport=/);
  assert.match(xml, /<listen type="socket"\/>/);
});

test('a console listening on loopback only is moved too: any local user could reach it', () => {
  const { graphics } = secureGraphics(
    domain("<graphics type='spice' autoport='yes' listen='127.0.0.1'/>"),
    {},
  );
  assert.deepEqual(graphics, [{ type: 'spice', action: 'local-socket' }]);
});

test('a new password keeps the console where it listened; an inherited one is kept likewise', () => {
  const set = secureGraphics(open, { password: 'baru' });
  assert.deepEqual(set.graphics, [{ type: 'vnc', action: 'password-set' }]);
  assert.match(set.xml, /passwd="baru"/);
  assert.match(set.xml, /listen="0\.0\.0\.0"/);
  const reference = domain("<graphics type='vnc' port='5901' passwd='lama'/>");
  const kept = secureGraphics(open, { inherited: graphicsPasswords(reference) });
  assert.deepEqual(kept.graphics, [{ type: 'vnc', action: 'password-kept' }]);
  assert.match(kept.xml, /passwd="lama"/);
  // A SPICE console does not take a VNC password.
  const spice = secureGraphics(domain("<graphics type='spice' autoport='yes'/>"), {
    inherited: graphicsPasswords(reference),
  });
  assert.deepEqual(spice.graphics, [{ type: 'spice', action: 'local-socket' }]);
});

test('consoles with a password, on a socket already, or not on the network are kept', () => {
  const { xml, graphics } = secureGraphics(
    domain(
      "<graphics type='vnc' passwd='x' listen='0.0.0.0'/><graphics type='vnc'><listen type='socket'/></graphics>" +
        "<graphics type='spice'><listen type='none'/></graphics><graphics type='egl-headless'/>",
    ),
    {},
  );
  assert.deepEqual(
    graphics.map((g) => g.action),
    ['kept', 'kept', 'kept', 'kept'],
  );
  assert.match(xml, /listen="0\.0\.0\.0"/);
});

test('passwords are removed from XML that is shown', () => {
  assert.doesNotMatch(redactPasswords(domain("<graphics type='vnc' passwd='x'/>")), /passwd/);
});
