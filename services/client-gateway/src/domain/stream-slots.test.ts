import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { Code, isSecaggError } from '@secagg/core';
import { StreamSlots } from './stream-slots.js';

const limits = { maxConcurrentStreams: 2, maxWaitingStreams: 1, maxStreamsPerClient: 2, retryAfterMs: 750 };
const never = new AbortController().signal;

describe('stream slots', () => {
  it('admits up to the limit, queues one, refuses the next with RESOURCE_EXHAUSTED and the retry hint', async () => {
    const slots = new StreamSlots(limits);
    const a = await slots.acquire('a', 1_000, never);
    await slots.acquire('b', 1_000, never);
    const waiting = slots.acquire('c', 1_000, never);
    assert.equal(slots.waitingCount, 1);
    await assert.rejects(slots.acquire('d', 1_000, never), (e: unknown) => {
      assert.ok(isSecaggError(e, Code.ResourceExhausted));
      assert.equal(e.retryAfterMs, 750);
      return true;
    });
    a.release();
    a.release(); // idempotent: frees one slot only
    await waiting; // the freed slot went to the waiter, in order
    assert.equal(slots.activeCount, 2);
    assert.equal(slots.waitingCount, 0);
  });

  it('times a waiter out, and a cancelled waiter leaves the queue', async () => {
    const slots = new StreamSlots({ ...limits, maxWaitingStreams: 5 });
    await slots.acquire('a', 1_000, never);
    await slots.acquire('b', 1_000, never);
    await assert.rejects(slots.acquire('c', 30, never), (e: unknown) => isSecaggError(e, Code.ResourceExhausted) && /no upload slot within/.test(e.message));
    const controller = new AbortController();
    const cancelled = slots.acquire('d', 10_000, controller.signal);
    controller.abort();
    await assert.rejects(cancelled, (e: unknown) => isSecaggError(e, Code.Cancelled));
    assert.equal(slots.waitingCount, 0);
  });

  it('limits one client, counting its waiting uploads too', async () => {
    const slots = new StreamSlots({ ...limits, maxConcurrentStreams: 1, maxWaitingStreams: 5 });
    const first = await slots.acquire('a', 1_000, never);
    const second = slots.acquire('a', 1_000, never); // waits
    await assert.rejects(slots.acquire('a', 1_000, never), (e: unknown) => isSecaggError(e, Code.ResourceExhausted) && /this client/.test(e.message));
    first.release();
    (await second).release();
    // Everything given back: the client may open two again.
    (await slots.acquire('a', 1_000, never)).release();
  });

  it('drain refuses waiting and new uploads with UNAVAILABLE; running ones keep their slot', async () => {
    const slots = new StreamSlots({ ...limits, maxConcurrentStreams: 1 });
    const running = await slots.acquire('a', 1_000, never);
    const waiting = slots.acquire('b', 1_000, never);
    slots.drain();
    await assert.rejects(waiting, (e: unknown) => isSecaggError(e, Code.Unavailable) && e.retryAfterMs === 750);
    await assert.rejects(slots.acquire('c', 1_000, never), (e: unknown) => isSecaggError(e, Code.Unavailable));
    assert.equal(slots.activeCount, 1);
    running.release();
    assert.equal(slots.activeCount, 0);
  });
});
