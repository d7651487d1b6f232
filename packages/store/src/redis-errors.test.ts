import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { ReplyError } from 'ioredis';
import { Code, refuse, SecaggError } from '@secagg/core';
import { classifyRedisError, toStorageError } from './redis-errors.js';

/** A reply error as ioredis builds it, with the command (and its arguments) attached. */
function reply(message: string, extra: object = {}): Error {
  return Object.assign(new ReplyError(message), { command: { name: 'evalsha', args: ['sha', Buffer.alloc(100_000)] } }, extra);
}

describe('Redis refusals map to retryable statuses (one table)', () => {
  const cases: [string, Error, Code, string][] = [
    ['OOM', reply("OOM command not allowed when used memory > 'maxmemory'."), Code.ResourceExhausted, 'storage_full'],
    ['OOM in a script', reply("OOM command not allowed when used memory > 'maxmemory'. script: 5ecf, on @user_script:1."), Code.ResourceExhausted, 'storage_full'],
    [
      'EXECABORT after OOM',
      reply('EXECABORT Transaction discarded because of previous errors.', { previousErrors: [reply("OOM command not allowed when used memory > 'maxmemory'.")] }),
      Code.ResourceExhausted,
      'storage_full',
    ],
    [
      'EXECABORT after NOREPLICAS',
      reply('EXECABORT Transaction discarded because of previous errors.', { previousErrors: [reply('NOREPLICAS Not enough good replicas to write.')] }),
      Code.Unavailable,
      'storage_no_replicas',
    ],
    ['EXECABORT, cause unknown', reply('EXECABORT Transaction discarded because of previous errors.'), Code.Unavailable, 'storage_refused'],
    ['NOREPLICAS', reply('NOREPLICAS Not enough good replicas to write.'), Code.Unavailable, 'storage_no_replicas'],
    ['READONLY', reply("READONLY You can't write against a read only replica."), Code.Unavailable, 'storage_read_only'],
    ['MISCONF', reply('MISCONF Errors writing to the AOF file: No space left on device'), Code.Unavailable, 'storage_cannot_persist'],
    ['LOADING', reply('LOADING Redis is loading the dataset in memory'), Code.Unavailable, 'storage_loading'],
    ['BUSY', reply('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.'), Code.Unavailable, 'storage_busy'],
    ['MASTERDOWN', reply('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no.'), Code.Unavailable, 'storage_primary_down'],
    ['CLUSTERDOWN', reply('CLUSTERDOWN The cluster is down'), Code.Unavailable, 'storage_cluster_unstable'],
    ['TRYAGAIN', reply('TRYAGAIN Multiple keys request during rehashing of slot'), Code.Unavailable, 'storage_cluster_unstable'],
    ['MOVED', reply('MOVED 3999 127.0.0.1:6381'), Code.Unavailable, 'storage_cluster_unstable'],
    ['ASK', reply('ASK 3999 127.0.0.1:6381'), Code.Unavailable, 'storage_cluster_unstable'],
    ['redirection storm', new Error('Too many Cluster redirections. Last error: MOVED 3999 127.0.0.1:6381'), Code.Unavailable, 'storage_cluster_unstable'],
    ['connection closed', new Error('Connection is closed.'), Code.Unavailable, 'storage_unreachable'],
    ['gave up reconnecting', Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }), Code.Unavailable, 'storage_unreachable'],
  ];
  for (const [name, error, code, errorCode] of cases) {
    it(`${name} -> ${Code[code]} ${errorCode}, with the retry hint, and a cause without the command's arguments`, () => {
      const mapped = toStorageError(error, 1_234);
      assert.ok(mapped instanceof SecaggError);
      assert.equal(mapped.code, code);
      assert.equal(mapped.reason, errorCode);
      assert.equal(mapped.retryAfterMs, 1_234);
      assert.ok(JSON.stringify(mapped.cause).length < 1_000);
      assert.ok(!/\d+ 127\.0\.0\.1|script: /.test(mapped.message), 'a fixed message: nothing from Redis goes on the wire');
    });
  }

  it('leaves bugs alone (not a refusal) and passes SecaggErrors through', () => {
    const wrongType = reply('WRONGTYPE Operation against a key holding the wrong kind of value');
    assert.equal(classifyRedisError(wrongType), undefined);
    assert.equal(toStorageError(wrongType, 1), wrongType);
    const own = refuse('bad_round_id', 'bad');
    assert.equal(toStorageError(own, 1), own);
  });
});
