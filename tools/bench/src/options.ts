/** Command-line options of `npm run bench` and their defaults per mode. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PRESET, isPresetName, type Encoding, type PresetName } from '@secagg/ckks';
import { REPO_ROOT } from '@secagg/local-cluster';

export interface BenchOptions {
  mode: 'quick' | 'default';
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
  /** Trials per limit (and per client-encryption figure); the best trial is reported. */
  trials: number;
  /** Where the JSON report goes. */
  out: string;
}

export const DEFAULT_OUT = join(REPO_ROOT, 'bench', 'results', 'latest.json');

/** Defaults: `--quick` stays under two minutes, the default run under ten, on a 2-core machine. */
export const MODE_DEFAULTS = {
  quick: { clients: 4, length: 200_000, limitSeconds: 0.4, trials: 2 },
  default: { clients: 8, length: 1_000_000, limitSeconds: 0.8, trials: 5 },
} as const;

export const USAGE = `npm run bench -- [options]

Measures, in one run on this machine, the limits (grpc-js loopback client
streaming, Redis SET, node-seal encrypt and load+add, plain float32 sum) and
the system (client encryption, gateway ingest, fold, end-to-end round, bytes
per value, peak memory) on local clusters, and reports each figure as a ratio
to its limit. Writes a JSON report and prints a markdown table.

  --quick                 a run under two minutes (${MODE_DEFAULTS.quick.clients} clients × ${MODE_DEFAULTS.quick.length} values)
  --clients, -S <n>       concurrent clients per round (default ${MODE_DEFAULTS.default.clients})
  --length, -L <n>        values per update (default ${MODE_DEFAULTS.default.length})
  --encodings <list>      comma-separated encodings of the system preset (default slots,coefficients)
  --preset <name>         the system preset (default ${DEFAULT_PRESET}, the project's default)
  --baseline-preset <n>   the peer baseline preset, slot-encoded (default n8192-q60x4)
  --no-baseline           skip the peer baseline
  --aggregators <n>       aggregator processes per cluster (default 2)
  --clip-norm <C>         the rounds' clip norm (default 1)
  --noise-multiplier <z>  the rounds' noise multiplier; 0 = noise-free test release (default 1)
  --limit-seconds <s>     minimum duration of each limit measurement (quick ${MODE_DEFAULTS.quick.limitSeconds}, default ${MODE_DEFAULTS.default.limitSeconds})
  --trials <n>            trials per limit, the best one reported (quick ${MODE_DEFAULTS.quick.trials}, default ${MODE_DEFAULTS.default.trials})
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
  const mode = values.quick ? 'quick' : 'default';
  const defaults = MODE_DEFAULTS[mode];
  const encodings = (values.encodings ?? 'slots,coefficients').split(',').map((e) => e.trim());
  for (const e of encodings) if (e !== 'slots' && e !== 'coefficients') throw new Error(`--encodings: unknown encoding ${e}`);
  const clipNorm = nonNegative('clip-norm', values['clip-norm'], 1);
  if (clipNorm === 0) throw new Error('--clip-norm must be positive');
  const limitSeconds = nonNegative('limit-seconds', values['limit-seconds'], defaults.limitSeconds);
  if (limitSeconds === 0) throw new Error('--limit-seconds must be positive');
  return {
    mode,
    clients: positiveInteger('clients', values.clients, defaults.clients),
    length: positiveInteger('length', values.length, defaults.length),
    preset: preset('preset', values.preset, DEFAULT_PRESET),
    encodings: [...new Set(encodings)] as Encoding[],
    baseline: values.baseline,
    baselinePreset: preset('baseline-preset', values['baseline-preset'], 'n8192-q60x4'),
    aggregators: positiveInteger('aggregators', values.aggregators, 2),
    clipNorm,
    noiseMultiplier: nonNegative('noise-multiplier', values['noise-multiplier'], 1),
    limitSeconds,
    trials: positiveInteger('trials', values.trials, defaults.trials),
    out: values.out ?? DEFAULT_OUT,
  };
}
