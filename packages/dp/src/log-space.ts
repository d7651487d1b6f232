/**
 * Arithmetic on numbers stored as their natural logarithms (−∞ is zero), used
 * by the RDP accountant to sum series whose terms under- or overflow doubles.
 *
 * @module
 */

/** log(eˣ + eʸ). */
export function logAdd(x: number, y: number): number {
  const a = Math.min(x, y);
  const b = Math.max(x, y);
  if (a === -Infinity) return b;
  return b + Math.log1p(Math.exp(a - b));
}

/** log(eˣ − eʸ) for x ≥ y (returns −∞ when x = y; NaN when x < y). */
export function logSub(x: number, y: number): number {
  if (x < y) return NaN;
  if (y === -Infinity) return x;
  if (x === y) return -Infinity;
  // eˣ − eʸ = eˣ·(1 − e^{y−x}); log1p(−·) keeps the precision when y ≈ x.
  return x + Math.log1p(-Math.exp(y - x));
}
