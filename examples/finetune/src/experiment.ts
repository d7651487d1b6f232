/**
 * The experiment behind `npm run example:finetune`: pretrain a base model on
 * speeches before the cut-off, then fine-tune a LoRA adapter federatedly on the
 * later speeches through a real local secagg cluster (keyholder, gateway,
 * aggregators as processes; real CKKS, real gRPC, real Redis), once without
 * noise (test-only noise-free release) and once per target ε with DP, with a
 * fixed and with an adaptive clip norm; held-out perplexity after every round.
 *
 * The coordinator's loop (DP-FedAvg, McMahan et al. 2018): open a round (its
 * clip norm, noise multiplier, sampling rate, privacy group); every client
 * trains the adapter locally from the current global adapter, clips its delta
 * and submits it with the SDK (the gateway refuses clients outside the Poisson
 * sample); close; wait for the keyholder's release; global += η_s·(momentum
 * of the released mean). ε is read back from the keyholder's own ledger.
 */
import { RoundState } from '@secagg/proto';
import { Code, isSecaggError } from '@secagg/core';
import {
  AdaptiveClipping,
  augmentWithClipIndicator,
  clipRoundParametersFromRound,
  splitAugmentedSum,
  type ClipRoundParameters,
  type SecaggClient,
} from '@secagg/sdk';
import { LocalCluster } from '@secagg/local-cluster';
import { calibrateNoiseMultiplier, computeEpsilon, computeEpsilonPld, type RoundSpec } from '@secagg/dp';
import { loadCorpus, VOCAB_SIZE, type ClientData, type CorpusSplit } from './corpus.js';
import { evenlySpacedPositions, initBaseModel, localAdapterDelta, LoraLayout, perplexity, pretrain, type BaseModel } from './model.js';
import { SeededRandom } from './random.js';

export interface ExperimentOptions {
  /** First year of the private data; earlier speeches pretrain the base. */
  cutoffYear: number;
  heldOutEvery: number;
  speechesPerClient: number;
  /** At most this many clients (0 = one per training speech group). */
  maxClients: number;
  context: number;
  embedding: number;
  hidden: number;
  pretrainSteps: number;
  pretrainBatch: number;
  pretrainLearningRate: number;
  loraRank: number;
  rounds: number;
  localSteps: number;
  localBatch: number;
  localLearningRate: number;
  serverLearningRate: number;
  /** Server momentum μ (0 = plain FedAvg): v ← μ·v + mean; global += η_s·v. */
  serverMomentum: number;
  /** The fixed clip norm C (and the adaptive runs' starting C). */
  clipNorm: number;
  /** Target ε of each DP run over `rounds` rounds at δ; the noise multiplier is calibrated (RDP) to it. */
  epsilons: number[];
  delta: number;
  /** Poisson sampling rate q of every round (1 = every client every round). */
  samplingRate: number;
  /** Also run adaptive clipping at this target ε (one of `epsilons`), or 0 for none. */
  adaptiveEpsilon: number;
  adaptiveQuantile: number;
  adaptiveLearningRate: number;
  /** Characters of held-out text evaluated after every round. */
  evalPositions: number;
  seed: number;
  log: (line: string) => void;
}

export type RunKind = 'base' | 'non-private' | 'dp-fixed' | 'dp-adaptive';

export interface RunResult {
  name: string;
  kind: RunKind;
  targetEpsilon?: number;
  /** Perplexity per character on the held-out speeches: [before round 1, after round 1, …]. */
  perplexity: number[];
  /** Noise multiplier z the rounds were opened with. */
  noiseMultiplier?: number;
  /** What the keyholder accounted per round: σ / L2 sensitivity, and q. */
  schedule: RoundSpec[];
  /** ε spent by the run's privacy group, read from the keyholder's ledger (getPrivacyBudget). */
  ledgerEpsilon?: number;
  /** The same schedule priced by packages/dp: RDP (the keyholder's accountant here) and PLD. */
  accountantEpsilonRdp?: number;
  accountantEpsilonPld?: number;
  /** C of the update per round (the adaptive run's moves). */
  clipNorms: number[];
  /**
   * Fraction of clients whose update norm was ≤ C per round: the noisy estimate the coordinator used
   * (adaptive), else the exact fraction — a diagnostic only a simulation holding every client's update has.
   */
  fractionBelow: number[];
  contributions: number[];
  /** Ciphertext bytes one client uploads per round (the SDK's count of what it streamed). */
  bytesPerClientPerRound: number;
  wallSeconds: number;
}

export interface ExperimentResult {
  options: Omit<ExperimentOptions, 'log'>;
  corpus: { pretrainChars: number; clients: number; clientChars: number; heldOutChars: number; heldOutYears: number[]; presidents: number };
  adapterLength: number;
  modelWeights: number;
  pretrainSeconds: number;
  runs: RunResult[];
  totalSeconds: number;
}

interface Setup {
  base: BaseModel;
  layout: LoraLayout;
  initialAdapter: Float64Array;
  corpus: CorpusSplit;
  evalAt: Uint32Array;
}

const RELEASE_WAIT_MS = 5 * 60_000;

async function waitForRelease(coordinator: SecaggClient, roundId: string): Promise<void> {
  const until = Date.now() + RELEASE_WAIT_MS;
  for (;;) {
    const status = await coordinator.getRoundStatus(roundId);
    if (status.state === RoundState.RELEASED) return;
    if (status.state === RoundState.FAILED) throw new Error(`round ${roundId} failed: ${status.failureReason}`);
    if (Date.now() > until) throw new Error(`round ${roundId} not released after ${RELEASE_WAIT_MS} ms (state ${RoundState[status.state]})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface FederatedRun {
  name: string;
  kind: Exclude<RunKind, 'base'>;
  targetEpsilon?: number;
  noiseMultiplier: number;
  adaptive: boolean;
}

async function runFederated(cluster: LocalCluster, setup: Setup, clients: { data: ClientData; sdk: SecaggClient }[], run: FederatedRun, o: ExperimentOptions): Promise<RunResult> {
  const started = performance.now();
  const { base, layout, corpus, evalAt } = setup;
  const rng = new SeededRandom(o.seed + 1000);
  const noiseFree = run.kind === 'non-private';
  const group = `finetune-${run.kind}-${run.targetEpsilon ?? 'inf'}-${Date.now().toString(36)}`;
  const coordinator = await cluster.client('coordinator', `finetune-coordinator`);
  if (!noiseFree) await coordinator.setPrivacyBudget(group, Math.max(2 * (run.targetEpsilon ?? 1), 1) + 1, o.delta);

  const expected = Math.max(1, o.samplingRate * clients.length);
  // σ_b = expected/20 as the paper suggests, but at least 2z so the count's scale s stays moderate (z_Δ ≤ 1.16·z).
  const countNoiseStd = Math.max(expected / 20, 2 * run.noiseMultiplier);
  const clipping = run.adaptive
    ? new AdaptiveClipping({ initialClipNorm: o.clipNorm, targetQuantile: o.adaptiveQuantile, learningRate: o.adaptiveLearningRate, countNoiseStd })
    : undefined;

  const adapter = Float64Array.from(setup.initialAdapter);
  const velocity = new Float64Array(layout.length);
  const result: RunResult = {
    name: run.name,
    kind: run.kind,
    targetEpsilon: run.targetEpsilon,
    perplexity: [perplexity(base, layout, adapter, corpus.heldOut, evalAt)],
    noiseMultiplier: run.noiseMultiplier,
    schedule: [],
    clipNorms: [],
    fractionBelow: [],
    contributions: [],
    bytesPerClientPerRound: 0,
    wallSeconds: 0,
  };
  let bytes = 0;
  let uploads = 0;
  for (let t = 1; t <= o.rounds; t++) {
    const params: ClipRoundParameters | undefined = clipping?.roundParameters(run.noiseMultiplier);
    const updateClip = params?.updateClipNorm ?? o.clipNorm;
    const { round, privacy } = await coordinator.createRoundWithPrivacy({
      vectorLength: layout.length + (params ? 1 : 0),
      minClients: Math.min(3, clients.length),
      // Well above q·population so the cap never truncates the Poisson sample (docs/PRIVACY.md §3).
      maxClients: clients.length,
      deadlineUnixMs: BigInt(Date.now() + 30 * 60_000),
      clipNorm: params?.roundClipNorm ?? o.clipNorm,
      noiseMultiplier: run.noiseMultiplier,
      unsafeDisableNoise: noiseFree,
      privacyGroup: group,
      samplingRate: o.samplingRate < 1 ? o.samplingRate : 0,
    });
    result.schedule.push({ noiseMultiplier: privacy.accountingNoiseMultiplier, samplingRate: privacy.samplingRate || 1, steps: 1 });

    let below = 0;
    const submissions: Promise<void>[] = [];
    for (const client of clients) {
      // Local training is synchronous CPU work; the previous clients' uploads progress between trainings.
      const delta = localAdapterDelta(base, layout, adapter, client.data.text, { steps: o.localSteps, batch: o.localBatch, learningRate: o.localLearningRate, rng });
      let norm = 0;
      for (const v of delta) norm += v * v;
      if (Math.sqrt(norm) <= updateClip) below++;
      let values: Float64Array = delta; // the SDK clips it to the round's clip norm
      if (params) {
        // Adaptive: the client takes C and s from the keyholder-signed round (clip_norm = C_aug, z) and the run's σ_b.
        const { config } = await client.sdk.getVerifiedRound(round.roundId);
        values = augmentWithClipIndicator(delta, clipRoundParametersFromRound(config.clipNorm, config.noiseMultiplier, countNoiseStd)).values;
      }
      submissions.push(
        client.sdk.submitUpdate(round.roundId, values).then(
          (r) => {
            bytes += r.bytesSent;
            uploads++;
          },
          (error: unknown) => {
            // Outside the round's Poisson sample: the gateway said so at the stream header; nothing was sent.
            if (isSecaggError(error, Code.FailedPrecondition) && /was not sampled/.test(error.message)) return;
            throw error;
          },
        ),
      );
    }
    await Promise.all(submissions);
    await coordinator.closeRound(round.roundId);
    await waitForRelease(coordinator, round.roundId);
    const released = await coordinator.getResult(round.roundId);
    const count = released.header.contributionCount;
    result.contributions.push(count);
    result.clipNorms.push(updateClip);

    let updateSum: Float64Array = released.sum;
    if (params && clipping) {
      const split = splitAugmentedSum(released.sum, params);
      updateSum = split.updateSum;
      // Andrew et al. divide by the expected number of clients; with q = 1 that is the count.
      result.fractionBelow.push(clipping.update(split.noisyCountBelow, o.samplingRate < 1 ? expected : count));
    } else {
      result.fractionBelow.push(below / clients.length);
    }
    // The released mean: noisy sum / contributions (the count is public under the zero-out relation, docs/PRIVACY.md §1).
    for (let i = 0; i < adapter.length; i++) {
      velocity[i] = o.serverMomentum * velocity[i]! + updateSum[i]! / count;
      adapter[i]! += o.serverLearningRate * velocity[i]!;
    }
    const ppl = perplexity(base, layout, adapter, corpus.heldOut, evalAt);
    result.perplexity.push(ppl);
    o.log(`  ${run.name} round ${t}/${o.rounds}: ${count} updates, C = ${updateClip.toPrecision(3)}, held-out perplexity ${ppl.toFixed(4)}`);
  }
  if (!noiseFree) {
    const budget = await coordinator.getPrivacyBudget(group);
    result.ledgerEpsilon = budget.epsilonSpent;
    result.accountantEpsilonRdp = computeEpsilon(result.schedule, o.delta).epsilon;
    result.accountantEpsilonPld = computeEpsilonPld(result.schedule, o.delta).epsilon;
  }
  coordinator.close();
  result.bytesPerClientPerRound = uploads > 0 ? bytes / uploads : 0;
  result.wallSeconds = (performance.now() - started) / 1000;
  return result;
}

export async function runExperiment(o: ExperimentOptions): Promise<ExperimentResult> {
  const started = performance.now();
  const corpus = loadCorpus({ cutoffYear: o.cutoffYear, heldOutEvery: o.heldOutEvery, speechesPerClient: o.speechesPerClient, maxClients: o.maxClients });
  const shape = { vocab: VOCAB_SIZE, context: o.context, embedding: o.embedding, hidden: o.hidden };
  const rng = new SeededRandom(o.seed);
  const base = initBaseModel(shape, rng);
  o.log(`pretraining the base model on ${corpus.pretrain.length.toLocaleString('en')} characters of addresses before ${o.cutoffYear} (${o.pretrainSteps} Adam steps)…`);
  const pretrainStart = performance.now();
  pretrain(base, corpus.pretrain, { steps: o.pretrainSteps, batch: o.pretrainBatch, learningRate: o.pretrainLearningRate, rng });
  const pretrainSeconds = (performance.now() - pretrainStart) / 1000;
  const layout = new LoraLayout(shape, o.loraRank);
  const setup: Setup = { base, layout, initialAdapter: layout.init(rng), corpus, evalAt: evenlySpacedPositions(corpus.heldOut, o.context, o.evalPositions) };
  const basePerplexity = perplexity(base, layout, setup.initialAdapter, corpus.heldOut, setup.evalAt);
  o.log(`base model: held-out perplexity ${basePerplexity.toFixed(4)} per character; adapter ${layout.length} values; ${corpus.clients.length} clients`);

  const runs: RunResult[] = [
    {
      name: 'pretrained base',
      kind: 'base',
      perplexity: Array.from({ length: o.rounds + 1 }, () => basePerplexity),
      schedule: [],
      clipNorms: [],
      fractionBelow: [],
      contributions: [],
      bytesPerClientPerRound: 0,
      wallSeconds: pretrainSeconds,
    },
  ];
  const plan: FederatedRun[] = [{ name: 'non-private', kind: 'non-private', noiseMultiplier: 0, adaptive: false }];
  for (const epsilon of o.epsilons) {
    const z = calibrateNoiseMultiplier({ epsilon, delta: o.delta, samplingRate: o.samplingRate, steps: o.rounds });
    plan.push({ name: `DP ε=${epsilon}, fixed C`, kind: 'dp-fixed', targetEpsilon: epsilon, noiseMultiplier: z, adaptive: false });
    if (epsilon === o.adaptiveEpsilon) plan.push({ name: `DP ε=${epsilon}, adaptive C`, kind: 'dp-adaptive', targetEpsilon: epsilon, noiseMultiplier: z, adaptive: true });
  }

  o.log('starting a local secagg cluster (keyholder, gateway, 2 aggregators)…');
  const cluster = await LocalCluster.start({
    aggregators: 2,
    minClientsFloor: Math.min(3, corpus.clients.length),
    allowUnsafeNoiseFreeRelease: true,
    // Budgets of the high-ε runs exceed the production ceiling of 10.
    env: { keyholder: { KEYHOLDER_MAX_BUDGET_EPSILON: String(Math.max(10, 3 * Math.max(...o.epsilons, 1))) } },
  });
  try {
    const clients = await Promise.all(corpus.clients.map(async (data) => ({ data, sdk: await cluster.client('client', `client-${data.id}`) })));
    try {
      for (const run of plan) {
        o.log(`${run.name}${run.noiseMultiplier > 0 ? ` (noise multiplier ${run.noiseMultiplier.toFixed(3)})` : ''}:`);
        runs.push(await runFederated(cluster, setup, clients, run, o));
      }
    } finally {
      for (const c of clients) c.sdk.close();
    }
  } catch (error) {
    process.env.SECAGG_KEEP_LOGS = '1';
    o.log(`failed; service logs kept in ${cluster.logDir}`);
    throw error;
  } finally {
    await cluster.stop();
  }
  const { log: _log, ...options } = o;
  return {
    options,
    corpus: {
      pretrainChars: corpus.pretrain.length,
      clients: corpus.clients.length,
      clientChars: corpus.clients.reduce((n, c) => n + c.text.length, 0),
      heldOutChars: corpus.heldOut.length,
      heldOutYears: corpus.heldOutYears,
      presidents: new Set(corpus.clients.map((c) => c.president)).size,
    },
    adapterLength: layout.length,
    modelWeights: base.E.length + base.W1.length + base.b1.length + base.W2.length + base.b2.length,
    pretrainSeconds,
    runs,
    totalSeconds: (performance.now() - started) / 1000,
  };
}
