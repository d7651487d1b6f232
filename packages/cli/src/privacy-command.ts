/**
 * `secagg privacy …`: a privacy calculator over the dp package.
 *
 * Contract: {@link runPrivacyCli} never throws and never exits the process.
 * - exit 0: result printed to stdout (JSON with `--json`, else one human line);
 * - exit 1: the arguments are valid but there is no finite answer (e.g. ε is
 *   unbounded, or no noise multiplier reaches the budget); one line on stderr;
 * - exit 2: bad arguments; exactly one line on stderr naming the argument.
 * With `--json`, stdout carries the JSON object and nothing else.
 *
 * @module
 */

import { parseArgs } from 'node:util';
import {
  analyticGaussianSigma,
  calibrateNoiseMultiplier,
  computeDelta,
  computeDeltaPld,
  computeEpsilon,
  computeEpsilonPld,
  computeVoteEpsilon,
  voteHistogramSensitivity,
  type Accountant,
  type Conversion,
  type VoteAdjacency,
  type VoteMechanismName,
  type VoteShapeName,
} from '@secagg/dp';

/** Where the CLI writes; one call per line, without the newline. */
export interface CliIo {
  stdout(line: string): void;
  stderr(line: string): void;
}

const USAGE = `Usage: secagg privacy <command> [options]

Privacy calculator for the sampled Gaussian mechanism and the analytic
Gaussian mechanism (Balle & Wang 2018). Two accountants for T rounds:
  rdp (default)  Renyi DP (Mironov-Talwar-Zhang 2019), improved RDP->DP
                 conversion of Balle et al. 2020 by default
  pld            privacy loss distribution (dp-accounting; pessimistic
                 connect-the-dots discretisation, Doroshenko et al. 2022):
                 tighter, still an upper bound

Commands:
  epsilon           epsilon after T rounds
      --noise-multiplier Z --sampling-rate Q --steps T --delta D
      [--accountant rdp|pld] [--orders a,b,c] [--conversion improved|classic]
      -> {"epsilon": number, "order": number, "accountant": "rdp"}
         {"epsilon": number, "accountant": "pld"}
  delta             delta after T rounds
      --noise-multiplier Z --sampling-rate Q --steps T --epsilon E
      [--accountant rdp|pld] [--orders a,b,c] [--conversion improved|classic]
      -> {"delta": number, "accountant": "rdp" | "pld"}
  sigma             noise std of one Gaussian release (analytic Gaussian)
      --epsilon E --delta D [--sensitivity S]
      -> {"sigma": number}
  epsilon --mechanism noisy-histogram|gnmax|confident-gnmax
                    epsilon of a PATE vote round (data-independent RDP, PATE 2018)
      --queries Q --sigma2 S2 --delta D [--sigma1 S1 --threshold T --answered A]
      [--vote-shape one-hot|top-k|soft] [--top-k k] [--adjacency add-remove|replace-one]
      [--steps T] [--orders a,b,c] [--conversion improved|classic]
      -> {"epsilon": number, "order": number, "noise_multiplier": number}
      sigma1 and threshold are required by confident-gnmax; answered (default Q,
      what the keyholder charges) counts the queries GNMax answers; the
      threshold does not change a data-independent bound. noise_multiplier is
      the equivalent Gaussian's, as charged to a privacy group's ledger.
      Default adjacency add-remove (one teacher added or removed), as the
      keyholder's default; replace-one is PATE 2018's convention.
  noise-multiplier  smallest noise multiplier reaching (epsilon, delta) after T rounds
      --epsilon E --delta D --sampling-rate Q --steps T [--accountant rdp|pld]
      -> {"noise_multiplier": number, "accountant": "rdp" | "pld"}

Options:
  --json            print one JSON object on stdout and nothing else
  --help            print this help

Ranges: 0 < Q <= 1, 0 < D < 1, Z > 0, T a positive integer, E >= 0
(E > 0 for noise-multiplier), S > 0, every order > 1. --orders and
--conversion belong to the rdp accountant.

Examples:
  secagg privacy epsilon --noise-multiplier 1.1 --sampling-rate 0.01 --steps 1000 --delta 1e-5 --json
  secagg privacy epsilon --noise-multiplier 1.1 --sampling-rate 0.01 --steps 1000 --delta 1e-5 --accountant pld --json
  secagg privacy delta --noise-multiplier 1.1 --sampling-rate 0.01 --steps 1000 --epsilon 2
  secagg privacy sigma --epsilon 1 --delta 1e-5 --sensitivity 1 --json
  secagg privacy noise-multiplier --epsilon 8 --delta 1e-5 --sampling-rate 0.04 --steps 2000 --json
  secagg privacy epsilon --mechanism confident-gnmax --queries 640 --sigma1 150 --sigma2 40 --threshold 200 --delta 1e-5

Exit status: 0 ok, 1 no finite answer, 2 bad arguments.`;

const OPTIONS = {
  'noise-multiplier': { type: 'string' },
  'sampling-rate': { type: 'string' },
  steps: { type: 'string' },
  delta: { type: 'string' },
  epsilon: { type: 'string' },
  sensitivity: { type: 'string' },
  orders: { type: 'string' },
  conversion: { type: 'string' },
  accountant: { type: 'string' },
  mechanism: { type: 'string' },
  queries: { type: 'string' },
  answered: { type: 'string' },
  sigma1: { type: 'string' },
  sigma2: { type: 'string' },
  threshold: { type: 'string' },
  'vote-shape': { type: 'string' },
  'top-k': { type: 'string' },
  adjacency: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = Partial<Record<OptionName, string | boolean>>;

interface Command {
  required: readonly OptionName[];
  optional: readonly OptionName[];
}

const COMMANDS: Record<string, Command> = {
  epsilon: { required: ['noise-multiplier', 'sampling-rate', 'steps', 'delta'], optional: ['accountant', 'orders', 'conversion', 'mechanism'] },
  'epsilon --mechanism (votes)': {
    required: ['mechanism', 'queries', 'sigma2', 'delta'],
    optional: ['sigma1', 'threshold', 'answered', 'vote-shape', 'top-k', 'adjacency', 'steps', 'orders', 'conversion'],
  },
  delta: { required: ['noise-multiplier', 'sampling-rate', 'steps', 'epsilon'], optional: ['accountant', 'orders', 'conversion'] },
  sigma: { required: ['epsilon', 'delta'], optional: ['sensitivity'] },
  'noise-multiplier': { required: ['epsilon', 'delta', 'sampling-rate', 'steps'], optional: ['accountant'] },
};

/** A bad argument: becomes exit 2 with this one-line message. */
class UsageError extends Error {}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseNumber(flag: string, raw: string): number {
  if (!DECIMAL.test(raw)) throw new UsageError(`--${flag}: '${raw}' is not a number`);
  const x = Number(raw);
  if (!Number.isFinite(x)) throw new UsageError(`--${flag}: '${raw}' is out of range`);
  return x;
}

function str(values: Values, flag: OptionName): string {
  const v = values[flag];
  if (typeof v !== 'string') throw new UsageError(`--${flag} is required`);
  return v;
}

function noiseMultiplier(values: Values): number {
  const z = parseNumber('noise-multiplier', str(values, 'noise-multiplier'));
  if (!(z > 0)) throw new UsageError(`--noise-multiplier must be > 0, got ${z}`);
  return z;
}

function samplingRate(values: Values): number {
  const q = parseNumber('sampling-rate', str(values, 'sampling-rate'));
  if (!(q > 0 && q <= 1)) throw new UsageError(`--sampling-rate must be in (0, 1], got ${q}`);
  return q;
}

function steps(values: Values): number {
  const raw = str(values, 'steps');
  if (!/^\+?\d+$/.test(raw)) throw new UsageError(`--steps must be a positive integer, got '${raw}'`);
  const t = Number(raw);
  if (!Number.isSafeInteger(t) || t < 1) throw new UsageError(`--steps must be a positive integer, got '${raw}'`);
  return t;
}

function delta(values: Values): number {
  const d = parseNumber('delta', str(values, 'delta'));
  if (!(d > 0 && d < 1)) throw new UsageError(`--delta must be in (0, 1), got ${d}`);
  return d;
}

function epsilon(values: Values, strictlyPositive: boolean): number {
  const e = parseNumber('epsilon', str(values, 'epsilon'));
  if (strictlyPositive ? !(e > 0) : !(e >= 0)) {
    throw new UsageError(`--epsilon must be ${strictlyPositive ? '> 0' : '>= 0'}, got ${e}`);
  }
  return e;
}

function orders(values: Values): readonly number[] | undefined {
  const raw = values.orders;
  if (typeof raw !== 'string') return undefined;
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw new UsageError(`--orders must be a comma-separated list of numbers, got '${raw}'`);
  return parts.map((p) => {
    const a = parseNumber('orders', p);
    if (!(a > 1)) throw new UsageError(`--orders: every order must be > 1, got ${a}`);
    return a;
  });
}

function conversion(values: Values): Conversion {
  const raw = values.conversion;
  if (raw === undefined) return 'improved';
  if (raw !== 'improved' && raw !== 'classic') throw new UsageError(`--conversion must be 'improved' or 'classic', got '${String(raw)}'`);
  return raw;
}

/** The accountant of epsilon, delta and noise-multiplier; the RDP-only options are refused with pld. */
function accountant(values: Values): Accountant {
  const raw = values.accountant;
  if (raw === undefined) return 'rdp';
  if (raw !== 'rdp' && raw !== 'pld') throw new UsageError(`--accountant must be 'rdp' or 'pld', got '${String(raw)}'`);
  if (raw === 'pld') {
    for (const flag of ['orders', 'conversion'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} belongs to the rdp accountant, not to --accountant pld`);
    }
  }
  return raw;
}

function format(x: number): string {
  return Number(x.toPrecision(6)).toString();
}

/**
 * Runs `secagg privacy <argv…>` and returns the exit code (see the module
 * contract). `argv` excludes the word `privacy`, e.g.
 * `['epsilon', '--noise-multiplier', '1.1', '--sampling-rate', '0.01', '--steps', '1000', '--delta', '1e-5', '--json']`.
 */
export function runPrivacyCli(argv: readonly string[], io: CliIo): number {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    io.stderr(`secagg privacy: ${describeParseError(e)}`);
    return 2;
  }
  if (values.help === true) {
    for (const line of USAGE.split('\n')) io.stdout(line);
    return 0;
  }
  const [name, ...extra] = positionals;
  if (name === undefined) {
    io.stderr('secagg privacy: missing command (epsilon, delta, sigma or noise-multiplier); see --help');
    return 2;
  }
  const votes = name === 'epsilon' && values.mechanism !== undefined && values.mechanism !== 'gaussian';
  const command = COMMANDS[votes ? 'epsilon --mechanism (votes)' : name];
  if (command === undefined || name.startsWith('epsilon --')) {
    io.stderr(`secagg privacy: unknown command '${name}' (expected epsilon, delta, sigma or noise-multiplier)`);
    return 2;
  }
  if (extra.length > 0) {
    io.stderr(`secagg privacy ${name}: unexpected argument '${extra[0]}'`);
    return 2;
  }
  const json = values.json === true;
  try {
    for (const flag of Object.keys(values) as OptionName[]) {
      if (flag === 'json' || flag === 'help') continue;
      if (!command.required.includes(flag) && !command.optional.includes(flag)) {
        throw new UsageError(`--${flag} is not an option of '${name}'`);
      }
    }
    for (const flag of command.required) str(values, flag);
    return votes ? runVotes(values, json, io) : run(name, values, json, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`secagg privacy ${name}: ${e.message}`);
      return 2;
    }
    io.stderr(`secagg privacy ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

function describeParseError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string }).code;
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) return `unknown option '${unknown[1]}'; see --help`;
  const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  const ambiguous = /Option '(?:-\w, )?(--[\w-]+)' argument is ambiguous/.exec(message);
  if (ambiguous) return `${ambiguous[1]}: a value starting with '-' must be written as ${ambiguous[1]}=<value>`;
  const noValue = /Option '(--[\w-]+)' does not take an argument/.exec(message);
  if (noValue) return `${noValue[1]} does not take a value`;
  return message.split('\n')[0]!;
}

function positiveInteger(values: Values, flag: OptionName): number {
  const raw = str(values, flag);
  if (!/^\+?\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < 1) throw new UsageError(`--${flag} must be a positive integer, got '${raw}'`);
  return Number(raw);
}

function positive(values: Values, flag: OptionName): number {
  const x = parseNumber(flag, str(values, flag));
  if (!(x > 0)) throw new UsageError(`--${flag} must be > 0, got ${x}`);
  return x;
}

function oneOf<T extends string>(values: Values, flag: OptionName, choices: readonly T[], fallback: T): T {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  if (!choices.includes(raw as T)) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got '${String(raw)}'`);
  return raw as T;
}

/** `epsilon --mechanism …`: a PATE vote round's data-independent epsilon (pate.ts). */
function runVotes(values: Values, json: boolean, io: CliIo): number {
  const mechanism = oneOf<VoteMechanismName>(values, 'mechanism', ['noisy-histogram', 'gnmax', 'confident-gnmax'], 'gnmax');
  const queries = positiveInteger(values, 'queries');
  const sigma2 = positive(values, 'sigma2');
  const shape = oneOf<VoteShapeName>(values, 'vote-shape', ['one-hot', 'top-k', 'soft'], 'one-hot');
  const adjacency = oneOf<VoteAdjacency>(values, 'adjacency', ['add-remove', 'replace-one'], 'add-remove');
  if ((shape === 'top-k') !== (values['top-k'] !== undefined)) throw new UsageError('--top-k goes with --vote-shape top-k, and only with it');
  const topK = shape === 'top-k' ? positiveInteger(values, 'top-k') : 1;
  const confident = mechanism === 'confident-gnmax';
  for (const flag of ['sigma1', 'threshold', 'answered'] as const) {
    if (!confident && values[flag] !== undefined) throw new UsageError(`--${flag} is for --mechanism confident-gnmax only`);
  }
  let sigma1: number | undefined;
  let answered = queries;
  if (confident) {
    sigma1 = positive(values, 'sigma1');
    const threshold = parseNumber('threshold', str(values, 'threshold'));
    if (!(threshold >= 0)) throw new UsageError(`--threshold must be >= 0, got ${threshold}`);
    if (values.answered !== undefined) {
      const raw = str(values, 'answered');
      if (!/^\+?\d+$/.test(raw) || Number(raw) > queries) throw new UsageError(`--answered must be an integer in [0, --queries = ${queries}], got '${raw}'`);
      answered = Number(raw);
    }
  }
  const d = delta(values);
  const o = orders(values);
  const conv = conversion(values);
  const t = values.steps === undefined ? 1 : steps(values);
  const r = computeVoteEpsilon(
    { mechanism, queries, answered, sigma1, sigma2, histogramSensitivity: voteHistogramSensitivity(shape, adjacency, topK) },
    d,
    { ...(o ? { orders: o } : {}), conversion: conv, steps: t },
  );
  const obj = { epsilon: r.epsilon, order: r.order, noise_multiplier: r.noiseMultiplier };
  for (const [k, v] of Object.entries(obj)) {
    if (!Number.isFinite(v)) {
      io.stderr(`secagg privacy epsilon: ${k} is not finite for these parameters`);
      return 1;
    }
  }
  io.stdout(
    json
      ? JSON.stringify(obj)
      : `epsilon = ${format(r.epsilon)} at delta = ${d} for ${t === 1 ? 'one' : t} ${mechanism} release${t === 1 ? '' : 's'} of ${queries} queries` +
          `${confident ? ` (${answered} answered)` : ''}, ${shape} votes, ${adjacency} (equivalent noise multiplier ${format(r.noiseMultiplier)}, optimal RDP order ${r.order}, ${conv} conversion)`,
  );
  return 0;
}

function run(name: string, values: Values, json: boolean, io: CliIo): number {
  const emit = (obj: Record<string, number | string>, human: string): number => {
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'number' && !Number.isFinite(v)) {
        io.stderr(`secagg privacy ${name}: ${k} is not finite for these parameters`);
        return 1;
      }
    }
    io.stdout(json ? JSON.stringify(obj) : human);
    return 0;
  };
  switch (name) {
    case 'epsilon': {
      const round = { noiseMultiplier: noiseMultiplier(values), samplingRate: samplingRate(values), steps: steps(values) };
      const d = delta(values);
      if (accountant(values) === 'pld') {
        const r = computeEpsilonPld([round], d);
        return emit(
          { epsilon: r.epsilon, accountant: 'pld' },
          `epsilon = ${format(r.epsilon)} at delta = ${d} (PLD accountant, loss grid ${format(r.valueDiscretizationInterval)})`,
        );
      }
      const o = orders(values);
      const conv = conversion(values);
      const r = computeEpsilon([round], d, { ...(o ? { orders: o } : {}), conversion: conv });
      return emit(
        { epsilon: r.epsilon, order: r.order, accountant: 'rdp' },
        `epsilon = ${format(r.epsilon)} at delta = ${d} (optimal RDP order ${r.order}, ${conv} conversion)`,
      );
    }
    case 'delta': {
      const round = { noiseMultiplier: noiseMultiplier(values), samplingRate: samplingRate(values), steps: steps(values) };
      const e = epsilon(values, false);
      if (accountant(values) === 'pld') {
        const r = computeDeltaPld([round], e);
        return emit(
          { delta: r.delta, accountant: 'pld' },
          `delta = ${format(r.delta)} at epsilon = ${e} (PLD accountant, loss grid ${format(r.valueDiscretizationInterval)})`,
        );
      }
      const o = orders(values);
      const conv = conversion(values);
      const r = computeDelta([round], e, { ...(o ? { orders: o } : {}), conversion: conv });
      return emit(
        { delta: r.delta, accountant: 'rdp' },
        `delta = ${format(r.delta)} at epsilon = ${e} (optimal RDP order ${r.order}, ${conv} conversion)`,
      );
    }
    case 'sigma': {
      const e = epsilon(values, false);
      const d = delta(values);
      let s = 1;
      if (typeof values.sensitivity === 'string') {
        s = parseNumber('sensitivity', values.sensitivity);
        if (!(s > 0)) throw new UsageError(`--sensitivity must be > 0, got ${s}`);
      }
      const sigma = analyticGaussianSigma(e, d, s);
      return emit({ sigma }, `sigma = ${format(sigma)} (analytic Gaussian, epsilon = ${e}, delta = ${d}, sensitivity = ${s})`);
    }
    case 'noise-multiplier': {
      const e = epsilon(values, true);
      const d = delta(values);
      const q = samplingRate(values);
      const t = steps(values);
      const acc = accountant(values);
      const z = calibrateNoiseMultiplier({ epsilon: e, delta: d, samplingRate: q, steps: t }, { accountant: acc });
      return emit(
        { noise_multiplier: z, accountant: acc },
        `noise multiplier = ${format(z)} (epsilon <= ${e} at delta = ${d} after ${t} rounds at q = ${q}, ${acc} accountant)`,
      );
    }
    default:
      throw new UsageError(`unknown command '${name}'`);
  }
}
