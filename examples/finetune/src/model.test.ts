import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { adapterGradient, effectiveWeights, initBaseModel, lossAndGradients, LoraLayout, type ModelShape } from './model.js';
import { SeededRandom } from './random.js';
import { encodeText, VOCAB_SIZE } from './corpus.js';

const shape: ModelShape = { vocab: VOCAB_SIZE, context: 3, embedding: 4, hidden: 6 };
const text = encodeText('we the people of the united states, in order to form a more perfect union');

function loss(base: ReturnType<typeof initBaseModel>, layout: LoraLayout, adapter: Float64Array, positions: number[]): number {
  return lossAndGradients(base, effectiveWeights(base, layout, adapter), text, positions, { gradients: false, embedding: false }).loss;
}

test('the adapter gradient matches finite differences of the loss (both layers, A and B)', () => {
  const rng = new SeededRandom(7);
  const base = initBaseModel(shape, rng);
  const layout = new LoraLayout(shape, 2, 4);
  const adapter = layout.init(rng);
  // B starts at zero; move it so every term of the chain rule is exercised.
  for (let i = 0; i < adapter.length; i++) adapter[i]! += 0.1 * rng.normal();
  const positions = [3, 10, 20, 40, 60];
  const g = lossAndGradients(base, effectiveWeights(base, layout, adapter), text, positions, { gradients: true, embedding: false });
  const analytic = adapterGradient(layout, adapter, g);
  const h = 1e-6;
  for (let i = 0; i < layout.length; i++) {
    const plus = Float64Array.from(adapter);
    const minus = Float64Array.from(adapter);
    plus[i]! += h;
    minus[i]! -= h;
    const numeric = (loss(base, layout, plus, positions) - loss(base, layout, minus, positions)) / (2 * h);
    assert.ok(Math.abs(numeric - analytic[i]!) <= 1e-6 + 1e-4 * Math.abs(numeric), `coordinate ${i}: ${analytic[i]} vs ${numeric}`);
  }
});

test('the embedding gradient matches finite differences', () => {
  const rng = new SeededRandom(3);
  const base = initBaseModel(shape, rng);
  const positions = [5, 15, 25];
  const w = { W1: base.W1, W2: base.W2 };
  const g = lossAndGradients(base, w, text, positions, { gradients: true, embedding: true });
  const h = 1e-6;
  for (let i = 0; i < base.E.length; i += 7) {
    const saved = base.E[i]!;
    base.E[i] = saved + h;
    const up = lossAndGradients(base, w, text, positions, { gradients: false, embedding: false }).loss;
    base.E[i] = saved - h;
    const down = lossAndGradients(base, w, text, positions, { gradients: false, embedding: false }).loss;
    base.E[i] = saved;
    const numeric = (up - down) / (2 * h);
    assert.ok(Math.abs(numeric - g.E![i]!) <= 1e-6 + 1e-4 * Math.abs(numeric), `E[${i}]`);
  }
});

test('encodeText folds case, digits and unknown characters into the alphabet', () => {
  const decoded = [...encodeText('In 1941 — "Four Freedoms"!\n\nA')].map((i) => ' abcdefghijklmnopqrstuvwxyz.,;:\'-?!$0'[i]).join('');
  assert.equal(decoded, 'in 0000 four freedoms ! a');
});
