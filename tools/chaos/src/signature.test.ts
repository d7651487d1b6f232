import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Prng } from './prng.js';
import { decodePresence, signatureLayout, signedUpdate, tallyPresence } from './signature.js';

describe('signed updates', () => {
  const layout = signatureLayout(5_000, 2_048, 6); // 3 blocks, the last one 904 values
  const rng = new Prng(7);
  const updates = Array.from({ length: layout.clients }, (_, i) => signedUpdate(layout, i, rng));

  it('stay inside the clip norm, so clipping never rescales them', () => {
    for (const u of updates) {
      const norm = Math.sqrt(u.reduce((s, v) => s + v * v, 0));
      assert.ok(norm < 0.75 && norm > 0.5, `norm ${norm}`);
    }
  });

  it('decode lost, once, duplicated and partial updates from a noisy sum', () => {
    const sum = new Float64Array(layout.length);
    const add = (client: number, times: number, blocks = [0, 1, 2]) => {
      for (const b of blocks) {
        const end = Math.min(layout.length, (b + 1) * layout.valuesPerBlock);
        for (let j = b * layout.valuesPerBlock; j < end; j++) sum[j]! += times * updates[client]![j]!;
      }
    };
    add(0, 1);
    // client 1: lost
    add(2, 2); // duplicated
    add(3, 1, [0, 2]); // partial: block 1 missing
    add(4, 1);
    add(5, 1);
    for (let j = 0; j < sum.length; j++) sum[j]! += (rng.next() - 0.5) * 2e-6; // CKKS-sized error
    sum[5]! += layout.markerValue * 0.4; // client 5's block 0 reads 1.4: not an integer count

    const presence = decodePresence(layout, sum);
    assert.deepEqual(
      presence.map((p) => p.presence),
      ['once', 'absent', 'repeated', 'partial', 'once', 'partial'],
    );
    assert.equal(presence[2]!.times, 2);
    const tally = tallyPresence(presence, new Set([0, 1, 2, 3, 4, 5]));
    assert.deepEqual(tally, { folded: 3, lost: 1, duplicated: 1, partial: 2, unacknowledgedPresent: 0 });
    // An update present without a receipt is not "lost" and is reported apart.
    assert.equal(tallyPresence(presence, new Set([1, 2, 3, 4, 5])).unacknowledgedPresent, 1);
  });

  it('refuses a layout whose last block cannot hold every marker', () => {
    assert.throws(() => signatureLayout(4_100, 2_048, 20), /marker positions/);
    assert.doesNotThrow(() => signatureLayout(4_120, 2_048, 20));
  });

  it('replays the same updates from the same seed', () => {
    const a = signedUpdate(layout, 3, new Prng(99));
    const b = signedUpdate(layout, 3, new Prng(99));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, signedUpdate(layout, 3, new Prng(100)));
  });
});
