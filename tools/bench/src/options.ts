/** Command-line options of `npm run bench` and their defaults per mode. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PRESET, isPresetName, type Encoding, type PresetName } from '@secagg/ckks';
import { REPO_ROOT } from '@secagg/local-cluster';

export interface BenchOptions {
  mode: 'quick' | 'default' | 'memory';
  /** S: concurrent clients per round. */
  clients: number;
  /** L: values per update. */
  length: number;
  /** The system's preset (default: @secagg/ckks DEFAULT_PRESET). */
  preset: PresetName;
  /** Encodings measured for `preset`, in order. */
  encodings: Encoding[];
  /** Also run the peer baseline (`baselinePreset`, slot-encoded). */
  baseline: boolean;
  baselinePreset: PresetName;
  aggregators: number;
  clipNorm: number;
  noiseMultiplier: number;
  /** Minimum duration of each limit measurement and of the client-encryption figure, seconds. */
  limitSeconds: number;
  /** Trials per limit (and per client-encryption figure); the median is reported, with the spread. */
  trials: number;
  /** Isolated rounds per aggregator count (one aggregator, then all): fold and ingest trials. */
  foldTrials: number;
  /**
   * Ciphertext bytes each isolated round ingests and folds, at least: each
   * client sends ceil(roundBytes / (S × update bytes)) updates, so that the
   * fold lasts long enough to time (a fold of 8 × 1M values takes tens of ms).
   */
  roundBytes: number;
  /** Client-encryption trials and the end-to-end round (off in the memory run, where each client replays one update). */
  endToEnd: boolean;
  /**
   * Extra environment of the clusters' gateways (`--gateway-env NAME=VALUE`):
   * a non-default configuration, recorded in the report's parameters and notes.
   */
  gatewayEnv: Record<string, string>;
  /** Where the JSON report goes. */
  out: string;
}

export const DEFAULT_OUT = join(REPO_ROOT, 'bench', 'results', 'latest.json');

/** Defaults: `--quick` stays under a few minutes, the default run near ten, on a 2-core machine. */
export const MODE_DEFAULTS = {
  quick: { clients: 4, length: 200_000, limitSeconds: 0.4, trials: 3, foldTrials: 1, roundMegabytes: 64 },
  default: { clients: 8, length: 1_000_000, limitSeconds: 0.8, trials: 5, foldTrials: 2, roundMegabytes: 512 },
  // The 10M-value memory run (issue 11): every process's peak RSS, Redis's used_memory_peak; one update per client.
  memory: { clients: 20, length: 10_000_000, limitSeconds: 0.8, trials: 3, foldTrials: 1, roundMegabytes: 0 },
} as const;

/** Where the memory run writes by default: one file per client count. */
export const memoryRunOut = (clients: number) => join(REPO_ROOT, 'bench', 'results', `memory-10m-${clients}clients.json`);

export const USAGE = `npm run bench -- [options]

Measures, in one run on this machine, the limits (grpc-js loopback client
streaming, Redis SET, node-seal encrypt and load+add, plain float32 sum) and
the system (client encryption, gateway ingest, fold, end-to-end round, bytes
per value, peak memory) on local clusters, and reports each figure as a ratio
to its limit. Writes a JSON report and prints a markdown table.

  --quick                 a short run (${MODE_DEFAULTS.quick.clients} clients × ${MODE_DEFAULTS.quick.length} values)
  --memory-run            the 10M-value memory run: ${MODE_DEFAULTS.memory.clients} clients (--clients) × ${MODE_DEFAULTS.memory.length} values,
                          coefficients, no baseline, one isolated round (each client replays one
                          update encrypted once), no end-to-end round; peak RSS of every process
                          and Redis used_memory_peak; writes bench/results/memory-10m-<S>clients.json
  --clients, -S <n>       concurrent clients per round (default ${MODE_DEFAULTS.default.clients})
  --length, -L <n>        values per update (default ${MODE_DEFAULTS.default.length})
  --encodings <list>      comma-separated encodings of the system preset (default slots,coefficients)
  --preset <name>         the system preset (default ${DEFAULT_PRESET}, the project's default)
  --baseline-preset <n>   the peer baseline preset, slot-encoded (default n8192-q60x4)
  --no-baseline           skip the peer baselines (the preset above on the cluster, and NVIDIA
                          FLARE's HE defaults reproduced with node-seal)
  --aggregators <n>       aggregator processes per cluster (default 2)
  --clip-norm <C>         the rounds' clip norm (default 1)
  --noise-multiplier <z>  the rounds' noise multiplier; 0 = noise-free test release (default 1)
  --limit-seconds <s>     minimum duration of each limit measurement (quick ${MODE_DEFAULTS.quick.limitSeconds}, default ${MODE_DEFAULTS.default.limitSeconds})
  --trials <n>            trials per limit, the median reported (quick ${MODE_DEFAULTS.quick.trials}, default ${MODE_DEFAULTS.default.trials})
  --fold-trials <n>       isolated rounds per aggregator count, 1 and all (quick ${MODE_DEFAULTS.quick.foldTrials}, default ${MODE_DEFAULTS.default.foldTrials})
  --round-megabytes <n>   ciphertext MB each isolated round ingests and folds at least (quick ${MODE_DEFAULTS.quick.roundMegabytes}, default ${MODE_DEFAULTS.default.roundMegabytes})
  --gateway-env NAME=VALUE  run the gateways with this setting (repeatable; GATEWAY_* only), e.g.
                          GATEWAY_MAX_STAGED_BYTES=2147483648; recorded in the report
  --out <file>            the JSON report (default bench/results/latest.json)
  --help                  this text`;

function positiveInteger(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
  return value;
}

function nonNegative(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got ${raw}`);
  return value;
}

function preset(name: string, raw: string | undefined, fallback: PresetName): PresetName {
  if (raw === undefined) return fallback;
  if (!isPresetName(raw)) throw new Error(`--${name}: unknown preset ${raw}`);
  return raw;
}

/** Parses `argv` (without node and script); returns undefined for --help. Throws on bad input. */
export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    allowNegative: true,
    options: {
      quick: { type: 'boolean', default: false },
      'memory-run': { type: 'boolean', default: false },
      'fold-trials': { type: 'string' },
      'round-megabytes': { type: 'string' },
      'gateway-env': { type: 'string', multiple: true },
      clients: { type: 'string', short: 'S' },
      length: { type: 'string', short: 'L' },
      encodings: { type: 'string' },
      preset: { type: 'string' },
      'baseline-preset': { type: 'string' },
      baseline: { type: 'boolean', default: true },
      aggregators: { type: 'string' },
      'clip-norm': { type: 'string' },
      'noise-multiplier': { type: 'string' },
      'limit-seconds': { type: 'string' },
      trials: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  if (values.quick && values['memory-run']) throw new Error('--quick and --memory-run exclude each other');
  const mode = values.quick ? 'quick' : values['memory-run'] ? 'memory' : 'default';
  const defaults = MODE_DEFAULTS[mode];
  const encodings = (values.encodings ?? (mode === 'memory' ? 'coefficients' : 'slots,coefficients')).split(',').map((e) => e.trim());
  for (const e of encodings) if (e !== 'slots' && e !== 'coefficients') throw new Error(`--encodings: unknown encoding ${e}`);
  const clipNorm = nonNegative('clip-norm', values['clip-norm'], 1);
  if (clipNorm === 0) throw new Error('--clip-norm must be positive');
  const limitSeconds = nonNegative('limit-seconds', values['limit-seconds'], defaults.limitSeconds);
  if (limitSeconds === 0) throw new Error('--limit-seconds must be positive');
  const clients = positiveInteger('clients', values.clients, defaults.clients);
  const gatewayEnv: Record<string, string> = {};
  for (const pair of values['gateway-env'] ?? []) {
    const match = /^(GATEWAY_[A-Z0-9_]+)=(.*)$/.exec(pair);
    if (!match) throw new Error(`--gateway-env must be GATEWAY_NAME=value, got ${pair}`);
    gatewayEnv[match[1]!] = match[2]!;
  }
  return {
    mode,
    clients,
    length: positiveInteger('length', values.length, defaults.length),
    preset: preset('preset', values.preset, DEFAULT_PRESET),
    encodings: [...new Set(encodings)] as Encoding[],
    baseline: mode === 'memory' ? false : values.baseline,
    baselinePreset: preset('baseline-preset', values['baseline-preset'], 'n8192-q60x4'),
    aggregators: positiveInteger('aggregators', values.aggregators, 2),
    clipNorm,
    noiseMultiplier: nonNegative('noise-multiplier', values['noise-multiplier'], 1),
    limitSeconds,
    trials: positiveInteger('trials', values.trials, defaults.trials),
    foldTrials: positiveInteger('fold-trials', values['fold-trials'], defaults.foldTrials),
    roundBytes: nonNegative('round-megabytes', values['round-megabytes'], defaults.roundMegabytes) * 1e6,
    endToEnd: mode !== 'memory',
    gatewayEnv,
    out: values.out ?? (mode === 'memory' ? memoryRunOut(clients) : DEFAULT_OUT),
  };
}
