#!/usr/bin/env node
/**
 * `secagg`: the command line over the SDK (its own package, so the SDK stays a library).
 *
 *   secagg round create|list|status|close …   coordinator
 *   secagg submit --round R --file F           client
 *   secagg votes submit --round R --file F     client (teacher) of a vote round
 *   secagg result --round R --out F            client or coordinator
 *   secagg token mint …                        operator (holds the signing key)
 *   secagg keyholder keygen …                  operator (the keyholder's round-signing key)
 *   secagg privacy epsilon|delta|sigma|noise-multiplier …   planning, no cluster
 *   secagg privacy budget|set-budget --group G …             a group's budget on the cluster
 *
 * Connection: --gateway host:port (or SECAGG_GATEWAY), the token from
 * --token-file F, --token T, SECAGG_TOKEN or SECAGG_TOKEN_FILE (in that
 * order; --token shows in process lists, so the help steers away from it),
 * --ca F (or SECAGG_CA_FILE), or --insecure for a development cluster.
 * Submitting needs the keyholder's verification key pinned: --keyholder-key F
 * (repeatable or comma-separated), or SECAGG_KEYHOLDER_KEY_FILE
 * (comma-separated files) / SECAGG_KEYHOLDER_KEYS (PEM text).
 * Exit codes: 0 ok, 1 failed, 2 bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { codeName, isReason, isSecaggError } from '@secagg/core';
import { writeFileSync } from 'node:fs';
import { DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, generateSigningKeyPair, mintToken, ROLES, type Role } from '@secagg/auth';
import { runPrivacyCli } from './privacy-command.js';
import { Adjacency, Encoding, RoundKind, RoundState, VoteMechanism, VoteShape, type PrivacyBudget, type PrivacyCost, type Round } from '@secagg/proto';
import { RoundSigner } from '@secagg/protocol';
import { generateKeyPairSync } from 'node:crypto';
import { readVector, releasedLabels, SecaggClient, writeVector } from '@secagg/sdk';
import { adviceFor } from './cli-advice.js';

const USAGE = `secagg — secure aggregation client

Usage:
  secagg round create --length L --min-clients N --max-clients M --deadline 10m --clip-norm C --noise-multiplier Z
                      [--preset n4096-q60p49|n4096-q54|n8192-q60x4|n2048-q54] [--encoding coefficients|slots]
                      [--privacy-group G] [--sampling-rate Q]      (defaults: n4096-q60p49, coefficients)
  secagg round list [--limit N]
  secagg round status R
  secagg round watch R [--interval ms]             live progress until released (exit 0) or failed (exit 1)
  secagg round close R
  secagg round create --kind votes --queries Q --classes K --min-clients N --max-clients M --deadline 10m
                      --mechanism noisy-histogram|gnmax|confident-gnmax --sigma2 S2 [--sigma1 S1 --threshold T]
                      [--vote-shape one-hot|top-k|soft] [--top-k k] --transfer-set ID --transfer-set-sha256 HEX
                                                   a PATE vote round (docs/DISTILLATION.md)
  secagg submit --round R --file update.safetensors|.npy|.f32 [--update-id ID] --keyholder-key keyholder-verify.pem
  secagg votes submit --round R --file votes.npy [--transfer-set-sha256 HEX] [--update-id ID] --keyholder-key F
                                                   a teacher's votes: Q labels (Q*k for top-k) or the Q x K matrix
  secagg result --round R --out mean.npy [--sum]
  secagg result --round R --out labels.npy --labels  a vote round's labels, -1 where the query was abstained
  secagg token keygen --out-private signing.pem --out-public token-public.pem
  secagg token mint --signing-key key.pem --subject S --role client|coordinator|operator [--ttl 1h] [--round R]
                                                   --ttl at most 24h (the gateway refuses longer-lived tokens)
  secagg keyholder keygen --out-private keyholder-signing.pem --out-public keyholder-verify.pem
  secagg privacy epsilon|delta|sigma|noise-multiplier …   (secagg privacy --help)
  secagg privacy budget [--group G]                        spent / remaining epsilon at delta, and the releases
  secagg privacy set-budget [--group G] --epsilon E [--delta D]

Connection options: --gateway host:port  --token-file F  --ca ca.pem  --insecure  --json
  The token comes from --token-file F, --token T, SECAGG_TOKEN or SECAGG_TOKEN_FILE. Prefer SECAGG_TOKEN
  or --token-file: --token T shows in process lists (ps, /proc) to every user of the machine.

Pinned keyholder key (submit): the SDK encrypts only under a round key and parameters the keyholder
signed, verified against the keyholder verification key(s) you pin: --keyholder-key FILE (repeat it,
or comma-separate, to pin the old and the new key during a rotation), or SECAGG_KEYHOLDER_KEY_FILE
(comma-separated files) / SECAGG_KEYHOLDER_KEYS (PEM text). Without one, submit refuses.

Examples:
  export SECAGG_GATEWAY=localhost:7100 SECAGG_TOKEN_FILE=coordinator.jwt
  secagg round create --length 100000 --min-clients 10 --max-clients 100 --deadline 30m --clip-norm 1 --noise-multiplier 1.1
  export SECAGG_KEYHOLDER_KEY_FILE=keyholder-verify.pem
  SECAGG_TOKEN_FILE=client-7.jwt secagg submit --round r-abc --file adapter_model.safetensors
  secagg result --round r-abc --out mean.safetensors
`;

class UsageError extends Error {}

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const COMMON = {
  gateway: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function main(argv: string[], io: Io = { out: console.log, err: console.error }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'round':
        return await roundCommand(rest, io);
      case 'submit':
        return await submitCommand(rest, io);
      case 'votes':
        if (rest[0] !== 'submit') throw new UsageError('votes needs a subcommand: submit');
        return await votesSubmitCommand(rest.slice(1), io);
      case 'result':
        return await resultCommand(rest, io);
      case 'token':
        return await tokenCommand(rest, io);
      case 'keyholder':
        return keyholderCommand(rest, io);
      case 'privacy':
        if (rest[0] === 'budget' || rest[0] === 'set-budget') return await budgetCommand(rest[0], rest.slice(1), io);
        return runPrivacyCli(rest, { stdout: io.out, stderr: io.err });
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith?.('ERR_PARSE_ARGS')) {
      io.err(`secagg: ${(error as Error).message} (see secagg --help)`);
      return 2;
    }
    if (isSecaggError(error)) {
      // The status, the reason a script can match on, the server's words, then what to do (cli-advice.ts).
      const reason = isReason(error.reason) ? ` (${error.reason})` : '';
      const advice = adviceFor(error);
      io.err(`secagg: ${codeName(error.code)}${reason}: ${error.message}${advice ? ` — ${advice}` : ''}`);
      return 1;
    }
    io.err(`secagg: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
}

/** Runs `use` with `client`, closing the client however `use` ends (every command that talks to the gateway). */
async function withClient<T>(client: SecaggClient, use: (client: SecaggClient) => Promise<T>): Promise<T> {
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

function connect(values: { gateway?: string; token?: string; 'token-file'?: string; ca?: string; insecure?: boolean }, keyholderKeys: string[] = []): SecaggClient {
  const address = values.gateway ?? process.env.SECAGG_GATEWAY;
  if (!address) throw new UsageError('--gateway host:port (or SECAGG_GATEWAY) is required');
  const caFile = values.ca ?? process.env.SECAGG_CA_FILE;
  return new SecaggClient({ address, token: tokenOf(values), caFile, insecure: values.insecure ?? false, keyholderKeys });
}

/**
 * Keyholder verification keys to pin (PEM texts): --keyholder-key files when
 * given, else SECAGG_KEYHOLDER_KEY_FILE files and SECAGG_KEYHOLDER_KEYS PEM
 * text. Empty when none is set: the SDK then refuses to submit, saying how to pin.
 */
function pinnedKeyholderKeys(flags: string[] | undefined): string[] {
  const files = (list: string[]) => list.flatMap((f) => f.split(',')).map((f) => f.trim()).filter(Boolean);
  if (flags && flags.length > 0) return files(flags).map((f) => readFileSync(f, 'utf8'));
  const fromFiles = files([process.env.SECAGG_KEYHOLDER_KEY_FILE ?? '']).map((f) => readFileSync(f, 'utf8'));
  const inline = process.env.SECAGG_KEYHOLDER_KEYS;
  return inline ? [...fromFiles, inline] : fromFiles;
}

/** The bearer token: flags before the environment, a file or the environment preferred (see USAGE). */
function tokenOf(values: { token?: string; 'token-file'?: string }): string {
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('give either --token or --token-file, not both');
  const envToken = process.env.SECAGG_TOKEN || undefined; // set but empty counts as unset
  const file = values['token-file'] ?? (values.token === undefined && envToken === undefined ? process.env.SECAGG_TOKEN_FILE || undefined : undefined);
  let token = values.token ?? envToken;
  if (file !== undefined) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new UsageError(`cannot read the token file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (token === '') throw new UsageError(`the token file ${file} is empty`);
  }
  if (!token) throw new UsageError('a token is required: --token-file F or SECAGG_TOKEN (or SECAGG_TOKEN_FILE, --token)');
  return token;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

function number(value: string | undefined, flag: string, check: (n: number) => boolean, why: string): number {
  const n = Number(required(value, flag));
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`${flag} ${why}, got "${value}"`);
  return n;
}

/** `10m`, `2h`, `45s`, or an ISO timestamp -> ms since the epoch. */
function parseDeadline(text: string): number {
  const relative = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text);
  if (relative) return Date.now() + Number(relative[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's']!;
  const absolute = Date.parse(text);
  if (Number.isNaN(absolute)) throw new UsageError(`--deadline must be like 30m, 2h or an ISO time, got "${text}"`);
  return absolute;
}

const STATE_NAMES: Record<number, string> = {
  [RoundState.OPEN]: 'open',
  [RoundState.CLOSED]: 'closed',
  [RoundState.RELEASED]: 'released',
  [RoundState.FAILED]: 'failed',
};

function roundJson(round: Round): Record<string, unknown> {
  return {
    round_id: round.roundId,
    state: STATE_NAMES[round.state] ?? 'unknown',
    vector_length: round.config?.vectorLength,
    min_clients: round.config?.minClients,
    max_clients: round.config?.maxClients,
    committed: round.committedCount,
    folded: round.foldedCount,
    deadline: new Date(Number(round.config?.deadlineUnixMs ?? 0)).toISOString(),
    clip_norm: round.config?.clipNorm,
    noise_multiplier: round.config?.noiseMultiplier,
    preset: round.ckks?.preset,
    ciphertexts_per_update: round.ckks?.ciphertextCount,
    bytes_per_update: (round.ckks?.ciphertextCount ?? 0) * (round.ckks?.ciphertextBytes ?? 0),
    failure_reason: round.failureReason || undefined,
    ...(round.config?.votes
      ? {
          kind: 'votes',
          votes: {
            queries: round.config.votes.queries,
            classes: round.config.votes.classes,
            shape: Object.keys(VOTE_SHAPES).find((k) => VOTE_SHAPES[k as keyof typeof VOTE_SHAPES] === round.config!.votes!.shape),
            top_k: round.config.votes.topK || undefined,
            mechanism: Object.keys(VOTE_MECHANISMS).find((k) => VOTE_MECHANISMS[k as keyof typeof VOTE_MECHANISMS] === round.config!.votes!.mechanism),
            sigma1: round.config.votes.sigma1,
            sigma2: round.config.votes.sigma2,
            threshold: round.config.votes.threshold,
            transfer_set_id: round.config.votes.transferSetId,
            transfer_set_sha256: Buffer.from(round.config.votes.transferSetSha256).toString('hex'),
          },
        }
      : {}),
  };
}

function printRounds(rounds: Round[], json: boolean, io: Io): void {
  if (json) {
    io.out(JSON.stringify(rounds.length === 1 ? roundJson(rounds[0]!) : rounds.map(roundJson)));
    return;
  }
  const rows = rounds.map((r) => {
    const j = roundJson(r);
    return [j.round_id, j.state, `${j.committed}/${j.max_clients}`, String(j.folded), String(j.vector_length), j.deadline, j.failure_reason ?? ''];
  });
  const head = ['ROUND', 'STATE', 'COMMITTED', 'FOLDED', 'LENGTH', 'DEADLINE', 'REASON'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  for (const row of [head, ...rows]) io.out(row.map((c, i) => String(c).padEnd(widths[i]!)).join('  ').trimEnd());
}

async function roundCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      ...COMMON,
      length: { type: 'string' },
      'min-clients': { type: 'string' },
      'max-clients': { type: 'string' },
      deadline: { type: 'string' },
      'clip-norm': { type: 'string' },
      'noise-multiplier': { type: 'string' },
      preset: { type: 'string' },
      encoding: { type: 'string' },
      'privacy-group': { type: 'string' },
      'sampling-rate': { type: 'string' },
      limit: { type: 'string' },
      interval: { type: 'string' },
      kind: { type: 'string' },
      queries: { type: 'string' },
      classes: { type: 'string' },
      'vote-shape': { type: 'string' },
      'top-k': { type: 'string' },
      mechanism: { type: 'string' },
      sigma1: { type: 'string' },
      sigma2: { type: 'string' },
      threshold: { type: 'string' },
      'transfer-set': { type: 'string' },
      'transfer-set-sha256': { type: 'string' },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const roundArg = () => required(positionals[0], 'the round id');
  switch (sub) {
    case 'create': {
      const encoding = values.encoding ?? '';
      if (!['', 'slots', 'coefficients'].includes(encoding)) throw new UsageError('--encoding must be slots or coefficients');
      const kind = values.kind ?? 'gradient';
      if (kind !== 'gradient' && kind !== 'votes') throw new UsageError('--kind must be gradient or votes');
      const config = kind === 'votes' ? voteRoundConfig(values, encoding) : {
        vectorLength: number(values.length, '--length', (n) => Number.isInteger(n) && n > 0, 'must be a positive integer'),
        minClients: number(values['min-clients'], '--min-clients', (n) => Number.isInteger(n) && n > 0, 'must be a positive integer'),
        maxClients: number(values['max-clients'], '--max-clients', (n) => Number.isInteger(n) && n > 0, 'must be a positive integer'),
        deadlineUnixMs: BigInt(parseDeadline(required(values.deadline, '--deadline'))),
        clipNorm: number(values['clip-norm'], '--clip-norm', (n) => n > 0, 'must be > 0'),
        noiseMultiplier: number(values['noise-multiplier'], '--noise-multiplier', (n) => n > 0, 'must be > 0'),
        preset: values.preset ?? '',
        encoding: encoding === 'coefficients' ? Encoding.COEFFICIENTS : encoding === 'slots' ? Encoding.SLOTS : Encoding.UNSPECIFIED,
        privacyGroup: values['privacy-group'] ?? '',
        samplingRate:
          values['sampling-rate'] === undefined
            ? 0
            : number(values['sampling-rate'], '--sampling-rate', (n) => n > 0 && n <= 1, 'must be in (0, 1]'),
      };
      await withClient(connect(values), async (client) => {
        const { round, privacy } = await client.createRoundWithPrivacy(config);
        const cost = privacyCostJson(privacy);
        if (values.json) io.out(JSON.stringify({ ...roundJson(round), privacy: cost }, finiteOrText));
        else {
          printRounds([round], false, io);
          io.out(
            `privacy: this round costs epsilon ${fmt(privacy.roundEpsilon)}; group "${privacy.privacyGroup}" reaches ${fmt(privacy.groupEpsilonAfter)} ` +
              `of its budget ${fmt(privacy.epsilonBudget)} at delta ${privacy.delta}; flooding margin ${privacy.floodingMarginBits.toFixed(1)} bits`,
          );
        }
      });
      return 0;
    }
    case 'list':
    case 'status':
    case 'close': {
      await withClient(connect(values), async (client) => {
        const rounds =
          sub === 'list'
            ? await client.listRounds(values.limit ? number(values.limit, '--limit', (n) => n > 0 && n <= 1000, 'must be 1..1000') : 50)
            : [sub === 'status' ? await client.getRoundStatus(roundArg()) : await client.closeRound(roundArg())];
        printRounds(rounds, values.json ?? false, io);
      });
      return 0;
    }
    case 'watch':
      return watchRound(roundArg(), values, io);
    default:
      throw new UsageError(`round needs a subcommand: create, list, status, watch or close`);
  }
}

const VOTE_MECHANISMS = { 'noisy-histogram': VoteMechanism.NOISY_HISTOGRAM, gnmax: VoteMechanism.GNMAX, 'confident-gnmax': VoteMechanism.CONFIDENT_GNMAX } as const;
const VOTE_SHAPES = { 'one-hot': VoteShape.ONE_HOT, 'top-k': VoteShape.TOP_K, soft: VoteShape.SOFT } as const;

/** The RoundConfig of `secagg round create --kind votes …`; the keyholder checks the rest (checkVoteConfig). */
function voteRoundConfig(values: Record<string, string | boolean | undefined>, encoding: string) {
  const text = (flag: string) => values[flag] as string | undefined;
  const positiveInt = (flag: string) => number(text(flag), `--${flag}`, (n) => Number.isInteger(n) && n > 0, 'must be a positive integer');
  if (text('length') !== undefined || text('clip-norm') !== undefined || text('noise-multiplier') !== undefined || text('sampling-rate') !== undefined) {
    throw new UsageError('a vote round takes --queries and --classes (its length is their product) and --sigma1/--sigma2, not --length, --clip-norm, --noise-multiplier or --sampling-rate');
  }
  const mechanism = VOTE_MECHANISMS[required(text('mechanism'), '--mechanism') as keyof typeof VOTE_MECHANISMS];
  if (mechanism === undefined) throw new UsageError(`--mechanism must be one of ${Object.keys(VOTE_MECHANISMS).join(', ')}`);
  const shape = VOTE_SHAPES[(text('vote-shape') ?? 'one-hot') as keyof typeof VOTE_SHAPES];
  if (shape === undefined) throw new UsageError(`--vote-shape must be one of ${Object.keys(VOTE_SHAPES).join(', ')}`);
  const digest = required(text('transfer-set-sha256'), '--transfer-set-sha256');
  if (!/^[0-9a-fA-F]{64}$/.test(digest)) throw new UsageError('--transfer-set-sha256 must be 64 hex digits');
  const queries = positiveInt('queries');
  const classes = positiveInt('classes');
  const optional = (flag: string) => (text(flag) === undefined ? 0 : number(text(flag), `--${flag}`, (n) => n >= 0, 'must be >= 0'));
  return {
    kind: RoundKind.VOTES,
    vectorLength: queries * classes,
    minClients: positiveInt('min-clients'),
    maxClients: positiveInt('max-clients'),
    deadlineUnixMs: BigInt(parseDeadline(required(text('deadline'), '--deadline'))),
    preset: text('preset') ?? '',
    encoding: encoding === 'coefficients' ? Encoding.COEFFICIENTS : encoding === 'slots' ? Encoding.SLOTS : Encoding.UNSPECIFIED,
    privacyGroup: text('privacy-group') ?? '',
    votes: {
      queries,
      classes,
      shape,
      topK: shape === VoteShape.TOP_K ? positiveInt('top-k') : 0,
      mechanism,
      sigma1: optional('sigma1'),
      sigma2: number(text('sigma2'), '--sigma2', (n) => n > 0, 'must be > 0'),
      threshold: optional('threshold'),
      transferSetId: required(text('transfer-set'), '--transfer-set'),
      transferSetSha256: Buffer.from(digest, 'hex'),
    },
  };
}

/**
 * `secagg round watch R`: one line per change until the round is released
 * or fails (exit 0 / 1): state, committed and folded updates, time to the
 * deadline. With --json, one JSON object per line.
 */
async function watchRound(
  roundId: string,
  values: { gateway?: string; token?: string; ca?: string; insecure?: boolean; json?: boolean; interval?: string },
  io: Io,
): Promise<number> {
  const intervalMs = values.interval ? number(values.interval, '--interval', (n) => n >= 100, 'must be at least 100 (ms)') : 1_000;
  return withClient(connect(values), async (client) => {
    let last = '';
    for (;;) {
      const round = await client.getRoundStatus(roundId);
      const j = roundJson(round);
      const deadline = Number(round.config?.deadlineUnixMs ?? 0);
      const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      const line = values.json
        ? JSON.stringify({ ...j, seconds_to_deadline: left, at: new Date().toISOString() })
        : `${new Date().toISOString().slice(11, 19)}  ${String(j.state).padEnd(8)} committed ${j.committed}/${j.max_clients} (min ${j.min_clients})  folded ${j.folded}/${j.committed}` +
          (round.state === RoundState.OPEN ? `  deadline in ${formatSeconds(left)}` : '') +
          (j.failure_reason ? `  reason: ${j.failure_reason}` : '');
      const key = `${j.state}/${j.committed}/${j.folded}/${round.state === RoundState.OPEN ? Math.floor(left / 10) : ''}`;
      if (key !== last || values.json) io.out(line);
      last = key;
      if (round.state === RoundState.RELEASED) return 0;
      if (round.state === RoundState.FAILED) return 1;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  });
}

function formatSeconds(seconds: number): string {
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${seconds}s`;
}

/** JSON has no Infinity: a noise-free (test-only) release reports "Infinity" as text. */
function finiteOrText(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(4) : String(x);
}

function privacyCostJson(p: PrivacyCost): Record<string, unknown> {
  return {
    privacy_group: p.privacyGroup,
    round_epsilon: p.roundEpsilon,
    group_epsilon_after: p.groupEpsilonAfter,
    epsilon_budget: p.epsilonBudget,
    delta: p.delta,
    noise_sigma: p.noiseSigma,
    grid_step: p.gridStep,
    l2_sensitivity: p.l2Sensitivity,
    accounting_noise_multiplier: p.accountingNoiseMultiplier,
    sampling_rate: p.samplingRate,
    adjacency: p.adjacency === Adjacency.REPLACE_ONE ? 'replace-one' : 'add-remove',
    decryption_error_bound: p.decryptionErrorBound,
    flooding_margin_bits: p.floodingMarginBits,
  };
}

function budgetJson(b: PrivacyBudget): Record<string, unknown> {
  return {
    privacy_group: b.privacyGroup,
    epsilon_budget: b.epsilonBudget,
    delta: b.delta,
    epsilon_spent: b.epsilonSpent,
    epsilon_remaining: b.epsilonRemaining,
    explicitly_set: b.explicitlySet,
    releases: b.releases.map((r) => ({
      round_id: r.roundId,
      epsilon: r.epsilon,
      delta: r.delta,
      noise_multiplier: r.accountingNoiseMultiplier,
      sampling_rate: r.samplingRate,
      charged: new Date(Number(r.chargedUnixMs)).toISOString(),
    })),
  };
}

/** `secagg privacy budget [--group G]` and `secagg privacy set-budget [--group G] --epsilon E [--delta D]`. */
async function budgetCommand(sub: 'budget' | 'set-budget', argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON, group: { type: 'string' }, epsilon: { type: 'string' }, delta: { type: 'string' } },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const group = values.group ?? '';
  if (sub === 'budget' && (values.epsilon !== undefined || values.delta !== undefined)) {
    throw new UsageError('privacy budget only shows a budget; use privacy set-budget --epsilon E to change it');
  }
  const epsilon = sub === 'set-budget' ? number(values.epsilon, '--epsilon', (n) => n > 0, 'must be a finite number > 0') : 0;
  const delta = sub === 'set-budget' && values.delta !== undefined ? number(values.delta, '--delta', (n) => n > 0 && n < 1, 'must be in (0, 1)') : 0;
  await withClient(connect(values), async (client) => {
    const budget = sub === 'budget' ? await client.getPrivacyBudget(group) : await client.setPrivacyBudget(group, epsilon, delta);
    if (values.json) {
      io.out(JSON.stringify(budgetJson(budget), finiteOrText));
      return 0;
    }
    io.out(
      `privacy group "${budget.privacyGroup}": spent epsilon ${fmt(budget.epsilonSpent)} of ${fmt(budget.epsilonBudget)} at delta ${budget.delta} ` +
        `(remaining ${fmt(budget.epsilonRemaining)}; ${budget.explicitlySet ? 'budget set by a coordinator' : "the keyholder's default budget"}), ` +
        `${budget.releases.length} release${budget.releases.length === 1 ? '' : 's'}`,
    );
    if (budget.releases.length > 0) {
      const rows = budget.releases.map((r) => [r.roundId, fmt(r.epsilon), fmt(r.accountingNoiseMultiplier), String(r.samplingRate), new Date(Number(r.chargedUnixMs)).toISOString()]);
      const head = ['ROUND', 'EPSILON', 'NOISE_MULTIPLIER', 'SAMPLING_RATE', 'CHARGED'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [head, ...rows]) io.out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
    }
  });
  return 0;
}

async function submitCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON, round: { type: 'string' }, file: { type: 'string' }, 'update-id': { type: 'string' }, 'keyholder-key': { type: 'string', multiple: true } },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const roundId = required(values.round, '--round');
  const { values: vector } = readVector(required(values.file, '--file'));
  const started = Date.now();
  await withClient(connect(values, pinnedKeyholderKeys(values['keyholder-key'])), async (client) => {
    const result = await client.submitUpdate(roundId, vector, {
      updateId: values['update-id'],
      onClip: ({ originalNorm, clipNorm, clipped }) => {
        if (!values.json) {
          io.err(clipped
            ? `clipped: L2 norm ${originalNorm.toPrecision(6)} scaled down to the round's clip norm ${clipNorm}`
            : `not clipped: L2 norm ${originalNorm.toPrecision(6)} <= clip norm ${clipNorm}`);
        }
      },
      onProgress: values.json
        ? undefined
        : ((bar) => (p: { ciphertextsSent: number; ciphertextCount: number; bytesSent: number; attempt: number }) =>
            bar(p.ciphertextsSent, p.ciphertextCount, p.bytesSent, p.attempt))(progressBar(io)),
    });
    const seconds = (Date.now() - started) / 1000;
    const summary = {
      round_id: roundId,
      update_id: result.updateId,
      client_id: result.receipt.clientId,
      ciphertexts: result.receipt.ciphertextCount,
      bytes: result.bytesSent,
      bytes_per_value: result.bytesSent / vector.length,
      clipped: result.clipped,
      original_norm: result.originalNorm,
      seconds,
      attempts: result.attempts,
      sha256: Buffer.from(result.receipt.sha256).toString('hex'),
    };
    if (values.json) io.out(JSON.stringify(summary));
    else io.out(`committed update ${summary.update_id} to ${roundId}: ${summary.ciphertexts} ciphertexts, ${(summary.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s (receipt sha256 ${summary.sha256.slice(0, 16)}…)`);
  });
  return 0;
}

/** `secagg votes submit --round R --file votes.npy`: one teacher's votes, checked against the round's vote shape, encrypted. */
async function votesSubmitCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      round: { type: 'string' },
      file: { type: 'string' },
      'update-id': { type: 'string' },
      'transfer-set-sha256': { type: 'string' },
      'keyholder-key': { type: 'string', multiple: true },
    },
  });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const roundId = required(values.round, '--round');
  const digest = values['transfer-set-sha256'];
  if (digest !== undefined && !/^[0-9a-fA-F]{64}$/.test(digest)) throw new UsageError('--transfer-set-sha256 must be 64 hex digits');
  const { values: votes } = readVector(required(values.file, '--file'));
  await withClient(connect(values, pinnedKeyholderKeys(values['keyholder-key'])), async (client) => {
    const result = await client.submitVotes(roundId, votes, {
      updateId: values['update-id'],
      ...(digest ? { transferSetSha256: Buffer.from(digest, 'hex') } : {}),
    });
    const summary = {
      round_id: roundId,
      update_id: result.updateId,
      client_id: result.receipt.clientId,
      ciphertexts: result.receipt.ciphertextCount,
      bytes: result.bytesSent,
      clipped_queries: result.clippedQueries,
      attempts: result.attempts,
      sha256: Buffer.from(result.receipt.sha256).toString('hex'),
    };
    if (values.json) io.out(JSON.stringify(summary));
    else io.out(`committed votes ${summary.update_id} to ${roundId}: ${summary.ciphertexts} ciphertexts (receipt sha256 ${summary.sha256.slice(0, 16)}…)`);
  }).catch((error: unknown) => {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  });
  return 0;
}

/**
 * A progress line on stderr (never stdout, which scripts parse): a bar, items
 * done of total, bytes, rate and ETA, at most five times a second. When
 * stderr is a terminal the line redraws in place.
 */
function progressBar(io: Io, unit = 'ciphertexts') {
  const started = Date.now();
  let last = 0;
  const tty = process.stderr.isTTY && io.err === console.error;
  return (done: number, total: number, bytes: number, attempt: number) => {
    const now = Date.now();
    if (now - last < 200 && done < total) return;
    last = now;
    const fraction = total > 0 ? done / total : 1;
    const seconds = Math.max(1, now - started) / 1000;
    const rate = bytes / seconds / 1e6;
    const eta = fraction > 0 ? seconds / fraction - seconds : 0;
    const bar = '#'.repeat(Math.round(fraction * 30)).padEnd(30, '.');
    const line = `[${bar}] ${done}/${total} ${unit}  ${(bytes / 1e6).toFixed(1)} MB  ${rate.toFixed(1)} MB/s  ETA ${eta.toFixed(0)} s${attempt > 1 ? `  (attempt ${attempt})` : ''}`;
    if (tty) process.stderr.write(`\r${line}${done >= total ? '\n' : ''}`);
    else io.err(line);
  };
}

async function resultCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, round: { type: 'string' }, out: { type: 'string' }, sum: { type: 'boolean' }, labels: { type: 'boolean' } } });
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const roundId = required(values.round, '--round');
  const out = required(values.out, '--out');
  await withClient(connect(values), async (client) => {
    const bar = values.json ? undefined : progressBar(io, 'values');
    const result = await client.getResult(roundId, bar && ((received, total) => bar(received, total, received * 8, 1)));
    const h = result.header;
    if (values.labels) {
      const labels = releasedLabels(h, result.sum);
      writeVector(out, Float64Array.from(labels));
      const summary = { round_id: roundId, out, wrote: 'labels', queries: labels.length, answered: h.votes!.answeredCount, abstained: h.votes!.abstainedCount, epsilon: h.epsilonSpent, delta: h.delta };
      if (values.json) io.out(JSON.stringify(summary));
      else io.out(`wrote ${labels.length} labels to ${out} (${summary.answered} answered, ${summary.abstained} abstained as -1); epsilon ${h.epsilonSpent.toPrecision(4)} at delta ${h.delta}`);
      return 0;
    }
    writeVector(out, values.sum ? result.sum : result.mean);
    const summary = {
      round_id: roundId,
      out,
      wrote: values.sum ? 'sum' : 'mean',
      values: h.vectorLength,
      contributions: h.contributionCount,
      noise_sigma: h.noiseSigma,
      mean_noise_sigma: h.noiseSigma / h.contributionCount,
      epsilon: h.epsilonSpent,
      delta: h.delta,
    };
    if (values.json) io.out(JSON.stringify(summary));
    else io.out(`wrote the ${summary.wrote} of ${summary.contributions} updates (${summary.values} values) to ${out}; noise sigma ${h.noiseSigma} on the sum, epsilon ${h.epsilonSpent.toPrecision(4)} at delta ${h.delta}`);
  });
  return 0;
}

async function tokenCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'keygen') return tokenKeygen(rest, io);
  if (sub !== 'mint') throw new UsageError('token needs a subcommand: keygen or mint');
  const { values } = parseArgs({
    args: rest,
    options: { 'signing-key': { type: 'string' }, subject: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string' }, round: { type: 'string' }, json: { type: 'boolean' } },
  });
  const role = required(values.role, '--role');
  if (!ROLES.includes(role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  const ttl = values.ttl ?? '1h';
  const ttlMatch = /^(\d+)(s|m|h|d)$/.exec(ttl);
  if (!ttlMatch) throw new UsageError(`--ttl must be like 30m, 12h or 7d, got "${ttl}"`);
  const ttlSeconds = Number(ttlMatch[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[ttlMatch[2] as 's']!;
  if (ttlSeconds > DEFAULT_MAX_TOKEN_LIFETIME_SECONDS) {
    throw new UsageError(`--ttl ${ttl} exceeds the maximum token lifetime ${DEFAULT_MAX_TOKEN_LIFETIME_SECONDS / 3600}h: the gateway refuses longer-lived tokens (mint a new one when it expires)`);
  }
  const token = await mintToken(readFileSync(required(values['signing-key'], '--signing-key'), 'utf8'), {
    subject: required(values.subject, '--subject'),
    role: role as Role,
    ttlSeconds,
    round: values.round,
  });
  io.out(values.json ? JSON.stringify({ token }) : token);
  return 0;
}

async function tokenKeygen(argv: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { 'out-private': { type: 'string' }, 'out-public': { type: 'string' } } });
  const privatePath = required(values['out-private'], '--out-private');
  const publicPath = required(values['out-public'], '--out-public');
  const { privateKeyPem, publicKeyPem } = await generateSigningKeyPair();
  writeFileSync(privatePath, privateKeyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(publicPath, publicKeyPem, { flag: 'wx' });
  io.out(`wrote the token signing key to ${privatePath} (keep it secret) and its public key to ${publicPath} (GATEWAY_TOKEN_PUBLIC_KEY_FILE)`);
  return 0;
}

/** `secagg keyholder keygen`: the keyholder's long-lived Ed25519 round-signing key pair. */
function keyholderCommand(argv: string[], io: Io): number {
  const [sub, ...rest] = argv;
  if (sub !== 'keygen') throw new UsageError('keyholder needs a subcommand: keygen');
  const { values } = parseArgs({ args: rest, options: { 'out-private': { type: 'string' }, 'out-public': { type: 'string' }, json: { type: 'boolean' } } });
  const privatePath = required(values['out-private'], '--out-private');
  const publicPath = required(values['out-public'], '--out-public');
  const privateKeyPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const signer = RoundSigner.fromPem(privateKeyPem);
  // wx: never overwrite a signing key clients may already pin.
  writeFileSync(privatePath, privateKeyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(publicPath, signer.verificationKeyPem, { flag: 'wx' });
  if (values.json) io.out(JSON.stringify({ key_id: signer.keyId, private: privatePath, public: publicPath }));
  else {
    io.out(
      `wrote the keyholder signing key ${signer.keyId} to ${privatePath} (keep it secret: KEYHOLDER_SIGNING_KEY_FILE) and its ` +
        `verification key to ${publicPath} (publish it: clients pin it with --keyholder-key / SECAGG_KEYHOLDER_KEY_FILE)`,
    );
  }
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/secagg')) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
