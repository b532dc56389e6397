import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isoWeek, planForget, type PolicyInput } from './policy.js';

function b(id: string, at: string, vm = 'web'): PolicyInput {
  return { id, vm: { name: vm, uuid: null }, startedAt: at };
}

const daily = [
  b('a', '2026-11-20T01:00:00Z'),
  b('b', '2026-11-20T13:00:00Z'),
  b('c', '2026-11-21T01:00:00Z'),
  b('d', '2026-11-23T01:00:00Z'),
  b('e', '2026-11-24T01:00:00Z'),
  b('f', '2026-10-01T01:00:00Z'),
  b('g', '2025-05-01T01:00:00Z'),
];

const kept = (p: ReturnType<typeof planForget>): string[] =>
  p
    .filter((d) => d.keep)
    .map((d) => d.id)
    .sort();

describe('forget policy', () => {
  it('keep-last keeps the n newest of each VM', () => {
    const p = planForget([...daily, b('x', '2020-01-01T00:00:00Z', 'db')], { last: 2 });
    assert.deepEqual(kept(p), ['d', 'e', 'x']);
  });

  it('keep-daily keeps the newest backup of each of the n most recent days that have one', () => {
    assert.deepEqual(kept(planForget(daily, { daily: 3 })), ['c', 'd', 'e']);
  });

  it('weekly, monthly and yearly buckets; reasons name every rule', () => {
    const p = planForget(daily, { weekly: 2, monthly: 2, yearly: 3 });
    assert.deepEqual(kept(p), ['c', 'e', 'f', 'g']);
    assert.deepEqual(p.find((d) => d.id === 'e')!.reasons, ['weekly', 'monthly', 'yearly']);
  });

  it('keep-hourly', () => {
    assert.deepEqual(kept(planForget(daily, { hourly: 2 })), ['d', 'e']);
  });

  it('an empty policy is refused rather than removing everything', () => {
    assert.throws(() => planForget(daily, {}), { code: 'REPO_POLICY_EMPTY' });
    assert.throws(() => planForget(daily, { daily: 0 }), { code: 'REPO_POLICY_EMPTY' });
    assert.throws(() => planForget(daily, { daily: -1 }), { code: 'REPO_INVALID_ARGUMENT' });
  });

  it('ISO weeks', () => {
    assert.equal(isoWeek(new Date('2026-01-01T00:00:00Z')), '2026-W01');
    assert.equal(isoWeek(new Date('2027-01-01T00:00:00Z')), '2026-W53');
    assert.equal(isoWeek(new Date('2026-11-23T00:00:00Z')), '2026-W48');
  });
});
