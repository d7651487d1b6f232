/**
 * Reads the tables of docs/SECURITY.md, so that the authorization tests check
 * exactly what the document promises (and fail when the two drift apart).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@secagg/local-cluster';

export const SECURITY_DOC = join(REPO_ROOT, 'docs', 'SECURITY.md');

export interface DocTable {
  header: string[];
  rows: string[][];
}

const cells = (line: string) =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((cell) => cell.trim().replace(/^`|`$/g, ''));

/** The first markdown table after the heading line that starts with `heading` (in docs/SECURITY.md unless another document is given). */
export function tableUnder(heading: string, doc = readFileSync(SECURITY_DOC, 'utf8')): DocTable {
  const lines = doc.split('\n');
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.replace(/^#+ /, '').startsWith(heading));
  if (start < 0) throw new Error(`the document has no heading "${heading}"`);
  let i = start + 1;
  while (i < lines.length && !lines[i]!.trim().startsWith('|')) {
    if (/^#+ /.test(lines[i]!)) throw new Error(`no table under "${heading}" in the document`);
    i++;
  }
  const header = cells(lines[i]!);
  const rows: string[][] = [];
  for (i += 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) rows.push(cells(lines[i]!));
  return { header, rows };
}

/** The status a cell names: its first word (`OK`, `PERMISSION_DENIED`, `allowed`, …). */
export function statusOf(cell: string): string {
  return cell.split(/\s/)[0]!;
}
