import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { scrubLogged, serializeError } from './logger.js';

describe('logged errors carry no payload bytes', () => {
  it('an error with a 200 KB command argument (as ioredis attaches it) serializes to a short line', () => {
    const chunk = Buffer.alloc(200_000, 7);
    const error = Object.assign(new Error('EXECABORT Transaction discarded because of previous errors.'), {
      name: 'ReplyError',
      command: { name: 'exec', args: [chunk, 'x'.repeat(10_000)] },
      previousErrors: [Object.assign(new Error('OOM command not allowed'), { command: { name: 'rpush', args: ['key', chunk] } })],
    });
    const line = JSON.stringify(serializeError(error));
    assert.ok(line.length < 8_000, `${line.length} chars`);
    assert.match(line, /\[200000 bytes\]/);
    assert.match(line, /EXECABORT/);
  });

  it('keeps small values as they are and bounds long arrays, strings and depth', () => {
    assert.deepEqual(scrubLogged({ a: 1, b: 'short', c: [1, 2] }), { a: 1, b: 'short', c: [1, 2] });
    assert.equal((scrubLogged(Array.from({ length: 100 }, (_, i) => i)) as unknown[]).length, 17);
    assert.match(String(scrubLogged('y'.repeat(5_000))), /…\[5000 chars\]$/);
    assert.match(JSON.stringify(scrubLogged({ type: 'Buffer', data: [1, 2, 3] })), /3 bytes/);
  });
});
