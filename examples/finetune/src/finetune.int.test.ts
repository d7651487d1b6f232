/**
 * The fine-tuning example in --quick mode through a real local cluster
 * (keyholder, gateway, aggregators as processes; real node-seal, gRPC, Redis):
 * fine-tuning through secagg improves the model, and the ε the keyholder's
 * ledger reports is the accountant's ε for the schedule the keyholder stated.
 */
import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { computeEpsilon } from '@secagg/dp';
import { runExperiment } from './experiment.js';
import { QUICK } from './presets.js';
import { perplexityPlot, resultTable } from './report.js';

test('quick federated fine-tuning: non-private beats the base model; DP ledger ε equals the accountant; adaptive C moves', async () => {
  const result = await runExperiment({ ...QUICK, log: () => {} });
  const base = result.runs.find((r) => r.kind === 'base')!;
  const nonPrivate = result.runs.find((r) => r.kind === 'non-private')!;
  const basePerplexity = base.perplexity[0]!;
  assert.equal(nonPrivate.perplexity.length, QUICK.rounds + 1);
  assert.equal(nonPrivate.perplexity[0], basePerplexity, 'every run starts from the base model');
  assert.ok(nonPrivate.perplexity.at(-1)! < basePerplexity, `non-private fine-tuning: ${nonPrivate.perplexity.join(' → ')} (base ${basePerplexity})`);
  assert.deepEqual(nonPrivate.contributions, Array(QUICK.rounds).fill(result.corpus.clients), 'every client is in every released sum');
  assert.ok(nonPrivate.bytesPerClientPerRound > 0);

  const dpRuns = result.runs.filter((r) => r.kind === 'dp-fixed' || r.kind === 'dp-adaptive');
  assert.equal(dpRuns.length, 2);
  for (const run of dpRuns) {
    assert.equal(run.schedule.length, QUICK.rounds);
    for (const round of run.schedule) {
      // The keyholder accounts σ / Δ with Δ slightly above C (encryption error, output grid): just below the z asked for.
      assert.ok(round.noiseMultiplier <= run.noiseMultiplier! && round.noiseMultiplier > 0.99 * run.noiseMultiplier!, `accounted ${round.noiseMultiplier}, asked ${run.noiseMultiplier}`);
      assert.equal(round.samplingRate, 1);
    }
    const accountant = computeEpsilon(run.schedule, QUICK.delta).epsilon;
    assert.ok(Math.abs(run.ledgerEpsilon! - accountant) <= 1e-9 * accountant, `${run.name}: ledger ε ${run.ledgerEpsilon}, accountant ${accountant}`);
    assert.ok(run.ledgerEpsilon! >= run.targetEpsilon! * 0.99 && run.ledgerEpsilon! <= run.targetEpsilon! * 1.05, `${run.name}: ledger ε ${run.ledgerEpsilon} for target ${run.targetEpsilon}`);
    assert.ok(run.accountantEpsilonPld! <= accountant, 'PLD ≤ RDP on the example schedule');
  }
  const adaptive = dpRuns.find((r) => r.kind === 'dp-adaptive')!;
  assert.equal(adaptive.clipNorms[0], QUICK.clipNorm);
  assert.ok(adaptive.clipNorms.some((c) => c !== QUICK.clipNorm), `adaptive C never moved: ${adaptive.clipNorms.join(', ')}`);

  assert.match(resultTable(result), /\| non-private \| 0 \| ∞ \(no noise\) \|/);
  const svg = perplexityPlot(result);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline /g)?.length, result.runs.length);
});
