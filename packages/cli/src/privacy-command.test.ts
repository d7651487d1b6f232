import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { analyticGaussianSigma, calibrateNoiseMultiplier, computeDelta, computeDeltaPld, computeEpsilon, computeEpsilonPld } from '@secagg/dp';
import { runPrivacyCli } from './privacy-command.js';

function run(argv: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runPrivacyCli(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, out, err };
}

function json(argv: string[]): unknown {
  const r = run(argv);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.equal(r.err.length, 0);
  assert.equal(r.out.length, 1, 'exactly one line of JSON on stdout');
  return JSON.parse(r.out[0]!);
}

const EPS = ['epsilon', '--noise-multiplier', '1.1', '--sampling-rate', '0.01', '--steps', '1000', '--delta', '1e-5'];

test('epsilon: JSON with epsilon and optimal order, equal to the library', () => {
  const want = computeEpsilon([{ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 1000 }], 1e-5);
  assert.deepEqual(json([...EPS, '--json']), { epsilon: want.epsilon, order: want.order, accountant: 'rdp' });
  assert.deepEqual(json([...EPS, '--accountant', 'rdp', '--json']), { epsilon: want.epsilon, order: want.order, accountant: 'rdp' });
  const classic = computeEpsilon([{ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 1000 }], 1e-5, {
    orders: [2, 4, 8, 16, 32],
    conversion: 'classic',
  });
  assert.deepEqual(json([...EPS, '--orders', '2,4,8,16,32', '--conversion', 'classic', '--json']), {
    epsilon: classic.epsilon,
    order: classic.order,
    accountant: 'rdp',
  });
});

test('delta, sigma and noise-multiplier: JSON equal to the library', () => {
  const d = computeDelta([{ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 1000 }], 2).delta;
  assert.deepEqual(
    json(['delta', '--noise-multiplier', '1.1', '--sampling-rate', '0.01', '--steps', '1000', '--epsilon', '2', '--json']),
    { delta: d, accountant: 'rdp' },
  );
  assert.deepEqual(json(['sigma', '--epsilon', '1', '--delta', '1e-5', '--json']), { sigma: analyticGaussianSigma(1, 1e-5) });
  assert.deepEqual(json(['sigma', '--epsilon', '1', '--delta', '1e-5', '--sensitivity', '2.5', '--json']), {
    sigma: analyticGaussianSigma(1, 1e-5, 2.5),
  });
  const z = calibrateNoiseMultiplier({ epsilon: 8, delta: 1e-5, samplingRate: 0.04, steps: 2000 });
  assert.deepEqual(
    json(['noise-multiplier', '--epsilon', '8', '--delta', '1e-5', '--sampling-rate', '0.04', '--steps', '2000', '--json']),
    { noise_multiplier: z, accountant: 'rdp' },
  );
  const zPld = calibrateNoiseMultiplier({ epsilon: 8, delta: 1e-5, samplingRate: 0.04, steps: 2000 }, { accountant: 'pld' });
  assert.deepEqual(
    json(['noise-multiplier', '--epsilon', '8', '--delta', '1e-5', '--sampling-rate', '0.04', '--steps', '2000', '--accountant', 'pld', '--json']),
    { noise_multiplier: zPld, accountant: 'pld' },
  );
  assert.ok(zPld < z, `the tighter accountant needs less noise (${zPld} vs ${z})`);
});

test('--accountant pld: epsilon and delta JSON equal to the PLD library, and below RDP', () => {
  const round = { noiseMultiplier: 1.1, samplingRate: 0.01, steps: 1000 };
  const want = computeEpsilonPld([round], 1e-5).epsilon;
  const got = json([...EPS, '--accountant', 'pld', '--json']);
  assert.deepEqual(got, { epsilon: want, accountant: 'pld' });
  assert.ok(want < computeEpsilon([round], 1e-5).epsilon, 'PLD is tighter than RDP here');
  const d = computeDeltaPld([round], 2).delta;
  assert.deepEqual(
    json(['delta', '--noise-multiplier', '1.1', '--sampling-rate', '0.01', '--steps', '1000', '--epsilon', '2', '--accountant', 'pld', '--json']),
    { delta: d, accountant: 'pld' },
  );
  const human = run([...EPS, '--accountant', 'pld']);
  assert.equal(human.code, 0);
  assert.equal(human.out.length, 1);
  assert.match(human.out[0]!, /^epsilon = [0-9.e+-]+ at delta = 0.00001 \(PLD accountant, loss grid [0-9.e+-]+\)$/);
});

test('without --json: one short human line', () => {
  for (const argv of [
    EPS,
    ['delta', '--noise-multiplier', '1.1', '--sampling-rate', '0.01', '--steps', '1000', '--epsilon', '2'],
    ['sigma', '--epsilon', '1', '--delta', '1e-5'],
    ['noise-multiplier', '--epsilon', '8', '--delta', '1e-5', '--sampling-rate', '0.04', '--steps', '2000'],
  ]) {
    const r = run(argv);
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 1);
    assert.match(r.out[0]!, /^(epsilon|delta|sigma|noise multiplier) = [0-9.e+-]+ /);
    assert.equal(r.err.length, 0);
  }
});

test('--help prints usage with examples on stdout, exit 0', () => {
  for (const argv of [['--help'], ['epsilon', '--help']]) {
    const r = run(argv);
    assert.equal(r.code, 0);
    assert.equal(r.err.length, 0);
    const text = r.out.join('\n');
    assert.match(text, /Usage: secagg privacy <command>/);
    assert.match(text, /Examples:/);
    for (const c of ['epsilon', 'delta', 'sigma', 'noise-multiplier']) assert.ok(text.includes(`secagg privacy ${c} `));
  }
});

function bad(argv: string[], pattern: RegExp): void {
  const r = run(argv);
  assert.equal(r.code, 2, `${argv.join(' ')} -> ${r.code}`);
  assert.equal(r.out.length, 0, 'nothing on stdout');
  assert.equal(r.err.length, 1, 'exactly one line on stderr');
  assert.match(r.err[0]!, pattern);
}

test('bad arguments: exit 2 with one line naming the argument', () => {
  const without = (flag: string) => {
    const i = EPS.indexOf(flag);
    return [...EPS.slice(0, i), ...EPS.slice(i + 2)];
  };
  const withValue = (flag: string, value: string) => EPS.map((a, i) => (EPS[i - 1] === flag ? value : a));
  // missing command / unknown command / stray positional
  bad([], /missing command/);
  bad(['variance'], /unknown command 'variance'/);
  bad([...EPS, 'extra'], /unexpected argument 'extra'/);
  // unknown flag, flag of another command, flag without value, value on a boolean
  bad([...EPS, '--foo', '1'], /unknown option '--foo'/);
  bad([...EPS, '--sensitivity', '2'], /--sensitivity is not an option of 'epsilon'/);
  bad(['epsilon', '--delta'], /--delta needs a value/);
  bad([...EPS, '--json=yes'], /--json does not take a value/);
  // missing required
  for (const flag of ['--noise-multiplier', '--sampling-rate', '--steps', '--delta']) bad(without(flag), new RegExp(`${flag} is required`));
  bad(['sigma', '--delta', '1e-5'], /--epsilon is required/);
  // non-numeric
  bad(withValue('--noise-multiplier', 'abc'), /--noise-multiplier: 'abc' is not a number/);
  bad(withValue('--delta', '0x10'), /--delta: '0x10' is not a number/);
  bad(withValue('--sampling-rate', ''), /--sampling-rate: '' is not a number/);
  bad(withValue('--delta', '1e999'), /--delta: '1e999' is out of range/);
  // out of range
  bad(withValue('--sampling-rate', '0'), /--sampling-rate must be in \(0, 1\]/);
  bad(withValue('--sampling-rate', '1.5'), /--sampling-rate must be in \(0, 1\]/);
  bad(withValue('--delta', '1'), /--delta must be in \(0, 1\)/);
  bad(withValue('--delta', '0'), /--delta must be in \(0, 1\)/);
  bad(withValue('--noise-multiplier', '0'), /--noise-multiplier must be > 0/);
  bad([...without('--noise-multiplier'), '--noise-multiplier=-1'], /--noise-multiplier must be > 0/);
  bad(withValue('--noise-multiplier', '-1'), /--noise-multiplier: a value starting with '-' must be written as --noise-multiplier=<value>/);
  bad(withValue('--steps', '0'), /--steps must be a positive integer/);
  bad(withValue('--steps', '2.5'), /--steps must be a positive integer/);
  bad(withValue('--steps', '1e3'), /--steps must be a positive integer/);
  bad(withValue('--steps', '99999999999999999999'), /--steps must be a positive integer/);
  bad([...EPS, '--orders', '2,0.5'], /--orders: every order must be > 1/);
  bad([...EPS, '--orders', '2,,3'], /--orders must be a comma-separated list/);
  bad([...EPS, '--conversion', 'tight'], /--conversion must be 'improved' or 'classic'/);
  bad([...EPS, '--accountant', 'prv'], /--accountant must be 'rdp' or 'pld', got 'prv'/);
  bad([...EPS, '--accountant', 'pld', '--orders', '2,3'], /--orders belongs to the rdp accountant, not to --accountant pld/);
  bad([...EPS, '--accountant', 'pld', '--conversion', 'classic'], /--conversion belongs to the rdp accountant/);
  bad(['sigma', '--epsilon', '1', '--delta', '1e-5', '--accountant', 'pld'], /--accountant is not an option of 'sigma'/);
  bad(['sigma', '--epsilon=-1', '--delta', '1e-5'], /--epsilon must be >= 0/);
  bad(['sigma', '--epsilon', '1', '--delta', '1e-5', '--sensitivity', '0'], /--sensitivity must be > 0/);
  bad(['noise-multiplier', '--epsilon', '0', '--delta', '1e-5', '--sampling-rate', '0.1', '--steps', '10'], /--epsilon must be > 0/);
});

test('valid arguments without a finite answer: exit 1, one line on stderr, nothing on stdout', () => {
  const r = run(['noise-multiplier', '--epsilon', '0.0001', '--delta', '1e-5', '--sampling-rate', '1', '--steps', '1000000', '--json']);
  assert.equal(r.code, 1);
  assert.equal(r.out.length, 0);
  assert.equal(r.err.length, 1);
  assert.match(r.err[0]!, /budget too low/);
  // z = 1e-300: the RDP overflows to +∞ at every order, so epsilon is unbounded.
  const inf = run(['epsilon', '--noise-multiplier', '1e-300', '--sampling-rate', '1', '--steps', '1', '--delta', '1e-5', '--json']);
  assert.equal(inf.code, 1);
  assert.equal(inf.out.length, 0);
  assert.match(inf.err[0]!, /epsilon is not finite/);
  const infPld = run(['epsilon', '--noise-multiplier', '1e-300', '--sampling-rate', '1', '--steps', '1', '--delta', '1e-5', '--accountant', 'pld', '--json']);
  assert.equal(infPld.code, 1);
  assert.equal(infPld.out.length, 0);
  assert.match(infPld.err[0]!, /epsilon is not finite/);
});

test('epsilon --mechanism: PATE vote rounds, equal to core.py (replace-one, classic, the ICLR2018 orders) and to the library', async () => {
  const { PATE_2018_ORDERS, computeVoteEpsilon } = await import('@secagg/dp');
  const pate = ['--adjacency', 'replace-one', '--conversion', 'classic', '--orders', PATE_2018_ORDERS.join(',')];
  // core.py (research/pate_2018): GNMax sigma 40 on 640 queries, delta 1e-5 -> 4.693259175449132 at order 6.5 (pate.test.ts)
  const gnmax = json(['epsilon', '--mechanism', 'gnmax', '--queries', '640', '--sigma2', '40', '--delta', '1e-5', ...pate, '--json']) as Record<string, number>;
  assert.ok(Math.abs(gnmax.epsilon! - 4.693259175449132) < 1e-12, String(gnmax.epsilon));
  assert.equal(gnmax.order, 6.5);
  assert.equal(gnmax.noise_multiplier, 40 / Math.sqrt(2 * 640));
  // Confident-GNMax, sigma1 150, T 200, 286 of 640 answered -> 3.175320617551586 at order 8.5
  const confident = json([
    'epsilon', '--mechanism', 'confident-gnmax', '--queries', '640', '--answered', '286', '--sigma1', '150', '--sigma2', '40', '--threshold', '200', '--delta', '1e-5', ...pate, '--json',
  ]) as Record<string, number>;
  assert.ok(Math.abs(confident.epsilon! - 3.175320617551586) < 1e-12, String(confident.epsilon));
  // Defaults: add-remove, improved conversion, dp-accounting's orders, all queries answered (what the keyholder charges).
  const want = computeVoteEpsilon({ mechanism: 'confident-gnmax', queries: 640, sigma1: 150, sigma2: 40, histogramSensitivity: 1 }, 1e-5);
  assert.deepEqual(
    json(['epsilon', '--mechanism', 'confident-gnmax', '--queries', '640', '--sigma1', '150', '--sigma2', '40', '--threshold', '200', '--delta', '1e-5', '--json']),
    { epsilon: want.epsilon, order: want.order, noise_multiplier: want.noiseMultiplier },
  );
  const human = run(['epsilon', '--mechanism', 'gnmax', '--queries', '100', '--sigma2', '20', '--vote-shape', 'top-k', '--top-k', '3', '--delta', '1e-5']);
  assert.equal(human.code, 0);
  assert.match(human.out[0]!, /^epsilon = [\d.]+ at delta = 0.00001 for one gnmax release of 100 queries, top-k votes, add-remove \(equivalent noise multiplier/);
});

test('epsilon --mechanism: bad vote arguments exit 2 with one line naming the argument', () => {
  const cases: Array<[string[], RegExp]> = [
    [['epsilon', '--mechanism', 'lnmax', '--queries', '10', '--sigma2', '4', '--delta', '1e-5'], /--mechanism must be one of noisy-histogram, gnmax, confident-gnmax/],
    [['epsilon', '--mechanism', 'gnmax', '--sigma2', '4', '--delta', '1e-5'], /--queries is required/],
    [['epsilon', '--mechanism', 'confident-gnmax', '--queries', '10', '--sigma2', '4', '--threshold', '5', '--delta', '1e-5'], /--sigma1 is required/],
    [['epsilon', '--mechanism', 'gnmax', '--queries', '10', '--sigma2', '4', '--sigma1', '3', '--delta', '1e-5'], /--sigma1 is for --mechanism confident-gnmax only/],
    [['epsilon', '--mechanism', 'confident-gnmax', '--queries', '10', '--answered', '11', '--sigma1', '3', '--sigma2', '4', '--threshold', '5', '--delta', '1e-5'], /--answered must be an integer in \[0, --queries = 10\]/],
    [['epsilon', '--mechanism', 'gnmax', '--queries', '10', '--sigma2', '4', '--noise-multiplier', '1', '--delta', '1e-5'], /--noise-multiplier is not an option of 'epsilon'/],
    [['epsilon', '--mechanism', 'gnmax', '--queries', '10', '--sigma2', '4', '--top-k', '2', '--delta', '1e-5'], /--top-k goes with --vote-shape top-k/],
  ];
  for (const [argv, message] of cases) {
    const r = run(argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.err.length, 1);
    assert.match(r.err[0]!, message);
  }
});
