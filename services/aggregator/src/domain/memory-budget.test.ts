import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget } from './memory-budget.js';

describe('MemoryBudget', () => {
  it('never lets running jobs hold more than the budget, runs oversized jobs alone, and keeps FIFO order', async () => {
    const budget = new MemoryBudget(100);
    let peak = 0;
    const order: string[] = [];
    const job = (name: string, bytes: number, ms: number) =>
      budget.run(bytes, async () => {
        peak = Math.max(peak, budget.held);
        order.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        order.push(`end ${name}`);
      });
    await Promise.all([job('a', 60, 30), job('b', 60, 10), job('huge', 500, 10), job('c', 30, 10)]);
    assert.ok(peak <= 100, `peak ${peak}`);
    assert.deepEqual(order.slice(0, 4), ['start a', 'end a', 'start b', 'end b']);
    assert.ok(order.indexOf('start huge') > order.indexOf('end b'), 'the oversized job waits until it runs alone');
    assert.ok(order.indexOf('start c') > order.indexOf('start huge'), 'FIFO: c does not overtake huge');
    assert.equal(budget.held, 0);
  });

  it('releases its share when the job fails', async () => {
    const budget = new MemoryBudget(10);
    await assert.rejects(budget.run(8, async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(budget.held, 0);
    assert.equal(await budget.run(10, async () => 'ok'), 'ok');
  });
});
