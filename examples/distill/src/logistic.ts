/**
 * A compact binary logistic regression on sparse binary bag-of-words
 * features (each example's features scaled to unit L2 norm), trained by
 * full-batch gradient descent with L2 regularisation. Deterministic: no
 * randomness at all, so a teacher's model depends on its data only.
 */

export interface Example {
  /** Sorted indices of the features present. */
  features: Int32Array;
  label: 0 | 1;
}

export interface TrainingOptions {
  /** Gradient steps over the whole set. */
  epochs: number;
  learningRate: number;
  /** L2 penalty on the weights (not the bias). */
  l2: number;
}

export const DEFAULT_TRAINING: TrainingOptions = { epochs: 300, learningRate: 5, l2: 1e-4 };

export class LogisticRegression {
  private constructor(
    readonly weights: Float64Array,
    public bias: number,
  ) {}

  static train(examples: readonly Example[], dimension: number, options: TrainingOptions = DEFAULT_TRAINING): LogisticRegression {
    const model = new LogisticRegression(new Float64Array(dimension), 0);
    if (examples.length === 0) return model;
    const positives = examples.filter((e) => e.label === 1).length;
    // Start from the base rate: with one class only, the model predicts that class.
    model.bias = Math.log((positives + 0.5) / (examples.length - positives + 0.5));
    const gradient = new Float64Array(dimension);
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      gradient.fill(0);
      let biasGradient = 0;
      for (const e of examples) {
        const scale = 1 / Math.sqrt(Math.max(1, e.features.length));
        const error = model.probability(e.features) - e.label;
        for (const i of e.features) gradient[i]! += error * scale;
        biasGradient += error;
      }
      const step = options.learningRate / examples.length;
      for (let i = 0; i < dimension; i++) model.weights[i]! -= step * gradient[i]! + options.learningRate * options.l2 * model.weights[i]!;
      model.bias -= step * biasGradient;
    }
    return model;
  }

  /** P(label = 1 | features). */
  probability(features: Int32Array): number {
    const scale = 1 / Math.sqrt(Math.max(1, features.length));
    let z = this.bias;
    for (const i of features) z += this.weights[i]! * scale;
    return 1 / (1 + Math.exp(-z));
  }

  predict(features: Int32Array): 0 | 1 {
    return this.probability(features) >= 0.5 ? 1 : 0;
  }

  accuracy(examples: readonly Example[]): number {
    if (examples.length === 0) return Number.NaN;
    return examples.filter((e) => this.predict(e.features) === e.label).length / examples.length;
  }
}
