/**
 * A teacher's votes for a vote round (RoundConfig.kind = VOTES,
 * proto VoteRoundConfig): built and checked here before anything is
 * encrypted, because the keyholder never sees an individual vote and can
 * only check the noised sum (docs/DISTILLATION.md). The vector is the Q × K
 * matrix, query-major: value q*K + c is the vote for class c on query q.
 */
import { VoteMechanism, VoteShape, type ResultHeader, type RoundConfig, type VoteRoundConfig } from '@secagg/proto';

/** What the caller passes: labels (k per query: one for one-hot, k for top-k), or the full Q × K matrix. */
export type Votes = ArrayLike<number>;

export interface BuiltVotes {
  /** The Q × K vote vector to encrypt. */
  values: Float64Array;
  /** Soft labels only: queries whose values summed above 1 and were scaled down to sum 1. */
  clippedQueries: number;
}

function shapeText(votes: VoteRoundConfig): string {
  return votes.shape === VoteShape.ONE_HOT ? 'one-hot' : votes.shape === VoteShape.TOP_K ? `top-${votes.topK}` : 'soft';
}

/**
 * Builds the Q × K vote vector of one teacher from `votes` and checks it has
 * the round's shape. Accepted:
 *  - one-hot: Q labels in [0, K), or a Q × K matrix of rows with exactly one 1;
 *  - top-k: Q·k labels (k distinct labels per query, query after query), or a
 *    Q × K matrix of rows with exactly k ones;
 *  - soft: a Q × K matrix of finite values >= 0; a row summing above 1 is
 *    scaled to sum 1 (the per-query clip the sensitivity rests on).
 * Throws RangeError naming the first query that breaks the shape.
 */
export function buildVotes(votes: VoteRoundConfig, input: Votes): BuiltVotes {
  const { queries: q, classes: k } = votes;
  const perQuery = votes.shape === VoteShape.TOP_K ? votes.topK : 1;
  const out = new Float64Array(q * k);
  if (input.length === q * k) {
    let clippedQueries = 0;
    for (let query = 0; query < q; query++) {
      let ones = 0;
      let sum = 0;
      for (let c = 0; c < k; c++) {
        const v = input[query * k + c]!;
        if (!Number.isFinite(v) || v < 0) throw new RangeError(`query ${query}, class ${c}: vote ${v} is not a finite value >= 0`);
        if (votes.shape !== VoteShape.SOFT && v !== 0 && v !== 1) {
          throw new RangeError(`query ${query}, class ${c}: vote ${v}; a ${shapeText(votes)} round takes 0 or 1`);
        }
        if (v === 1) ones++;
        sum += v;
        out[query * k + c] = v;
      }
      if (votes.shape === VoteShape.SOFT) {
        if (sum > 1) {
          for (let c = 0; c < k; c++) out[query * k + c]! /= sum;
          clippedQueries++;
        }
      } else if (ones !== perQuery) {
        throw new RangeError(`query ${query}: ${ones} votes; a ${shapeText(votes)} round takes exactly ${perQuery} per query`);
      }
    }
    return { values: out, clippedQueries };
  }
  if (votes.shape === VoteShape.SOFT) throw new RangeError(`soft labels need the ${q} x ${k} matrix (${q * k} values), got ${input.length} values`);
  if (input.length !== q * perQuery) {
    throw new RangeError(`expected ${q * perQuery} labels (${perQuery} per query) or the ${q} x ${k} matrix (${q * k} values), got ${input.length} values`);
  }
  for (let query = 0; query < q; query++) {
    for (let j = 0; j < perQuery; j++) {
      const label = input[query * perQuery + j]!;
      if (!Number.isInteger(label) || label < 0 || label >= k) throw new RangeError(`query ${query}: label ${label} is not a class in [0, ${k})`);
      if (out[query * k + label] === 1) throw new RangeError(`query ${query}: label ${label} given twice`);
      out[query * k + label] = 1;
    }
  }
  return { values: out, clippedQueries: 0 };
}

/** The vote parameters of a round, or a RangeError saying it is not a vote round. */
export function voteRoundOf(config: RoundConfig, roundId: string): VoteRoundConfig {
  if (!config.votes) throw new RangeError(`round ${roundId} is not a vote round`);
  return config.votes;
}

/**
 * Labels of a GNMax or Confident-GNMax release (ResultHeader.votes): per
 * query the class whose value is 1, or -1 where the query was abstained
 * (an all-zero row). Throws on a histogram release or a malformed row.
 */
export function releasedLabels(header: ResultHeader, sum: Float64Array): Int32Array {
  const votes = header.votes;
  if (!votes) throw new RangeError(`round ${header.roundId} released no votes`);
  if (votes.mechanism === VoteMechanism.NOISY_HISTOGRAM) throw new RangeError(`round ${header.roundId} released a noisy vote histogram, not labels`);
  const { queries, classes } = votes;
  if (sum.length !== queries * classes) throw new RangeError(`${sum.length} values, expected ${queries} x ${classes}`);
  const labels = new Int32Array(queries).fill(-1);
  for (let q = 0; q < queries; q++) {
    for (let c = 0; c < classes; c++) {
      const v = sum[q * classes + c]!;
      if (v === 1 && labels[q] === -1) labels[q] = c;
      else if (v !== 0) throw new RangeError(`query ${q}: released row is not a label (value ${v} at class ${c})`);
    }
  }
  return labels;
}
