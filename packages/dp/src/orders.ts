/**
 * RDP orders at which the accountant evaluates Rényi divergences.
 *
 * @module
 */

/**
 * The default order grid, identical to Google dp-accounting's
 * `rdp_privacy_accountant.DEFAULT_RDP_ORDERS`:
 * `[1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]`
 * (python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant.py in
 * google/differential-privacy). 156 orders: 1.1, 1.2, …, 10.9, 11, 12, …, 63,
 * 128, 256, 512, 1024. `1 + x / 10` is evaluated with the same IEEE-754 double
 * operations as in Python, so every order is bit-identical to dp-accounting's.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 53 }, (_, i) => 11 + i),
  128,
  256,
  512,
  1024,
]);

/**
 * Opacus's `RDPAccountant.DEFAULT_ALPHAS`:
 * `[1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))`
 * (opacus/accountants/rdp.py). Exported so results can be compared with
 * Opacus (e.g. its `get_noise_multiplier`) on the same grid.
 */
export const OPACUS_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 52 }, (_, i) => 12 + i),
]);

/** Throws a RangeError unless `orders` is a non-empty list of orders > 1 (∞ allowed). */
export function checkOrders(orders: readonly number[]): void {
  if (orders.length === 0) throw new RangeError('orders must not be empty');
  for (const a of orders) {
    if (!(a > 1)) throw new RangeError(`every RDP order must be > 1, got ${a}`);
  }
}
