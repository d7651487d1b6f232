import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { ResultHeaderSchema, VoteMechanism, VoteRoundConfigSchema, VoteShape } from '@secagg/proto';
import { buildVotes, releasedLabels } from './votes.js';

const config = (shape: VoteShape, topK = 0) => create(VoteRoundConfigSchema, { queries: 3, classes: 4, shape, topK, mechanism: VoteMechanism.GNMAX, sigma2: 1 });

describe('buildVotes', () => {
  it('one-hot: from labels or from the matrix, the same query-major vector', () => {
    const fromLabels = buildVotes(config(VoteShape.ONE_HOT), [2, 0, 3]).values;
    assert.deepEqual([...fromLabels], [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual([...buildVotes(config(VoteShape.ONE_HOT), fromLabels).values], [...fromLabels]);
  });

  it('top-k: k distinct labels per query', () => {
    const v = buildVotes(config(VoteShape.TOP_K, 2), [0, 1, 2, 3, 1, 3]).values;
    assert.deepEqual([...v], [1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 0, 1]);
    assert.throws(() => buildVotes(config(VoteShape.TOP_K, 2), [0, 0, 2, 3, 1, 3]), /query 0: label 0 given twice/);
  });

  it('soft: rows summing above 1 are scaled to 1, the rest kept', () => {
    const b = buildVotes(config(VoteShape.SOFT), [0.5, 0.5, 0.5, 0.5, 0.1, 0.2, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...b.values.slice(0, 8)], [0.25, 0.25, 0.25, 0.25, 0.1, 0.2, 0, 0]);
    assert.equal(b.clippedQueries, 1);
    assert.throws(() => buildVotes(config(VoteShape.SOFT), [2, 0, 3]), /soft labels need the 3 x 4 matrix/);
    assert.throws(() => buildVotes(config(VoteShape.SOFT), [-0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /query 0, class 0: vote -0.1 is not a finite value >= 0/);
  });

  it('refuses votes that break the shape, naming the query', () => {
    assert.throws(() => buildVotes(config(VoteShape.ONE_HOT), [2, 0, 4]), /query 2: label 4 is not a class in \[0, 4\)/);
    assert.throws(() => buildVotes(config(VoteShape.ONE_HOT), [1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]), /query 0: 2 votes; a one-hot round takes exactly 1 per query/);
    assert.throws(() => buildVotes(config(VoteShape.ONE_HOT), [0.5, 0.5, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]), /query 0, class 0: vote 0.5; a one-hot round takes 0 or 1/);
    assert.throws(() => buildVotes(config(VoteShape.ONE_HOT), [1, 2]), /expected 3 labels \(1 per query\) or the 3 x 4 matrix/);
  });
});

describe('releasedLabels', () => {
  const header = (mechanism = VoteMechanism.CONFIDENT_GNMAX) =>
    create(ResultHeaderSchema, { roundId: 'r', votes: { mechanism, queries: 3, classes: 4, answeredCount: 2, abstainedCount: 1 } });
  it('reads one-hot rows as labels and all-zero rows as abstained (-1)', () => {
    assert.deepEqual([...releasedLabels(header(), Float64Array.from([0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0]))], [2, -1, 0]);
  });
  it('refuses what is not a label release', () => {
    assert.throws(() => releasedLabels(header(), Float64Array.from([0, 0.5, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0])), /query 0: released row is not a label/);
    assert.throws(() => releasedLabels(header(VoteMechanism.NOISY_HISTOGRAM), new Float64Array(12)), /released a noisy vote histogram, not labels/);
    assert.throws(() => releasedLabels(create(ResultHeaderSchema, { roundId: 'g' }), new Float64Array(12)), /round g released no votes/);
  });
});
