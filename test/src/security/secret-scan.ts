/**
 * Looking for secrets in log text: known secret values in every encoding a
 * logger could produce (as text, base64 at any alignment, base64url, hex,
 * the decimal arrays JSON makes of Buffers and Uint8Arrays), and long runs
 * of base64, hex or byte arrays in general, which no log line should carry.
 */

/** A secret to look for: strings as they are, bytes in any encoding. */
export interface Secret {
  name: string;
  strings?: readonly string[];
  bytes?: Uint8Array;
}

/** Bytes of each sampled window: long enough to be unmistakable, short enough to catch a partial leak. */
const WINDOW = 24;
/** Windows sampled per secret (each at three alignments). */
const SAMPLES = 24;

/**
 * Needles for `bytes`: for windows spread over the value, their hex,
 * base64 and base64url (at three consecutive offsets, so that every
 * alignment of a longer base64 encoding is covered) and their decimal
 * byte lists.
 */
export function needlesOf(bytes: Uint8Array): string[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < WINDOW + 2) {
    return [buffer.toString('base64').replace(/=+$/, ''), buffer.toString('hex')].filter((n) => n.length >= 16);
  }
  const needles = new Set<string>();
  const stride = Math.max(1, Math.floor((buffer.length - WINDOW - 2) / (SAMPLES - 1)));
  for (let start = 0; start + WINDOW + 2 <= buffer.length; start += stride) {
    for (let shift = 0; shift < 3; shift++) {
      const window = buffer.subarray(start + shift, start + shift + WINDOW);
      // The middle of the base64: its ends depend on the neighbouring bytes.
      needles.add(window.toString('base64').slice(0, 28));
      needles.add(window.toString('base64url').slice(0, 28));
      needles.add(window.toString('hex'));
      needles.add([...window.subarray(0, 16)].join(','));
    }
  }
  return [...needles];
}

/** Where a secret shows up in `text`: one finding per secret and place. */
export function findSecrets(source: string, text: string, secrets: readonly Secret[]): string[] {
  const findings: string[] = [];
  // A Uint8Array serialized as JSON is {"0":12,"1":34,...} (quotes escaped when nested in a
  // string): without the keys it is a decimal list.
  const unindexed = text.replace(/\\?"\d+\\?":/g, '');
  for (const secret of secrets) {
    const needles = [...(secret.strings ?? []), ...(secret.bytes ? needlesOf(secret.bytes) : [])];
    for (const needle of needles) {
      const at = text.indexOf(needle);
      if (at >= 0 || unindexed.includes(needle)) {
        findings.push(`${source}: ${secret.name}${at >= 0 ? ` at ${at}: …${text.slice(Math.max(0, at - 40), at + 60)}…` : ' as an indexed byte object'}`);
        break;
      }
    }
  }
  return findings;
}

/** Long runs that look like encoded binary: base64 or base64url, hex, JSON byte arrays. */
const SUSPICIOUS: readonly [string, RegExp][] = [
  ['base64 run', /[A-Za-z0-9+/_-]{64,}={0,2}/g],
  ['hex run', /[0-9a-fA-F]{64,}/g],
  ['byte array', /(?:\b\d{1,3},){32,}/g],
  ['indexed byte object', /(?:\\?"\d+\\?":\d{1,3},){32,}/g],
];

/** Runs of encoded binary in `text` (each reported with its line). */
export function suspiciousRuns(source: string, text: string): string[] {
  const findings: string[] = [];
  for (const [kind, pattern] of SUSPICIOUS) {
    for (const match of text.matchAll(pattern)) {
      // A run of one character class only (e.g. a long path of letters) is not binary.
      if (kind === 'base64 run' && !(/[0-9]/.test(match[0]) && /[a-z]/.test(match[0]) && /[A-Z]/.test(match[0]))) continue;
      const lineStart = text.lastIndexOf('\n', match.index) + 1;
      findings.push(`${source}: ${kind} of ${match[0].length} characters in: ${text.slice(lineStart, lineStart + 300)}`);
    }
  }
  return findings;
}
