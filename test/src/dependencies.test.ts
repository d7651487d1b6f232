/**
 * Every workspace declares exactly what its sources import (issue 13 item 5):
 * a package imported but not declared works only by the accident of npm's
 * hoisting (and breaks in the service image, built with `npm ci --omit=dev`
 * when the declaration is a devDependency), and a declared package nothing
 * imports is weight and attack surface for nothing.
 *
 * Read from the sources themselves (src/**.ts, with tests): static and dynamic
 * imports, re-exports, `require`/`require.resolve` through createRequire, and
 * `import.meta.resolve`. Files that only tests load (*.test.ts, testing/ and
 * test-only entry points) may import devDependencies; all others may not.
 */
import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '@secagg/local-cluster';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/**
 * Declared packages no source file imports by name, with why they are declared
 * anyway. Each entry is a reason a reader can check; anything else unused fails.
 */
const USED_WITHOUT_IMPORT: Record<string, Record<string, string>> = {};

/** The workspaces of the root package.json, each a folder with a package.json. */
function workspaces(): string[] {
  const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return root.workspaces
    .flatMap((pattern) => {
      if (!pattern.endsWith('/*')) return [pattern];
      const parent = pattern.slice(0, -2);
      return readdirSync(join(REPO_ROOT, parent)).map((name) => `${parent}/${name}`);
    })
    .filter((dir) => statSync(join(REPO_ROOT, dir, 'package.json'), { throwIfNoEntry: false })?.isFile());
}

function sourceFiles(dir: string): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.(ts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The package a module specifier names, or undefined for relative paths and Node's built-ins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:') || specifier.startsWith('data:')) return undefined;
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  return builtinModules.includes(name) ? undefined : name;
}

const SPECIFIER_PATTERNS = [
  /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import and export ... from, on one line or many
  /^\s*import\s*['"]([^'"]+)['"]/gm, // an import for its side effects
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // a dynamic import of a literal
  /\bimport\.meta\.resolve\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)/g, // createRequire's require and require.resolve
];

/** The packages one source text imports. */
export function importedPackages(source: string): Set<string> {
  const found = new Set<string>();
  for (const pattern of SPECIFIER_PATTERNS) {
    for (const match of source.matchAll(pattern)) {
      const name = packageOf(match[1]!);
      if (name !== undefined) found.add(name);
    }
  }
  return found;
}

/** Files only tests load: they may use devDependencies. */
function isTestOnly(file: string): boolean {
  return /\.test\.ts$/.test(file) || /\/testing(\/|\.ts$)/.test(file);
}

/**
 * Workspaces whose code runs in the service image, installed there with
 * `npm ci --omit=dev`. Tools, examples and tests are never installed so.
 */
function ships(workspace: string): boolean {
  return workspace === 'proto' || workspace.startsWith('packages/') || workspace.startsWith('services/');
}

interface Findings {
  undeclared: string[];
  devOnlyInShippedCode: string[];
  unused: string[];
}

function check(workspace: string): Findings {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, workspace, 'package.json'), 'utf8')) as Manifest;
  const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
  const devDependencies = new Set(Object.keys(manifest.devDependencies ?? {}));
  const imported = new Map<string, string[]>(); // package -> files importing it
  for (const file of sourceFiles(join(REPO_ROOT, workspace, 'src'))) {
    for (const name of importedPackages(readFileSync(file, 'utf8'))) {
      imported.set(name, [...(imported.get(name) ?? []), relative(REPO_ROOT, file)]);
    }
  }
  const undeclared: string[] = [];
  const devOnlyInShippedCode: string[] = [];
  for (const [name, files] of imported) {
    if (name === manifest.name) continue; // a package importing its own entry points by name
    if (!dependencies.has(name) && !devDependencies.has(name)) undeclared.push(`${name} (${files.join(', ')})`);
    else if (!dependencies.has(name) && ships(workspace)) {
      const shipped = files.filter((file) => !isTestOnly(file));
      if (shipped.length > 0) devOnlyInShippedCode.push(`${name} (${shipped.join(', ')})`);
    }
  }
  const allowed = USED_WITHOUT_IMPORT[workspace] ?? {};
  const unused = [...dependencies, ...devDependencies].filter((name) => !imported.has(name) && !(name in allowed));
  return { undeclared: undeclared.sort(), devOnlyInShippedCode: devOnlyInShippedCode.sort(), unused: unused.sort() };
}

describe('declared dependencies match the imports of each workspace', () => {
  it('reads import forms the workspaces use', () => {
    // Spelled in capitals here and lowered below, so that this file's own scan does not read the examples as imports.
    const source = [
      "import { a } from '@scope/pkg/sub';",
      "import type { B } from 'plain';",
      'import {\n  c,\n  d,\n} from "multi-line";',
      "export * from 'reexported';",
      "import 'side-effect';",
      "const m = await IMPORT('dynamic');",
      "const url = IMPORT.meta.resolve('resolved/file.js');",
      "const data = REQUIRE('required');",
      "import { readFileSync } from 'node:fs';",
      "import { join } from 'path';",
      "import { x } from './local.js';",
    ]
      .join('\n')
      .replaceAll('IMPORT', 'import')
      .replaceAll('REQUIRE', 'require');
    assert.deepEqual(
      [...importedPackages(source)].sort(),
      ['@scope/pkg', 'dynamic', 'multi-line', 'plain', 'reexported', 'required', 'resolved', 'side-effect'],
    );
  });

  const all = workspaces();
  it('finds every workspace', () => {
    for (const expected of ['proto', 'packages/core', 'packages/cli', 'services/keyholder', 'tools/bench', 'test']) {
      assert.ok(all.includes(expected), `${expected} is a workspace`);
    }
  });

  it('references in each tsconfig the workspaces its package.json depends on, and no others (one tsc --build orders them)', () => {
    const folderOf = new Map(all.map((dir) => [(JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8')) as Manifest).name, dir]));
    for (const workspace of all) {
      const manifest = JSON.parse(readFileSync(join(REPO_ROOT, workspace, 'package.json'), 'utf8')) as Manifest;
      const declared = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})];
      const wanted = declared.flatMap((name) => folderOf.get(name) ?? []).sort();
      const tsconfig = JSON.parse(readFileSync(join(REPO_ROOT, workspace, 'tsconfig.json'), 'utf8')) as { references?: { path: string }[] };
      const referenced = (tsconfig.references ?? []).map((ref) => relative(REPO_ROOT, join(REPO_ROOT, workspace, ref.path))).sort();
      assert.deepEqual(referenced, wanted, `${workspace}/tsconfig.json references`);
    }
  });

  for (const workspace of all) {
    it(workspace, () => {
      // undeclared: declare them; devOnlyInShippedCode: move them to dependencies (npm ci --omit=dev leaves them out);
      // unused: remove them, or say in USED_WITHOUT_IMPORT why they are declared.
      assert.deepEqual(check(workspace), { undeclared: [], devOnlyInShippedCode: [], unused: [] });
    });
  }
});
