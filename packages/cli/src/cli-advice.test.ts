import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { ALL_REASONS, Code, refuse, SecaggError } from '@secagg/core';
import { ADVICE, adviceFor } from './cli-advice.js';

describe('the CLI advice', () => {
  it('has one line of advice for every reason of the table, and none for anything else', () => {
    assert.deepEqual(Object.keys(ADVICE).sort(), [...ALL_REASONS].sort());
    for (const reason of ALL_REASONS) assert.ok(ADVICE[reason].length >= 10, `advice for ${reason}`);
  });

  it('advises by reason when the reason is known, else by status', () => {
    assert.equal(adviceFor(refuse('not_sampled', 'x')), ADVICE.not_sampled);
    // A transport failure (no reason on the wire) and a reason from a newer server fall back to the status.
    assert.match(adviceFor(new SecaggError(Code.Unavailable, 'connection refused')), /is the gateway running/);
    assert.match(adviceFor(new SecaggError(Code.Unauthenticated, 'x', { reason: 'some_future_reason' })), /valid token/);
    assert.equal(adviceFor(new SecaggError(Code.OutOfRange, 'x')), '');
  });
});
