/** The experiment's table (Markdown) and plot (SVG). */
import type { ExperimentResult } from './experiment.js';
import { lineChartSvg } from './svg-plot.js';

const fmt = (v: number | undefined, digits = 4) => (v === undefined ? '—' : Number.isFinite(v) ? v.toFixed(digits) : '∞');

export function resultTable(result: ExperimentResult): string {
  const rounds = result.options.rounds;
  const head = ['run', 'z', 'ε (ledger)', ...Array.from({ length: rounds + 1 }, (_, t) => `ppl r${t}`), 'bytes/client/round', 'wall s'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const run of result.runs) {
    const epsilon = run.kind === 'base' ? '—' : run.kind === 'non-private' ? '∞ (no noise)' : fmt(run.ledgerEpsilon, 3);
    const z = run.noiseMultiplier === undefined || run.kind === 'base' ? '—' : run.kind === 'non-private' ? '0' : run.noiseMultiplier.toFixed(3);
    const bytes = run.kind === 'base' ? '—' : run.bytesPerClientPerRound.toLocaleString('en');
    lines.push(`| ${[run.name, z, epsilon, ...run.perplexity.map((p) => fmt(p)), bytes, run.wallSeconds.toFixed(1)].join(' | ')} |`);
  }
  return lines.join('\n');
}

export function perplexityPlot(result: ExperimentResult): string {
  return lineChartSvg({
    title: `Held-out perplexity per character, federated LoRA on SOTU ${result.options.cutoffYear}– (${result.corpus.clients} clients)`,
    xLabel: 'round',
    yLabel: 'perplexity per character (held-out speeches)',
    series: result.runs.map((run) => ({
      label: run.kind === 'dp-fixed' || run.kind === 'dp-adaptive' ? `${run.name} (ledger ${fmt(run.ledgerEpsilon, 2)})` : run.name,
      values: run.perplexity,
      dashed: run.kind === 'base' || run.kind === 'dp-adaptive',
    })),
  });
}
