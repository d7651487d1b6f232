/** The human-readable form of a {@link BenchReport}: markdown tables for the terminal and for issue notes. */
import type { BenchReport, ConfigurationReport, Measure } from './report.js';

const MiB = 2 ** 20;

function formatValue(m: Measure | undefined): string {
  if (m === undefined) return 'n/a';
  const v = m.value;
  switch (m.unit) {
    case 'values/s':
      return `${(v / 1e6).toFixed(2)} M values/s`;
    case 'MB/s':
      return `${v.toFixed(1)} MB/s`;
    case 's':
      return `${v.toFixed(2)} s`;
    case 'B':
      return `${(v / MiB).toFixed(0)} MiB`;
    case 'B/value':
      return `${v.toFixed(2)} B/value`;
    case 'count':
      return String(v);
    default:
      return `${v.toPrecision(3)} ${m.unit}`;
  }
}

/** The range of a limit's trials, in its unit: how noisy the machine was. */
function spread(m: Measure): string {
  if (m.samples === undefined || m.samples.length < 2) return '';
  const lo = formatValue({ ...m, value: Math.min(...m.samples) });
  const hi = formatValue({ ...m, value: Math.max(...m.samples) });
  return `${lo} – ${hi}`;
}

function limitName(key: string): string {
  const grpc = /^grpc\.(tls|plaintext)\.(default|raised)Window\.(\d+)B$/.exec(key);
  if (grpc) return `grpc-js client streaming, ${grpc[1] === 'tls' ? 'TLS' : 'plaintext'}, ${grpc[2]} HTTP/2 window, ${Number(grpc[3]).toLocaleString('en')} B messages`;
  const redis = /^redis\.set\.(shipped|noPersistence)\.(\d+)B\.(\d+)inFlight$/.exec(key);
  if (redis) {
    return `Redis SET ${Number(redis[2]).toLocaleString('en')} B, ${redis[1] === 'shipped' ? 'shipped config (AOF always)' : 'no persistence'}, ${redis[3]} in flight`;
  }
  const per = /^(seal\.encrypt\.engine|seal\.encrypt\.bare|seal\.loadAdd|js\.addCiphertextInto|js\.validateCiphertext)\.(.+)$/.exec(key);
  if (per) {
    const what = {
      'seal.encrypt.engine': 'encrypt, the engine path (range check, encode, SEAL encrypt, save)',
      'seal.encrypt.bare': "SEAL's bare encrypt (pre-encoded plaintext)",
      'seal.loadAdd': 'node-seal load+add (> CPU caches)',
      'js.addCiphertextInto': 'addCiphertextInto (JS add)',
      'js.validateCiphertext': 'validateCiphertext',
    }[per[1]!];
    return `${what}, ${per[2]}`;
  }
  if (key === 'plain.float32Sum') return 'plain Float32Array sum';
  return key;
}

const LIMIT_SHORT: [RegExp, string][] = [
  [/^grpc\.tls\.defaultWindow/, 'gRPC TLS'],
  [/^grpc\.tls\.raisedWindow/, 'gRPC TLS 4 MiB window'],
  [/^grpc\.plaintext\.defaultWindow/, 'gRPC plaintext'],
  [/^grpc\.plaintext\.raisedWindow/, 'gRPC plaintext 4 MiB window'],
  [/^redis\.set\.shipped\.\d+B\.8inFlight$/, 'Redis SET AOF always, 8 in flight'],
  [/^redis\.set\.shipped\.\d+B\.\d+inFlight$/, 'Redis SET AOF always, as many in flight as the gateway'],
  [/^js\.validateCiphertext/, 'validate'],
  [/^seal\.encrypt\.engine/, 'engine encrypt'],
  [/^seal\.encrypt\.bare/, 'SEAL bare encrypt'],
  [/^seal\.loadAdd/, 'SEAL load+add'],
  [/^js\.addCiphertextInto/, 'JS add'],
  [/^plain\.float32Sum/, 'float32 sum'],
];

function shortLimit(key: string): string {
  return LIMIT_SHORT.find(([re]) => re.test(key))?.[1] ?? key;
}

/** Figure rows of the system table: key, label. */
const ROWS: [string, string][] = [
  ['bytesPerValue', 'bytes per value on the wire'],
  ['clientEncryptValuesPerSec', 'client encrypt (SDK, calling thread)'],
  ['clientEncryptPoolValuesPerSec', 'client encrypt (SDK default: worker threads)'],
  ['clientEncryptPoolValuesPerSecPerCore', 'client encrypt per core (SDK default)'],
  ['ingestMBps', 'gateway acknowledged ingest (pre-encrypted)'],
  ['ingestValuesPerSec', 'gateway acknowledged ingest, values'],
  ['foldValuesPerSec1Aggregator', 'fold, 1 aggregator (committed → durably folded)'],
  ['foldValuesPerSec2Aggregators', 'fold, 2 aggregators'],
  ['foldMBps1', 'fold, 1 aggregator, update bytes'],
  ['foldMBps2', 'fold, 2 aggregators, update bytes'],
  ['loadAddValuesPerSec', 'SEAL load (zstd) + add of the wire form'],
  ['loadAddNoneValuesPerSec', 'SEAL load + add, uncompressed'],
  ['releaseSeconds', 'release (folded → result downloaded)'],
  ['bytesPerValueFullNone', 'bytes per value, full ciphertext, no compression'],
  ['bytesPerValueSeededNone', 'bytes per value, seeded form, no compression'],
  ['e2eRoundSeconds', 'end-to-end round (S clients × L values)'],
  ['e2eIngestMBps', 'end-to-end ingest (clients encrypting)'],
  ['e2eFoldLagSeconds', 'end-to-end: last receipt → all folded'],
  ['e2eReleaseSeconds', 'end-to-end: all folded → result downloaded'],
  ['releasedMaxAbsDeviation', 'released max |deviation| from true sum'],
  ['peakRss.client', 'peak RSS, client process'],
  ['peakRss.client-gateway', 'peak RSS, gateway'],
  ['peakRss.aggregator-1', 'peak RSS, aggregator-1'],
  ['peakRss.aggregator-2', 'peak RSS, aggregator-2'],
  ['peakRss.keyholder', 'peak RSS, keyholder'],
  ['peakRss.redis-server', 'peak RSS, redis-server'],
  ['peakRssMax', 'peak RSS, largest process'],
  ['redisUsedMemoryPeakBytes', 'Redis used_memory_peak'],
  ['redisBytesPerValue', 'Redis bytes in + out per value uploaded'],
  ['redisInputBytesPerValue', 'Redis bytes in per value uploaded'],
  ['redisOutputBytesPerValue', 'Redis bytes out per value uploaded'],
  ['redisResultBytesPerValue', "of which the released result's record (stored + read by one download)"],
  ['redisBytesPerValueExcludingResult', "Redis bytes per value without the released result's record"],
  ['redisBytesPerValueIsolatedRounds', 'Redis bytes in + out per value, isolated rounds'],
  ['redisAofRewrites', 'Redis AOF rewrites during the rounds'],
];

function cell(report: BenchReport, c: ConfigurationReport, key: string): string {
  if (!c.available) return key === 'bytesPerValue' ? `unavailable` : '';
  if (c.figures[key] === undefined) return '';
  const figure = c.figures[key]!;
  const range = spread(figure);
  const value = `${formatValue(figure)}${range === '' ? '' : ` [${range}]`}`;
  const ratios = report.ratioTable.filter((r) => r.figure === `${c.id}/${key}`);
  if (ratios.length === 0) return value;
  return `${value} (${ratios.map((r) => `${r.value.toFixed(2)} of ${shortLimit(r.limit)}`).join('; ')})`;
}

export function formatReport(report: BenchReport): string {
  const p = report.parameters;
  const v = report.versions;
  const m = report.machine;
  const configs = report.configurations;
  const lines: string[] = [];
  lines.push(
    `## secagg bench (${report.mode}) — ${report.timestamp}`,
    '',
    `${String(p.clients)} clients × ${Number(p.length).toLocaleString('en')} values per round, clip norm ${String(p.clipNorm)}, noise multiplier z ${configs.map((c) => String(c.noiseMultiplier ?? p.noiseMultiplierRequested)).join(' / ')} (per configuration), ` +
      `${String(p.aggregators)} aggregators, ${String(p.transport)}, Redis ${String(p.redisConfig)}. ` +
      `Machine: ${String(m.cores)} cores (${String(m.cpuModel)}), ${(Number(m.memoryBytes) / 2 ** 30).toFixed(1)} GiB; load average ${String(m.loadAverageAtStart)} → ${String(m.loadAverageAtEnd)}. ` +
      `node ${v.node}, node-seal ${v.nodeSeal}, grpc-js ${v.grpcJs}, bullmq ${v.bullmq}, ioredis ${v.ioredis}, redis ${v.redis}; commit ${report.source.secaggCommit}${report.source.treeClean ? '' : ' (working tree modified)'}. Wall time ${report.wallSeconds.toFixed(0)} s.`,
    '',
    `### Headline ratios (${String(p.headlineConfiguration ?? 'n/a')})`,
    '',
    '| ratio | value | from |',
    '| --- | ---: | --- |',
    ...Object.entries(report.ratios).map(([key, value]) => `| ${key} | ${value.toFixed(3)} | ${report.ratioSources[key]} |`),
    '',
    '### Limits (same run, same machine)',
    '',
    '| limit | median of trials | trials min – max |',
    '| --- | ---: | ---: |',
  );
  for (const [key, limit] of Object.entries(report.limits)) lines.push(`| ${limitName(key)} | ${formatValue(limit)} | ${spread(limit)} |`);
  lines.push(
    '',
    '### System, each figure with its ratio to a limit',
    '',
    `| figure | ${configs.map((c) => `${c.id}${c.role === 'baseline' ? (c.measuredOn === 'node-seal' ? ' (peer baseline, node-seal only)' : ' (peer baseline)') : ''}`).join(' | ')} |`,
    `| --- | ${configs.map(() => '---').join(' | ')} |`,
  );
  for (const [key, label] of ROWS) {
    if (!configs.some((c) => c.figures[key] !== undefined || (!c.available && key === 'bytesPerValue'))) continue;
    lines.push(`| ${label} | ${configs.map((c) => cell(report, c, key)).join(' | ')} |`);
  }
  lines.push(`| 1-min load average before → after | ${configs.map((c) => (c.loadAverage1m ? `${c.loadAverage1m[0]} → ${c.loadAverage1m[1]}` : '')).join(' | ')} |`);
  lines.push('', '### Goals of the issue', '', '| goal | target | reached | met |', '| --- | ---: | ---: | --- |');
  for (const g of report.goals) {
    const isBytes = g.target === 512 * MiB;
    const fmt = (x: number) => (isBytes ? `${(x / MiB).toFixed(0)} MiB` : g.id === 'bytes-per-value' ? x.toFixed(2) : x.toFixed(2));
    const reached = g.value === undefined ? 'n/a' : fmt(g.value);
    const met = g.met === undefined ? `not judged: ${g.note}` : g.met ? 'yes' : 'no';
    lines.push(`| ${g.id}: ${g.description} | ${g.comparison} ${fmt(g.target)} | ${reached} | ${met} |`);
  }
  const unavailable = configs.filter((c) => !c.available);
  if (unavailable.length > 0 || report.notes.length > 0) {
    lines.push('', '### Notes', '');
    for (const c of unavailable) lines.push(`- ${c.id}: ${c.unavailableReason}`);
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  return lines.join('\n');
}
