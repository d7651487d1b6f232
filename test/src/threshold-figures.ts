/**
 * Figures for docs/SECURITY.md "Threshold keyholders" (issue 16): release
 * time (round close → RELEASED) and bytes per keyholder answer, single
 * keyholder against a committee of three (3 of 3 and 2 of 3), on a real local cluster. Not a
 * test (no timing is asserted anywhere): `node test/dist/threshold-figures.js [values]`.
 */
import { decryptionShareByteLength } from '@secagg/ckks';
import { LocalCluster } from '@secagg/local-cluster';
import { RoundState } from '@secagg/proto';
import { inMinutes, makeUpdate, waitForEnd } from './helpers.js';

const LENGTH = Number(process.argv[2] ?? 1_000_000);
const CLIENTS = 3;

async function measure(keyholders: number, threshold = keyholders): Promise<{ releaseMs: number; bytesPerAnswer: number }> {
  const cluster = await LocalCluster.start({ aggregators: 1, keyholders, threshold, minClientsFloor: 3 });
  try {
    const coordinator = await cluster.client('coordinator', 'coord');
    const round = await coordinator.createRound({
      vectorLength: LENGTH,
      minClients: CLIENTS,
      maxClients: CLIENTS + 1,
      deadlineUnixMs: inMinutes(30),
      clipNorm: 1,
      noiseMultiplier: 1,
    });
    for (let i = 0; i < CLIENTS; i++) {
      const client = await cluster.client('client', `figures-${i}`);
      await client.submitUpdate(round.roundId, makeUpdate(LENGTH, i + 1, 1));
      client.close();
    }
    const started = performance.now();
    await coordinator.closeRound(round.roundId);
    const ended = await waitForEnd(coordinator, round.roundId, 1_800_000);
    const releaseMs = performance.now() - started;
    if (ended.state !== RoundState.RELEASED) throw new Error(`round ended ${RoundState[ended.state]}: ${ended.failureReason}`);
    const ckks = (await coordinator.getRound(round.roundId)).round!.ckks!;
    coordinator.close();
    const bytesPerAnswer =
      keyholders > 1
        ? ckks.ciphertextCount * decryptionShareByteLength({ preset: 'n4096-q60p49', encoding: 'coefficients', scaleBits: ckks.scaleBits })
        : LENGTH * 8; // the single keyholder answers the noised sum, float64
    return { releaseMs, bytesPerAnswer };
  } finally {
    await cluster.stop();
  }
}

const single = await measure(1);
const committee = await measure(3);
const twoOfThree = await measure(3, 2);
console.log(
  JSON.stringify({
    values: LENGTH,
    single: { releaseMs: Math.round(single.releaseMs), bytesPerAnswer: single.bytesPerAnswer },
    threeKeyholders: { releaseMs: Math.round(committee.releaseMs), bytesPerShareStream: committee.bytesPerAnswer },
    twoOfThree: { releaseMs: Math.round(twoOfThree.releaseMs), bytesPerShareStream: twoOfThree.bytesPerAnswer },
  }),
);
