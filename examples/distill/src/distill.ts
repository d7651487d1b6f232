/**
 * Private knowledge transfer on a real corpus (issue 14): PATE teachers,
 * each a logistic regression trained on its own slice of the private
 * SpamAssassin mail, vote on an unlabeled public transfer set through a
 * local secagg cluster (real keyholder, gateway, aggregator, Redis, CKKS);
 * the keyholder releases Confident-GNMax labels at a target epsilon; a
 * student trains only on those labels. Compared with the non-private
 * teacher ensemble, one model trained centrally on all private data, and the
 * majority class.
 */
import { createHash } from 'node:crypto';
import { computeVoteEpsilon } from '@secagg/dp';
import { LocalCluster } from '@secagg/local-cluster';
import { RoundKind, RoundState, VoteMechanism, VoteShape } from '@secagg/proto';
import { releasedLabels } from '@secagg/sdk';
import { loadSpamAssassin, seededRandom, shuffle, splitIid, splitLabelSkew, Vocabulary, type Message } from './corpus.js';
import { LogisticRegression, type Example } from './logistic.js';

export type SplitName = 'iid' | 'non-iid';

export interface DistillOptions {
  /** N: teachers, each with its own slice of the private data. */
  teachers: number;
  /** Q: public transfer-set examples the teachers vote on (the student's training set). */
  queries: number;
  /** Target epsilons of one vote round each (one privacy group each: every row is its own experiment). */
  epsilons: number[];
  splits: SplitName[];
  delta: number;
  seed: number;
  /** Held-out test messages. */
  testSize: number;
  /** Words in the bag of words, chosen on the public transfer set only. */
  vocabularySize: number;
  /** sigma1 / sigma2 of Confident-GNMax. */
  sigmaRatio: number;
  /** T as a fraction of N. */
  thresholdFraction: number;
  /** Dirichlet concentration of the non-IID split (smaller: more skewed). */
  dirichletAlpha: number;
  /** Independent vote rounds per split and epsilon (the keyholder's noise differs; the table shows their mean and range). */
  repeats: number;
  /** Teachers uploading at once. */
  concurrency: number;
  log: (line: string) => void;
}

export const FULL_RUN: Omit<DistillOptions, 'log'> = {
  teachers: 100,
  queries: 300,
  epsilons: [0.5, 1, 2, 4, 8],
  splits: ['iid', 'non-iid'],
  delta: 1e-5,
  seed: 14,
  testSize: 1_000,
  vocabularySize: 2_000,
  sigmaRatio: 2,
  thresholdFraction: 0.6,
  dirichletAlpha: 0.5,
  repeats: 3,
  concurrency: 4,
};

/** --quick (CI): one split, the largest epsilon, 40 teachers, 150 queries. */
export const QUICK_RUN: Omit<DistillOptions, 'log'> = { ...FULL_RUN, teachers: 40, queries: 150, epsilons: [8], splits: ['iid'], repeats: 1 };

export interface DistillRow {
  split: SplitName;
  /** 0 .. repeats - 1. */
  repeat: number;
  /** The target; the keyholder's charge is `epsilonCharged` (a little above the pure formula: CKKS error and grid in the sensitivity). */
  epsilon: number;
  epsilonCharged: number;
  sigma1: number;
  sigma2: number;
  threshold: number;
  answered: number;
  abstained: number;
  /** Of the answered queries, the fraction whose released label is the true label. */
  labelAccuracy: number;
  studentAccuracy: number;
  roundSeconds: number;
}

export interface DistillReport {
  options: Omit<DistillOptions, 'log'>;
  corpus: { messages: number; spam: number; ham: number };
  sizes: { private: number; transfer: number; test: number; vocabulary: number };
  majorityBaseline: number;
  centralAccuracy: number;
  ensembles: Array<{ split: SplitName; ensembleAccuracy: number; meanTeacherAccuracy: number; transferAgreement: number }>;
  rows: DistillRow[];
  wallSeconds: number;
}

/** Smallest sigma2 (sigma1 = ratio * sigma2) whose charged Confident-GNMax epsilon over all Q queries is <= target. */
export function calibrateSigma2(epsilon: number, queries: number, ratio: number, delta: number): number {
  const eps = (sigma2: number) =>
    computeVoteEpsilon({ mechanism: 'confident-gnmax', queries, sigma1: ratio * sigma2, sigma2, histogramSensitivity: 1 }, delta).epsilon;
  let lo = 1e-3;
  let hi = 1e6;
  // 1% below the target leaves room for the keyholder's CKKS-error and grid terms (about 2^-10 of the sensitivity).
  const target = epsilon * 0.99;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (eps(mid) > target) lo = mid;
    else hi = mid;
  }
  return hi;
}

function plurality(votes: number[]): 0 | 1 {
  const spam = votes.filter((v) => v === 1).length;
  return spam * 2 > votes.length ? 1 : 0;
}

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

export async function runDistillation(options: DistillOptions): Promise<DistillReport> {
  const started = performance.now();
  const { log } = options;
  const messages = loadSpamAssassin();
  const random = seededRandom(options.seed);
  const shuffled = shuffle([...messages], random);
  const test = shuffled.slice(0, options.testSize);
  const transfer = shuffled.slice(options.testSize, options.testSize + options.queries);
  const privateData = shuffled.slice(options.testSize + options.queries);
  if (privateData.length < options.teachers) throw new RangeError(`${privateData.length} private messages cannot feed ${options.teachers} teachers`);

  // The vocabulary comes from the public transfer set only: nothing about it depends on private data.
  const vocabulary = Vocabulary.fromDocuments(transfer.map((m) => m.tokens), options.vocabularySize);
  const encode = (m: Message): Example => ({ features: vocabulary.encode(m.tokens), label: m.label });
  const testSet = test.map(encode);
  const transferSet = transfer.map(encode);
  const privateSet = privateData.map(encode);
  const spam = messages.filter((m) => m.label === 1).length;
  const majorityLabel = privateSet.filter((e) => e.label === 1).length * 2 > privateSet.length ? 1 : 0;
  const majorityBaseline = testSet.filter((e) => e.label === majorityLabel).length / testSet.length;
  const central = LogisticRegression.train(privateSet, vocabulary.size);
  log(
    `corpus: ${messages.length} messages (${spam} spam); private ${privateSet.length}, transfer ${transferSet.length}, test ${testSet.length}; ` +
      `vocabulary ${vocabulary.size} words from the transfer set; central model ${pct(central.accuracy(testSet))}, majority class ${pct(majorityBaseline)}`,
  );
  // Digest of the transfer set as the teachers see it: the corpus ids in query order (the package version is pinned).
  const transferSha256 = createHash('sha256').update(transfer.map((m) => m.id).join('\n')).digest();

  const report: DistillReport = {
    options: Object.fromEntries(Object.entries(options).filter(([k]) => k !== 'log')) as Omit<DistillOptions, 'log'>,
    corpus: { messages: messages.length, spam, ham: messages.length - spam },
    sizes: { private: privateSet.length, transfer: transferSet.length, test: testSet.length, vocabulary: vocabulary.size },
    majorityBaseline,
    centralAccuracy: central.accuracy(testSet),
    ensembles: [],
    rows: [],
    wallSeconds: 0,
  };

  const cluster = await LocalCluster.start({ aggregators: 1, minClientsFloor: 3 });
  try {
    const coordinator = await cluster.client('coordinator', 'distill-coordinator');
    try {
      for (const split of options.splits) {
        const splitRandom = seededRandom(options.seed * 7919 + (split === 'iid' ? 1 : 2));
        const slices = split === 'iid' ? splitIid(privateSet, options.teachers, splitRandom) : splitLabelSkew(privateSet, options.teachers, options.dirichletAlpha, splitRandom);
        const models = slices.map((slice) => LogisticRegression.train(slice, vocabulary.size));
        const votes = models.map((model) => transferSet.map((e) => model.predict(e.features)));
        const ensemble = (e: Example) => plurality(models.map((m) => m.predict(e.features)));
        const ensembleAccuracy = testSet.filter((e) => ensemble(e) === e.label).length / testSet.length;
        const meanTeacherAccuracy = models.reduce((a, m) => a + m.accuracy(testSet), 0) / models.length;
        const transferAgreement = transferSet.filter((e, q) => plurality(votes.map((v) => v[q]!)) === e.label).length / transferSet.length;
        report.ensembles.push({ split, ensembleAccuracy, meanTeacherAccuracy, transferAgreement });
        const spamShares = slices.map((s) => s.filter((e) => e.label === 1).length / s.length);
        log(
          `${split}: ${options.teachers} teachers of ${Math.min(...slices.map((s) => s.length))}-${Math.max(...slices.map((s) => s.length))} messages ` +
            `(spam share ${pct(Math.min(...spamShares))}-${pct(Math.max(...spamShares))}); mean teacher ${pct(meanTeacherAccuracy)}, ` +
            `non-private ensemble ${pct(ensembleAccuracy)}`,
        );

        for (const epsilon of options.epsilons) for (let repeat = 0; repeat < options.repeats; repeat++) {
          const roundStarted = performance.now();
          const sigma2 = calibrateSigma2(epsilon, options.queries, options.sigmaRatio, options.delta);
          const sigma1 = options.sigmaRatio * sigma2;
          const threshold = Math.round(options.thresholdFraction * options.teachers);
          const { round, privacy } = await coordinator.createRoundWithPrivacy({
            kind: RoundKind.VOTES,
            vectorLength: options.queries * 2,
            minClients: options.teachers,
            maxClients: options.teachers,
            deadlineUnixMs: BigInt(Date.now() + 30 * 60_000),
            privacyGroup: `distill-s${options.seed}-${split}-eps${epsilon}-r${repeat}`,
            votes: {
              queries: options.queries,
              classes: 2,
              shape: VoteShape.ONE_HOT,
              mechanism: VoteMechanism.CONFIDENT_GNMAX,
              sigma1,
              sigma2,
              threshold,
              transferSetId: `spam-assassin-transfer/seed-${options.seed}/q${options.queries}/v1`,
              transferSetSha256: transferSha256,
            },
          });
          await pool(votes, options.concurrency, async (labels, t) => {
            const teacher = await cluster.client('client', `distill-${split}-teacher-${t}`, { encryptionThreads: 0 });
            try {
              await teacher.submitVotes(round.roundId, labels, { updateId: `t${t}`, transferSetSha256: transferSha256 });
            } finally {
              teacher.close();
            }
          });
          const ended = await waitForRelease(coordinator, round.roundId);
          if (ended !== RoundState.RELEASED) throw new Error(`round ${round.roundId} ended ${RoundState[ended]}`);
          const result = await coordinator.getResult(round.roundId);
          const labels = releasedLabels(result.header, result.sum);
          const answeredQueries = transferSet.map((_, q) => q).filter((q) => labels[q]! >= 0);
          const taught = answeredQueries.map((q) => ({ features: transferSet[q]!.features, label: labels[q] as 0 | 1 }));
          const student = LogisticRegression.train(taught, vocabulary.size);
          const row: DistillRow = {
            split,
            repeat,
            epsilon,
            epsilonCharged: result.header.epsilonSpent,
            sigma1,
            sigma2,
            threshold,
            answered: result.header.votes!.answeredCount,
            abstained: result.header.votes!.abstainedCount,
            labelAccuracy: answeredQueries.length === 0 ? Number.NaN : answeredQueries.filter((q) => labels[q] === transferSet[q]!.label).length / answeredQueries.length,
            studentAccuracy: student.accuracy(testSet),
            roundSeconds: (performance.now() - roundStarted) / 1000,
          };
          if (Math.abs(privacy.roundEpsilon - row.epsilonCharged) > 1e-12) throw new Error(`round ${round.roundId}: charged ${row.epsilonCharged}, announced ${privacy.roundEpsilon}`);
          report.rows.push(row);
          log(
            `${split} eps ${epsilon} #${repeat + 1}: sigma1 ${sigma1.toFixed(1)}, sigma2 ${sigma2.toFixed(1)}, T ${threshold}; answered ${row.answered}/${options.queries}, ` +
              `labels ${pct(row.labelAccuracy)} right; student ${pct(row.studentAccuracy)} (${row.roundSeconds.toFixed(1)} s)`,
          );
        }
      }
    } finally {
      coordinator.close();
    }
  } finally {
    await cluster.stop();
  }
  report.wallSeconds = (performance.now() - started) / 1000;
  return report;
}

async function waitForRelease(coordinator: Awaited<ReturnType<LocalCluster['client']>>, roundId: string): Promise<RoundState> {
  for (const stop = Date.now() + 10 * 60_000; Date.now() < stop; ) {
    const round = await coordinator.getRoundStatus(roundId);
    if (round.state === RoundState.RELEASED || round.state === RoundState.FAILED) {
      if (round.state === RoundState.FAILED) throw new Error(`round ${roundId} failed: ${round.failureReason}`);
      return round.state;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`round ${roundId} was not released within 10 minutes`);
}

export function pct(x: number): string {
  return Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`;
}

/** The report as a Markdown table (what docs/DISTILLATION.md shows): per split and epsilon, the mean over the repeats (and the student's range). */
export function reportTable(report: DistillReport): string[] {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lines = [
    `| split | ε (δ ${report.options.delta}) | ε charged | σ1 / σ2 / T | answered / ${report.options.queries} | labels right | student acc. (min-max) | non-private ensemble | central model |`,
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const split of report.options.splits) {
    const ensemble = report.ensembles.find((e) => e.split === split)!;
    for (const epsilon of report.options.epsilons) {
      const rows = report.rows.filter((r) => r.split === split && r.epsilon === epsilon);
      if (rows.length === 0) continue;
      const r = rows[0]!;
      const students = rows.map((x) => x.studentAccuracy);
      const range = rows.length > 1 ? ` (${pct(Math.min(...students))}-${pct(Math.max(...students))})` : '';
      lines.push(
        `| ${split} | ${epsilon} | ${r.epsilonCharged.toFixed(3)} | ${r.sigma1.toFixed(1)} / ${r.sigma2.toFixed(1)} / ${r.threshold} | ${mean(rows.map((x) => x.answered)).toFixed(0)} | ` +
          `${pct(mean(rows.map((x) => x.labelAccuracy).filter((x) => !Number.isNaN(x))))} | ${pct(mean(students))}${range} | ${pct(ensemble.ensembleAccuracy)} | ${pct(report.centralAccuracy)} |`,
      );
    }
  }
  lines.push(
    '',
    `majority class ${pct(report.majorityBaseline)}; ${report.options.teachers} teachers, ${report.options.queries} queries, ${report.options.repeats} ` +
      `round${report.options.repeats === 1 ? '' : 's'} per split and ε; ${report.sizes.private} private / ${report.sizes.test} test messages; ` +
      report.ensembles.map((e) => `${e.split}: mean teacher ${pct(e.meanTeacherAccuracy)}`).join(', ') +
      `; wall time ${report.wallSeconds.toFixed(0)} s`,
  );
  return lines;
}
