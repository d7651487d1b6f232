/**
 * A compact character-level language model written out in TypeScript, with a
 * LoRA adapter on both of its dense layers.
 *
 * Why not @tensorflow/tfjs: its pure-JS CPU backend spends most of its time
 * allocating tensors for a model this small, the WASM backend adds a second
 * numeric runtime to the tree, and the machines this runs on have two shared
 * cores. A model of a few tens of thousands of weights with a hand-written
 * backward pass trains in seconds, is deterministic from a seed, and keeps the
 * example about what secagg does with the adapter, not about a framework.
 *
 * Model (Bengio et al. 2003): the previous `context` characters are embedded
 * (E, V×e), concatenated (in = context·e), passed through a dense tanh layer
 * (W1, b1; hidden units) and a dense projection to the vocabulary (W2, b2),
 * softmax. LoRA (Hu et al. 2021): W_eff = W + (alpha/rank)·B·A for W1 and W2,
 * with A Gaussian and B zero at the start, so the adapter starts as the identity
 * edit; fine-tuning trains A and B only.
 */
import { SeededRandom } from './random.js';

export interface ModelShape {
  vocab: number;
  context: number;
  embedding: number;
  hidden: number;
}

export interface BaseModel {
  shape: ModelShape;
  E: Float64Array;
  W1: Float64Array;
  b1: Float64Array;
  W2: Float64Array;
  b2: Float64Array;
}

export function inputSize(shape: ModelShape): number {
  return shape.context * shape.embedding;
}

export function initBaseModel(shape: ModelShape, rng: SeededRandom): BaseModel {
  const n = inputSize(shape);
  const gaussian = (length: number, std: number) => Float64Array.from({ length }, () => rng.normal() * std);
  return {
    shape,
    E: gaussian(shape.vocab * shape.embedding, 0.3),
    W1: gaussian(shape.hidden * n, 1 / Math.sqrt(n)),
    b1: new Float64Array(shape.hidden),
    W2: gaussian(shape.vocab * shape.hidden, 1 / Math.sqrt(shape.hidden)),
    b2: new Float64Array(shape.vocab),
  };
}

/**
 * The adapter's layout in one flat vector — the vector a client submits:
 * [A1 (rank×in), B1 (hidden×rank), A2 (rank×hidden), B2 (vocab×rank)], row-major.
 */
export class LoraLayout {
  readonly in: number;
  readonly offsets: { A1: number; B1: number; A2: number; B2: number };
  readonly length: number;
  readonly scale: number;

  constructor(
    readonly shape: ModelShape,
    readonly rank: number,
    alpha = rank,
  ) {
    this.in = inputSize(shape);
    const a1 = rank * this.in;
    const b1 = shape.hidden * rank;
    const a2 = rank * shape.hidden;
    this.offsets = { A1: 0, B1: a1, A2: a1 + b1, B2: a1 + b1 + a2 };
    this.length = a1 + b1 + a2 + shape.vocab * rank;
    this.scale = alpha / rank;
  }

  /** A fresh adapter: A ~ N(0, 1/fan-in), B = 0 (so W_eff = W). */
  init(rng: SeededRandom): Float64Array {
    const v = new Float64Array(this.length);
    for (let i = 0; i < this.offsets.B1; i++) v[i] = rng.normal() / Math.sqrt(this.in);
    for (let i = this.offsets.A2; i < this.offsets.B2; i++) v[i] = rng.normal() / Math.sqrt(this.shape.hidden);
    return v;
  }
}

export interface Weights {
  W1: Float64Array;
  W2: Float64Array;
}

/** W + scale·B·A for both layers (W (rows×cols), B (rows×r), A (r×cols)). */
export function effectiveWeights(base: BaseModel, layout: LoraLayout, adapter: Float64Array | undefined): Weights {
  if (!adapter) return { W1: base.W1, W2: base.W2 };
  const { hidden, vocab } = base.shape;
  const r = layout.rank;
  const o = layout.offsets;
  const merge = (W: Float64Array, rows: number, cols: number, bAt: number, aAt: number): Float64Array => {
    const out = Float64Array.from(W);
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < r; k++) {
        const b = adapter[bAt + i * r + k]! * layout.scale;
        if (b === 0) continue;
        const aRow = aAt + k * cols;
        const outRow = i * cols;
        for (let j = 0; j < cols; j++) out[outRow + j]! += b * adapter[aRow + j]!;
      }
    }
    return out;
  };
  return { W1: merge(base.W1, hidden, layout.in, o.B1, o.A1), W2: merge(base.W2, vocab, hidden, o.B2, o.A2) };
}

export interface Gradients {
  loss: number;
  E: Float64Array | undefined;
  W1: Float64Array;
  b1: Float64Array;
  W2: Float64Array;
  b2: Float64Array;
}

/**
 * Mean cross-entropy (nats per character) of predicting text[p] from the
 * `context` characters before it, over the given positions, and its gradient
 * with respect to the effective weights (and the embedding when asked).
 */
export function lossAndGradients(
  base: BaseModel,
  weights: Weights,
  text: Uint8Array,
  positions: ArrayLike<number>,
  options: { gradients: boolean; embedding: boolean },
): Gradients {
  const { vocab, context, embedding, hidden } = base.shape;
  const n = context * embedding;
  const { W1, W2 } = weights;
  const g: Gradients = {
    loss: 0,
    E: options.gradients && options.embedding ? new Float64Array(base.E.length) : undefined,
    W1: new Float64Array(options.gradients ? W1.length : 0),
    b1: new Float64Array(options.gradients ? hidden : 0),
    W2: new Float64Array(options.gradients ? W2.length : 0),
    b2: new Float64Array(options.gradients ? vocab : 0),
  };
  const x = new Float64Array(n);
  const h = new Float64Array(hidden);
  const p = new Float64Array(vocab);
  const dh = new Float64Array(hidden);
  const dx = new Float64Array(n);
  for (let b = 0; b < positions.length; b++) {
    const at = positions[b]!;
    for (let c = 0; c < context; c++) {
      const e = text[at - context + c]! * embedding;
      for (let j = 0; j < embedding; j++) x[c * embedding + j] = base.E[e + j]!;
    }
    for (let i = 0; i < hidden; i++) {
      let a = base.b1[i]!;
      const row = i * n;
      for (let j = 0; j < n; j++) a += W1[row + j]! * x[j]!;
      h[i] = Math.tanh(a);
    }
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) {
      let a = base.b2[v]!;
      const row = v * hidden;
      for (let i = 0; i < hidden; i++) a += W2[row + i]! * h[i]!;
      p[v] = a;
      if (a > max) max = a;
    }
    let z = 0;
    for (let v = 0; v < vocab; v++) z += p[v] = Math.exp(p[v]! - max);
    const target = text[at]!;
    g.loss -= Math.log(p[target]! / z);
    if (!options.gradients) continue;

    dh.fill(0);
    for (let v = 0; v < vocab; v++) {
      const d = p[v]! / z - (v === target ? 1 : 0);
      g.b2[v]! += d;
      const row = v * hidden;
      for (let i = 0; i < hidden; i++) {
        g.W2[row + i]! += d * h[i]!;
        dh[i]! += d * W2[row + i]!;
      }
    }
    if (g.E) dx.fill(0);
    for (let i = 0; i < hidden; i++) {
      const da = dh[i]! * (1 - h[i]! * h[i]!);
      g.b1[i]! += da;
      const row = i * n;
      for (let j = 0; j < n; j++) g.W1[row + j]! += da * x[j]!;
      if (g.E) for (let j = 0; j < n; j++) dx[j]! += da * W1[row + j]!;
    }
    if (g.E) {
      for (let c = 0; c < context; c++) {
        const e = text[at - context + c]! * embedding;
        for (let j = 0; j < embedding; j++) g.E[e + j]! += dx[c * embedding + j]!;
      }
    }
  }
  const m = 1 / positions.length;
  g.loss *= m;
  for (const arr of [g.E, g.W1, g.b1, g.W2, g.b2]) if (arr) for (let i = 0; i < arr.length; i++) arr[i]! *= m;
  return g;
}

/** Gradient with respect to the adapter from the gradient with respect to the effective weights (chain rule through W + s·B·A). */
export function adapterGradient(layout: LoraLayout, adapter: Float64Array, g: Gradients): Float64Array {
  const out = new Float64Array(layout.length);
  const { hidden, vocab } = layout.shape;
  const r = layout.rank;
  const o = layout.offsets;
  const project = (dW: Float64Array, rows: number, cols: number, bAt: number, aAt: number) => {
    for (let i = 0; i < rows; i++) {
      const row = i * cols;
      for (let k = 0; k < r; k++) {
        const aRow = aAt + k * cols;
        const b = adapter[bAt + i * r + k]! * layout.scale;
        let dB = 0;
        for (let j = 0; j < cols; j++) {
          const d = dW[row + j]!;
          dB += d * adapter[aRow + j]!; // dL/dB[i,k] = s·Σ_j dW[i,j]·A[k,j]
          out[aRow + j]! += b * d; // dL/dA[k,j] = s·Σ_i B[i,k]·dW[i,j]
        }
        out[bAt + i * r + k] = dB * layout.scale;
      }
    }
  };
  project(g.W1, hidden, layout.in, o.B1, o.A1);
  project(g.W2, vocab, hidden, o.B2, o.A2);
  return out;
}

/** Positions whose context lies inside the text, drawn uniformly. */
export function samplePositions(text: Uint8Array, context: number, count: number, rng: SeededRandom): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = context + rng.int(text.length - context);
  return out;
}

/** Evenly spaced positions: a fixed evaluation set. */
export function evenlySpacedPositions(text: Uint8Array, context: number, count: number): Uint32Array {
  const span = text.length - context;
  const n = Math.min(count, span);
  return Uint32Array.from({ length: n }, (_, i) => context + Math.floor((i * span) / n));
}

/** exp(mean cross-entropy per character) on the given positions. */
export function perplexity(base: BaseModel, layout: LoraLayout, adapter: Float64Array | undefined, text: Uint8Array, positions: Uint32Array): number {
  const w = effectiveWeights(base, layout, adapter);
  return Math.exp(lossAndGradients(base, w, text, positions, { gradients: false, embedding: false }).loss);
}

/** Pretrains every weight of the base model with Adam on random windows of `text`. */
export function pretrain(
  base: BaseModel,
  text: Uint8Array,
  options: { steps: number; batch: number; learningRate: number; rng: SeededRandom; onProgress?: (step: number, loss: number) => void },
): void {
  const params = [base.E, base.W1, base.b1, base.W2, base.b2];
  const m = params.map((p) => new Float64Array(p.length));
  const v = params.map((p) => new Float64Array(p.length));
  const [beta1, beta2, eps] = [0.9, 0.999, 1e-8];
  for (let step = 1; step <= options.steps; step++) {
    const positions = samplePositions(text, base.shape.context, options.batch, options.rng);
    const g = lossAndGradients(base, { W1: base.W1, W2: base.W2 }, text, positions, { gradients: true, embedding: true });
    const grads = [g.E!, g.W1, g.b1, g.W2, g.b2];
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    for (let k = 0; k < params.length; k++) {
      const p = params[k]!;
      const gk = grads[k]!;
      const mk = m[k]!;
      const vk = v[k]!;
      for (let i = 0; i < p.length; i++) {
        mk[i] = beta1 * mk[i]! + (1 - beta1) * gk[i]!;
        vk[i] = beta2 * vk[i]! + (1 - beta2) * gk[i]! * gk[i]!;
        p[i]! -= (options.learningRate * mk[i]!) / c1 / (Math.sqrt(vk[i]! / c2) + eps);
      }
    }
    options.onProgress?.(step, g.loss);
  }
}

/**
 * A client's local fine-tuning: `steps` of SGD on the adapter only, starting
 * from the global adapter, on random windows of the client's own text.
 * Returns the adapter delta (local − global), the vector that gets clipped and submitted.
 */
export function localAdapterDelta(
  base: BaseModel,
  layout: LoraLayout,
  globalAdapter: Float64Array,
  text: Uint8Array,
  options: { steps: number; batch: number; learningRate: number; rng: SeededRandom },
): Float64Array {
  const adapter = Float64Array.from(globalAdapter);
  for (let step = 0; step < options.steps; step++) {
    const positions = samplePositions(text, base.shape.context, options.batch, options.rng);
    const g = lossAndGradients(base, effectiveWeights(base, layout, adapter), text, positions, { gradients: true, embedding: false });
    const d = adapterGradient(layout, adapter, g);
    for (let i = 0; i < adapter.length; i++) adapter[i]! -= options.learningRate * d[i]!;
  }
  for (let i = 0; i < adapter.length; i++) adapter[i]! -= globalAdapter[i]!;
  return adapter;
}
