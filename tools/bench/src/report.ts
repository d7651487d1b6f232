/**
 * The benchmark's machine-readable result (`bench/results/latest.json`) and
 * its consistency check. Every figure and every limit is a {@link Measure};
 * every ratio names one figure and one limit and equals figure / limit, so a
 * reader can recompute it, and {@link checkReport} does.
 */

/** Identifies this JSON layout; bump on incompatible changes. */
export const REPORT_SCHEMA = 'secagg-bench/2';

/** One measured number. */
export interface Measure {
  value: number;
  /** e.g. `MB/s` (10^6 bytes), `values/s`, `s`, `B`, `B/value`. */
  unit: string;
  /** What was measured and how, in one sentence. */
  description: string;
  /**
   * For measures taken in several trials: every trial's value; `value` is
   * their median. Limits and the system figures judged against them are
   * sampled the same way — trials interleaved, median reported — so neither
   * side is flattered by a lucky trial; min and max of the samples are the
   * spread.
   */
  samples?: number[];
}

/** A system figure divided by a limit measured in the same run. */
export interface Ratio {
  /** `<configuration id>/<figure key>`. */
  figure: string;
  /** A key of {@link BenchReport.limits}. */
  limit: string;
  /** figure.value / limit.value. */
  value: number;
}

/** One preset × encoding, measured as a whole round on a local cluster. */
export interface ConfigurationReport {
  /** `<preset>/<encoding>`, e.g. `n4096-q54/coefficients`. */
  id: string;
  /** `system`: the project's preset; `baseline`: the common peer setup, for comparison. */
  role: 'system' | 'baseline';
  preset: string;
  encoding: string;
  /** False when this encoding is not supported by @secagg/ckks (detected by trying); figures are then empty. */
  available: boolean;
  unavailableReason?: string;
  /** The rounds' noise multiplier z (σ = z·C); raised above the requested one when the keyholder asked for more flooding margin. */
  noiseMultiplier?: number;
  /** 1-minute load average before and after this configuration's rounds: how much the machine was shared. */
  loadAverage1m?: [number, number];
  /**
   * `cluster` (default): rounds on a local cluster. `node-seal`: a bench-local
   * parameter set that is not a product preset (a peer's setup reproduced with
   * node-seal), measured in this process only: bytes, encrypt, load+add.
   */
  measuredOn?: 'cluster' | 'node-seal';
  /** The round's CKKS parameters as the keyholder chose them. */
  ckks?: { scaleBits: number; valuesPerCiphertext: number; ciphertextBytes: number; ciphertextCount: number };
  figures: Record<string, Measure>;
}

/** One goal of the issue, evaluated on this run. */
export interface GoalReport {
  id: string;
  description: string;
  comparison: '<=' | '>=';
  target: number;
  /** The ratio or figure the goal is judged on (`<configuration id>/<figure key>`, or a ratio's `figure ÷ limit`). */
  judgedOn: string;
  /** Undefined when not measured in this run (e.g. encoding unavailable, or a length below the goal's). */
  value?: number;
  met?: boolean;
  note: string;
}

export interface BenchReport {
  schema: typeof REPORT_SCHEMA;
  timestamp: string;
  mode: 'quick' | 'default' | 'memory';
  wallSeconds: number;
  parameters: Record<string, string | number | boolean | string[]>;
  versions: Record<string, string>;
  machine: Record<string, string | number | number[]>;
  limits: Record<string, Measure>;
  /** The commit measured and whether the working tree was clean (tracked files) when the run started. */
  source: { secaggCommit: string; treeClean: boolean };
  configurations: ConfigurationReport[];
  /**
   * The headline ratios of issue 11, by name (e.g. `foldToSealLoadAdd`,
   * `ingestToGrpcTls`, `redisBytesPerValue`), each computed in this run: a
   * script reads these. Each equals the ratio (or figure) its
   * {@link BenchReport.ratioSources} entry names.
   */
  ratios: Record<string, number>;
  /** For each key of `ratios`: the `figure ÷ limit` ratio of {@link ratioTable} or the figure it is. */
  ratioSources: Record<string, string>;
  /** Every figure ÷ limit pair measured in this run. */
  ratioTable: Ratio[];
  goals: GoalReport[];
  notes: string[];
}

/** The median of a measure's trials (mean of the middle two for an even count): its value. */
export function medianOf(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Relative tolerance of the ratio check (ratios are computed, not rounded). */
const RATIO_TOLERANCE = 1e-9;

/** The figure a `<configuration id>/<figure key>` reference names, if any. */
export function figureOf(report: Pick<BenchReport, 'configurations'>, reference: string): Measure | undefined {
  const cut = reference.lastIndexOf('/');
  const configuration = report.configurations.find((c) => c.id === reference.slice(0, cut));
  return configuration?.figures[reference.slice(cut + 1)];
}

/** Builds ratio entries for every (figure, limit) pair where both were measured. */
export function ratiosFor(
  report: Pick<BenchReport, 'configurations' | 'limits'>,
  pairs: readonly { figure: string; limit: string }[],
): Ratio[] {
  const ratios: Ratio[] = [];
  for (const { figure, limit } of pairs) {
    const f = figureOf(report, figure);
    const l = report.limits[limit];
    if (f === undefined || l === undefined || l.value === 0) continue;
    ratios.push({ figure, limit, value: f.value / l.value });
  }
  return ratios;
}

/** The separator of a ratio reference `<figure> ÷ <limit>` in {@link GoalReport.judgedOn}. */
export const RATIO_SEPARATOR = ' ÷ ';

/** The value a goal's `judgedOn` names: a ratio (`figure ÷ limit`) or a figure. */
export function judgedValue(report: Pick<BenchReport, 'configurations' | 'ratioTable'>, judgedOn: string): number | undefined {
  const [figure, limit] = judgedOn.split(RATIO_SEPARATOR);
  if (limit !== undefined) return report.ratioTable.find((r) => r.figure === figure && r.limit === limit)?.value;
  return figureOf(report, judgedOn)?.value;
}

function checkMeasure(where: string, m: unknown, problems: string[]): void {
  const measure = m as Partial<Measure> | null;
  if (measure === null || typeof measure !== 'object') {
    problems.push(`${where}: not an object`);
    return;
  }
  if (typeof measure.value !== 'number' || !Number.isFinite(measure.value)) problems.push(`${where}: value ${String(measure.value)} is not finite`);
  if (typeof measure.unit !== 'string' || measure.unit === '') problems.push(`${where}: no unit`);
  if (typeof measure.description !== 'string' || measure.description === '') problems.push(`${where}: no description`);
  if (measure.samples !== undefined) {
    if (!Array.isArray(measure.samples) || measure.samples.length === 0 || !measure.samples.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      problems.push(`${where}: samples must be finite numbers`);
    } else if (measure.value !== medianOf(measure.samples)) {
      problems.push(`${where}: value ${String(measure.value)} is not the median of its samples`);
    }
  }
}

/**
 * Problems with `value` as a {@link BenchReport}: shape, every figure and
 * limit finite, every ratio equal to figure / limit, every goal consistent
 * with its ratio or figure. Empty when the report is sound.
 */
export function checkReport(value: unknown): string[] {
  const problems: string[] = [];
  const report = value as Partial<BenchReport> | null;
  if (report === null || typeof report !== 'object') return ['the report is not an object'];
  if (report.schema !== REPORT_SCHEMA) problems.push(`schema ${String(report.schema)} != ${REPORT_SCHEMA}`);
  if (typeof report.timestamp !== 'string' || Number.isNaN(Date.parse(report.timestamp))) problems.push('timestamp is not a date');
  if (report.mode !== 'quick' && report.mode !== 'default' && report.mode !== 'memory') problems.push(`mode ${String(report.mode)}`);
  if (typeof report.wallSeconds !== 'number' || !(report.wallSeconds > 0)) problems.push('wallSeconds is not a positive number');
  for (const key of ['parameters', 'versions', 'machine', 'limits', 'source', 'ratios', 'ratioSources'] as const) {
    if (report[key] === null || typeof report[key] !== 'object') problems.push(`${key} is missing`);
  }
  for (const key of ['configurations', 'ratioTable', 'goals', 'notes'] as const) {
    if (!Array.isArray(report[key])) problems.push(`${key} is not an array`);
  }
  if (problems.length > 0) return problems;
  const r = report as BenchReport;
  for (const [id, limit] of Object.entries(r.limits)) {
    checkMeasure(`limit ${id}`, limit, problems);
    if (typeof limit.value === 'number' && !(limit.value > 0)) problems.push(`limit ${id}: ${limit.value} is not positive`);
  }
  const ids = new Set<string>();
  for (const c of r.configurations) {
    if (ids.has(c.id)) problems.push(`configuration ${c.id} appears twice`);
    ids.add(c.id);
    if (c.id !== `${c.preset}/${c.encoding}`) problems.push(`configuration id ${c.id} != preset/encoding`);
    if (c.available && Object.keys(c.figures).length === 0) problems.push(`configuration ${c.id} is available but has no figures`);
    if (!c.available && (typeof c.unavailableReason !== 'string' || c.unavailableReason === '')) {
      problems.push(`configuration ${c.id} is unavailable without a reason`);
    }
    for (const [key, figure] of Object.entries(c.figures)) checkMeasure(`figure ${c.id}/${key}`, figure, problems);
  }
  for (const ratio of r.ratioTable) {
    const figure = figureOf(r, ratio.figure);
    const limit = r.limits[ratio.limit];
    if (!figure) problems.push(`ratio names an unknown figure ${ratio.figure}`);
    if (!limit) problems.push(`ratio names an unknown limit ${ratio.limit}`);
    if (!figure || !limit) continue;
    const expected = figure.value / limit.value;
    if (!Number.isFinite(ratio.value) || Math.abs(ratio.value - expected) > RATIO_TOLERANCE * Math.abs(expected)) {
      problems.push(`ratio ${ratio.figure} ÷ ${ratio.limit} = ${ratio.value}, expected ${expected}`);
    }
  }
  if (typeof r.source.secaggCommit !== 'string' || r.source.secaggCommit === '' || typeof r.source.treeClean !== 'boolean') {
    problems.push('source must name the commit and whether the tree was clean');
  }
  for (const [key, value] of Object.entries(r.ratios)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || !(value > 0)) problems.push(`ratios.${key} = ${String(value)} is not a finite positive number`);
    const sourceOf = r.ratioSources[key];
    const judged = sourceOf === undefined ? undefined : judgedValue(r, sourceOf);
    if (judged === undefined) problems.push(`ratios.${key} has no source the report holds (${String(sourceOf)})`);
    else if (judged !== value) problems.push(`ratios.${key} = ${value} != ${sourceOf} = ${judged}`);
  }
  for (const goal of r.goals) {
    if (goal.value === undefined) {
      if (goal.met !== undefined) problems.push(`goal ${goal.id} is judged without a value`);
      continue;
    }
    if (!Number.isFinite(goal.value)) problems.push(`goal ${goal.id}: value is not finite`);
    const judged = judgedValue(r, goal.judgedOn);
    if (judged === undefined) problems.push(`goal ${goal.id} is judged on ${goal.judgedOn}, which the report does not hold`);
    else if (judged !== goal.value) problems.push(`goal ${goal.id}: value ${goal.value} != ${goal.judgedOn} = ${judged}`);
    const met = goal.comparison === '<=' ? goal.value <= goal.target : goal.value >= goal.target;
    if (goal.met !== met) problems.push(`goal ${goal.id}: met = ${String(goal.met)} but ${goal.value} ${goal.comparison} ${goal.target} is ${met}`);
  }
  return problems;
}
