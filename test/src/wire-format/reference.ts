/**
 * An independent reference for docs/WIRE_FORMAT.md, written from the document
 * with BigInt arithmetic and nothing from packages/ckks: SEAL's prime
 * selection, its NTT (evaluation at odd powers of the minimal primitive 2N-th
 * root of unity, in bit-reversed order) and the coefficient encoding. The
 * wire-format test checks the code against it, so the document, the vectors
 * and the code cannot drift apart; an implementation in another language can
 * port it line by line.
 */

export function powMod(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** Deterministic Miller–Rabin for n < 2^64 (these 12 prime bases suffice). */
export function isPrime(n: bigint): boolean {
  if (n < 2n) return false;
  const bases = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n];
  for (const p of bases) {
    if (n === p) return true;
    if (n % p === 0n) return false;
  }
  let d = n - 1n;
  let r = 0;
  while ((d & 1n) === 0n) {
    d >>= 1n;
    r++;
  }
  outer: for (const a of bases) {
    let x = powMod(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 1; i < r; i++) {
      x = (x * x) % n;
      if (x === n - 1n) continue outer;
    }
    return false;
  }
  return true;
}

/**
 * SEAL 4.1's `CoeffModulus::Create(N, bitSizes)`: for each bit size b, the
 * largest primes p < 2^b with p ≡ 1 (mod 2N), as many as b occurs, found
 * downwards from 2^b; the i-th occurrence of b (in the order given) gets the
 * i-th *smallest* of them (SEAL pops them from the back of a descending list).
 */
export function sealCoeffModulus(n: number, bitSizes: readonly number[]): bigint[] {
  const step = BigInt(2 * n);
  const wanted = new Map<number, number>();
  for (const b of bitSizes) wanted.set(b, (wanted.get(b) ?? 0) + 1);
  const found = new Map<number, bigint[]>();
  for (const [bits, count] of wanted) {
    const primes: bigint[] = [];
    // The largest candidate ≡ 1 mod 2N below 2^bits.
    let candidate = (1n << BigInt(bits)) - step + 1n;
    while (primes.length < count) {
      if (isPrime(candidate)) primes.push(candidate);
      candidate -= step;
    }
    found.set(bits, primes); // descending
  }
  return bitSizes.map((b) => found.get(b)!.pop()!);
}

/** The smallest primitive 2N-th root of unity mod q (SEAL's `try_minimal_primitive_root`): the minimum over odd powers of any one. */
export function minimalPrimitiveRoot(q: bigint, n: number): bigint {
  const order = BigInt(2 * n);
  let g = 0n;
  for (let x = 2n; ; x++) {
    g = powMod(x, (q - 1n) / order, q);
    if (powMod(g, BigInt(n), q) === q - 1n) break; // g^N = -1: order exactly 2N
  }
  let minimal = g;
  const g2 = (g * g) % q;
  let current = g;
  for (let i = 0; i < n; i++) {
    if (current < minimal) minimal = current;
    current = (current * g2) % q;
  }
  return minimal;
}

export function bitReverse(j: number, logN: number): number {
  let r = 0;
  for (let b = 0; b < logN; b++) if (j & (1 << b)) r |= 1 << (logN - 1 - b);
  return r;
}

/**
 * SEAL's forward negacyclic NTT of a polynomial mod q, written as its result:
 * word j = m(ψ^(2·bitrev(j) + 1)) mod q, ψ the minimal primitive 2N-th root.
 * Evaluated naively over the non-zero coefficients (short test vectors only).
 */
export function nttByEvaluation(coefficients: readonly bigint[], q: bigint, n: number): bigint[] {
  const psi = minimalPrimitiveRoot(q, n);
  const logN = Math.log2(n);
  const out: bigint[] = [];
  for (let j = 0; j < n; j++) {
    const x = powMod(psi, BigInt(2 * bitReverse(j, logN) + 1), q);
    let acc = 0n;
    let xi = 1n;
    for (const c of coefficients) {
      acc = (acc + c * xi) % q;
      xi = (xi * x) % q;
    }
    out.push(acc);
  }
  return out;
}

/**
 * Coefficient encoding of one chunk: value i → the integer round(x·2^scaleBits)
 * with JavaScript's Math.round (ties toward +∞, e.g. -2.5 → -2), exact in
 * float64; then its residue mod q in [0, q) (a negative v becomes q − |v|).
 */
export function encodedIntegers(values: readonly number[], scaleBits: number): bigint[] {
  return values.map((x) => BigInt(Math.round(x * 2 ** scaleBits)));
}

export function residues(integers: readonly bigint[], q: bigint): bigint[] {
  return integers.map((v) => ((v % q) + q) % q);
}

/** uint64 words as little-endian bytes. */
export function u64le(words: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setBigUint64(i * 8, w, true));
  return out;
}
