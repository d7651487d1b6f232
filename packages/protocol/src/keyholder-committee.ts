/**
 * KeyholderCommittee: a committee of threshold keyholders (issue 16) behind
 * the single keyholder's client interface, so that the gateway's CreateRound
 * and the aggregator's release job talk to n keyholders without knowing it.
 * The one owner of the client side of the committee protocol:
 *
 * - createRoundKey: every member's CreateKeyShare (all must answer the same
 *   CKKS parameters, member i at index i), then every member's
 *   SignCollectiveKey over the same list of shares; the statements must be
 *   the same bytes, and the attestation carries every member's signature.
 *   The public key is the sum of the shares (packages/ckks multiparty.ts):
 *   clients and aggregators use it like any SEAL public key.
 * - releaseRound (the combiner): the ReleaseShare of every member of the
 *   decrypting set (all n, or the first t reachable) over the same
 *   encrypted sum (the first one's shares carry c0); the shares are added mod q
 *   and decoded (combineDecryptionShares), the combined noised sum is
 *   range-checked against the strictest bounds the members require (each
 *   computed them from its own copy of the round), and only then streamed
 *   back as the round's release. Any member's refusal (its ledger, its floor,
 *   its release-once) refuses the release; a member that is down makes the
 *   call fail UNAVAILABLE, and the aggregator's retry gets the stored shares
 *   of the others (release-once, same contributors digest) plus the late one.
 * - the privacy-budget calls go to every member (each keeps its own ledger);
 *   a read reports the member that has spent the most.
 * - t-of-n: after the key shares, every member deals Shamir shares of its
 *   secret share to the others (DealKeyShares, relayed sealed; key-dealing.ts)
 *   and takes in what it was dealt (AcceptKeyShares); a release asks the first
 *   t reachable members, telling each the decrypting set.
 *
 * Combining needs no secret: the aggregator that runs it sees only the
 * noised sum it would have received from a single keyholder.
 */
import { create, equals } from '@bufbuild/protobuf';
import { createClient, refuse, type CallOptions, type ClientSettings, type ServiceClient } from '@secagg/core';
import { combineDecryptionShares, type CkksParams } from '@secagg/ckks';
import {
  CkksParametersSchema,
  CreateRoundKeyResponseSchema,
  KeyholderCommitteeSchema,
  KeyholderService as KeyholderServiceDesc,
  type KeyholderCommittee as KeyholderCommitteeMessage,
  ReleaseRoundRequestSchema,
  ReleaseRoundResponseSchema,
  ResultHeaderSchema,
  RoundAttestationSchema,
  type ReleaseHeader,
  type ReleaseRoundResponse,
  type ReleaseShareRequest,
  type ShareHeader,
} from '@secagg/proto';
import { toCkksParams } from './ckks-params.js';
import { checkCommittee } from './round-config.js';

type KeyholderClient = ServiceClient<typeof KeyholderServiceDesc>;
type Method<K extends keyof KeyholderClient> = KeyholderClient[K];

/** The fixed refusal of a combined sum out of range: no number computed from the data (docs/PRIVACY.md §4). */
export const COMBINED_OUT_OF_RANGE =
  "the combined noised sum of the keyholders' decryption shares is outside what a sum of the contributing updates, each " +
  "clipped to clip_norm, can reach with the round's noise: a forged or poisoned aggregate. Each keyholder charged its " +
  'ledger; nothing was released';

/** How long the combiner waits for a t-of-n member's channel before leaving it out of the decrypting set, ms. */
const READY_WAIT_MS = 3_000;

/** Values per released message, as the single keyholder's default. */
const VALUES_PER_MESSAGE = 65_536;

export class KeyholderCommittee {
  readonly raw: KeyholderClient['raw'];

  /** `members[i]` is the keyholder configured with committee index i + 1. */
  constructor(
    private readonly members: readonly KeyholderClient[],
    readonly threshold: number,
  ) {
    checkCommittee(members.length, threshold, 'keyholder committee');
    this.raw = members[0]!.raw;
  }

  get count(): number {
    return this.members.length;
  }

  readonly createRoundKey: Method<'createRoundKey'> = async (request, options) => {
    const shares = await Promise.all(this.members.map((m) => m.createKeyShare({ roundId: request.roundId, config: request.config }, options)));
    const ckks = shares[0]!.ckks;
    if (!ckks) throw refuse('bad_peer_reply', 'keyholder 1 returned no CKKS parameters');
    shares.forEach((share, i) => {
      if (share.keyholderIndex !== i + 1) {
        throw refuse(
          'misconfigured',
          `the keyholder at committee position ${i + 1} is configured as keyholder ${share.keyholderIndex}: fix the order of the keyholder addresses`,
        );
      }
      if (!share.ckks || !equals(CkksParametersSchema, share.ckks, ckks)) {
        throw refuse('bad_peer_reply', `keyholder ${i + 1} chose other CKKS parameters than keyholder 1 (different settings?)`);
      }
    });
    if (this.threshold < this.count) {
      // t-of-n: every keyholder deals Shamir shares of its secret share to the others, sealed to their dealing keys.
      const dealingKeys = shares.map((s, i) => {
        if (!s.dealingKey) throw refuse('bad_peer_reply', `keyholder ${i + 1} returned no dealing key`);
        return s.dealingKey;
      });
      const dealt = await Promise.all(this.members.map((m) => m.dealKeyShares({ roundId: request.roundId, dealingKeys }, options)));
      await Promise.all(
        this.members.map((m, j) =>
          m.acceptKeyShares({ roundId: request.roundId, dealingKeys, encryptedShares: dealt.map((d) => d.encryptedShares[j] ?? new Uint8Array(0)) }, options),
        ),
      );
    }
    const publicKeyShares = shares.map((s) => s.publicKeyShare);
    const signed = await Promise.all(this.members.map((m) => m.signCollectiveKey({ roundId: request.roundId, publicKeyShares }, options)));
    const first = signed[0]!;
    const statement = first.attestation?.statement ?? new Uint8Array(0);
    signed.forEach((s, i) => {
      if (!s.attestation || Buffer.compare(s.attestation.statement, statement) !== 0 || Buffer.compare(s.publicKey, first.publicKey) !== 0) {
        throw refuse('bad_peer_reply', `keyholder ${i + 1} signed another statement or key than keyholder 1`);
      }
    });
    // Each member's cost is against its own ledger; report the member whose group has spent the most.
    const privacy = shares
      .map((s) => s.privacy)
      .reduce((a, b) => ((b?.groupEpsilonAfter ?? -Infinity) > (a?.groupEpsilonAfter ?? -Infinity) ? b : a));
    return create(CreateRoundKeyResponseSchema, {
      ckks,
      publicKey: first.publicKey,
      privacy,
      attestation: create(RoundAttestationSchema, { statement, signatures: signed.flatMap((s) => s.attestation!.signatures) }),
    });
  };

  readonly releaseRound: Method<'releaseRound'> = (requests, options) => this.combine(requests, options);

  private async *combine(requests: Parameters<Method<'releaseRound'>>[0], options?: CallOptions): AsyncGenerator<ReleaseRoundResponse> {
    let header: ReleaseHeader | undefined;
    const ciphertexts: Uint8Array[] = [];
    for await (const init of requests) {
      const request = create(ReleaseRoundRequestSchema, init);
      if (request.frame.case === 'header') header = request.frame.value;
      else if (request.frame.case === 'chunk') ciphertexts.push(request.frame.value.ciphertext);
    }
    if (!header) throw refuse('bad_framing', 'the first frame must be the release header');
    const release = header;
    const set = await this.decryptingSet();
    const answers = await Promise.all(
      set.map(async (id, position) => {
        const member = this.members[id - 1]!;
        const i = id - 1;
        let shareHeader: ShareHeader | undefined;
        const shares: Uint8Array[] = [];
        const frames = shareFrames(release, ciphertexts, position === 0, this.threshold < this.count ? set : []);
        for await (const response of member.releaseShare(frames, options)) {
          if (response.frame.case === 'header') shareHeader = response.frame.value;
          else if (response.frame.case === 'share') shares.push(response.frame.value.share);
        }
        if (!shareHeader) throw refuse('bad_peer_reply', `keyholder ${i + 1} sent no share header`);
        if (shares.length !== ciphertexts.length) throw refuse('bad_peer_reply', `keyholder ${i + 1} sent ${shares.length} of ${ciphertexts.length} shares`);
        if (shareHeader.includeC0 !== (position === 0)) throw refuse('bad_peer_reply', `keyholder ${i + 1} answered with the wrong c0 role`);
        return { shareHeader, shares };
      }),
    );
    const headers = answers.map((a) => a.shareHeader);
    const h0 = headers[0]!;
    headers.forEach((h, i) => {
      if (h.roundId !== release.roundId || h.vectorLength !== h0.vectorLength || h.contributionCount !== release.contributionCount) {
        throw refuse('bad_peer_reply', `keyholder ${i + 1}'s share header is for another round, length or count than the release asked`);
      }
    });
    const params = paramsOf(headers);
    const vectorLength = h0.vectorLength;
    const sum = new Float64Array(vectorLength);
    for (let c = 0; c < ciphertexts.length; c++) {
      const values = combineDecryptionShares(params, answers.map((a) => a.shares[c]!));
      const offset = c * values.length;
      sum.set(values.subarray(0, Math.max(0, Math.min(values.length, vectorLength - offset))), offset);
    }
    const perValue = Math.min(...headers.map((h) => h.rangeBoundPerValue));
    const l2 = Math.min(...headers.map((h) => h.rangeBoundL2));
    if (!withinBounds(sum, perValue, l2)) {
      sum.fill(0);
      throw refuse('out_of_range', COMBINED_OUT_OF_RANGE);
    }
    const noiseDisabled = headers.some((h) => h.noiseDisabled);
    const result = create(ResultHeaderSchema, {
      roundId: release.roundId,
      contributionCount: release.contributionCount,
      vectorLength,
      // Every member of the decrypting set added its own σ: the sum carries √t·σ.
      noiseSigma: h0.noiseSigma * Math.sqrt(headers.length),
      gridStep: h0.gridStep,
      epsilonSpent: Math.max(...headers.map((h) => h.epsilonSpent)),
      delta: Math.max(...headers.map((h) => h.delta)),
      noiseDisabled,
      contributorsSha256: release.contributorsSha256,
      releasedUnixMs: BigInt(Date.now()),
    });
    yield create(ReleaseRoundResponseSchema, { frame: { case: 'header', value: result } });
    for (let start = 0; start < vectorLength; start += VALUES_PER_MESSAGE) {
      const piece = sum.subarray(start, Math.min(vectorLength, start + VALUES_PER_MESSAGE));
      yield create(ReleaseRoundResponseSchema, {
        frame: { case: 'values', value: { offset: start, sumF64le: new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength) } },
      });
    }
  }

  /**
   * The keyholders whose shares a release adds: all of them (n-of-n), or the
   * first t by index whose channel is ready within a few seconds (t-of-n).
   * Deterministic given who is up, so a retry after a member failed
   * mid-release asks the same set again once it is back: each member answers
   * one set per round (another is ABORTED), which keeps the release single.
   */
  private async decryptingSet(): Promise<number[]> {
    const all = this.members.map((_, i) => i + 1);
    if (this.threshold === this.count) return all;
    const ready = await Promise.all(
      this.members.map(
        (m) => new Promise<boolean>((resolve) => m.raw.waitForReady(Date.now() + READY_WAIT_MS, (error) => resolve(error === undefined || error === null))),
      ),
    );
    const up = all.filter((_, i) => ready[i]);
    if (up.length < this.threshold) {
      throw refuse('committee_unreachable', `${up.length} of ${this.count} keyholders reachable; a release needs ${this.threshold}`);
    }
    return up.slice(0, this.threshold);
  }

  /** Each member keeps its own ledger: the budget is set on every one. */
  readonly setGroupPrivacyBudget: Method<'setGroupPrivacyBudget'> = async (request, options) => {
    const answers = await Promise.all(this.members.map((m) => m.setGroupPrivacyBudget(request, options)));
    return answers[0]!;
  };

  /** The member whose group has spent the most (the one that refuses first). */
  readonly getGroupPrivacyBudget: Method<'getGroupPrivacyBudget'> = async (request, options) => {
    const answers = await Promise.all(this.members.map((m) => m.getGroupPrivacyBudget(request, options)));
    return answers.reduce((a, b) => ((b.budget?.epsilonSpent ?? 0) > (a.budget?.epsilonSpent ?? 0) ? b : a));
  };

  readonly createKeyShare: Method<'createKeyShare'> = () => notThroughCommittee('CreateKeyShare');
  readonly signCollectiveKey: Method<'signCollectiveKey'> = () => notThroughCommittee('SignCollectiveKey');
  readonly releaseShare: Method<'releaseShare'> = () => notThroughCommittee('ReleaseShare');
  readonly dealKeyShares: Method<'dealKeyShares'> = () => notThroughCommittee('DealKeyShares');
  readonly acceptKeyShares: Method<'acceptKeyShares'> = () => notThroughCommittee('AcceptKeyShares');

  close(): void {
    for (const m of this.members) m.close();
  }
}

function notThroughCommittee(method: string): never {
  throw refuse('not_served', `${method} is a member call: call a keyholder of the committee, not the committee`);
}

function* shareFrames(header: ReleaseHeader, ciphertexts: readonly Uint8Array[], includeC0: boolean, decryptingKeyholders: number[]): Generator<ReleaseShareRequest> {
  yield {
    $typeName: 'secagg.keyholder.v1.ReleaseShareRequest',
    frame: { case: 'header', value: { $typeName: 'secagg.keyholder.v1.ShareRequestHeader', release: header, includeC0, decryptingKeyholders } },
  };
  for (let index = 0; index < ciphertexts.length; index++) {
    yield {
      $typeName: 'secagg.keyholder.v1.ReleaseShareRequest',
      frame: { case: 'chunk', value: { $typeName: 'secagg.keyholder.v1.ReleaseChunk', index, ciphertext: ciphertexts[index]! } },
    };
  }
}

/** The round's CKKS parameters, from the members' headers (which must agree). */
function paramsOf(headers: readonly ShareHeader[]): CkksParams {
  const ckks = headers[0]!.ckks;
  if (!ckks || headers.some((h) => !h.ckks || !equals(CkksParametersSchema, h.ckks, ckks))) {
    throw refuse('bad_peer_reply', `round ${headers[0]!.roundId}: the keyholders' share headers disagree on the CKKS parameters`);
  }
  return toCkksParams(ckks);
}

function withinBounds(values: Float64Array, perValue: number, l2: number): boolean {
  let squares = 0;
  for (const v of values) {
    if (!(Math.abs(v) <= perValue)) return false;
    squares += v * v;
  }
  return Math.sqrt(squares) <= l2;
}

/** Where a service finds its keyholder(s): one address, or a committee's addresses in committee order and its threshold. */
export interface KeyholderEndpoints {
  keyholderAddress?: string | undefined;
  /** Comma-separated host:port of keyholder 1, 2, … n. */
  keyholderCommitteeAddresses?: string | undefined;
  keyholderCommitteeThreshold?: number | undefined;
}

/** The addresses to probe, and the committee stated in every round's config (undefined for the single keyholder). */
export function keyholderTopology(endpoints: KeyholderEndpoints): { addresses: string[]; committee: KeyholderCommitteeMessage | undefined } {
  const list = endpoints.keyholderCommitteeAddresses?.split(',').map((a) => a.trim()).filter((a) => a !== '') ?? [];
  if (list.length === 0) {
    if (!endpoints.keyholderAddress) throw new Error('invalid configuration: a keyholder address or a keyholder committee is required');
    return { addresses: [endpoints.keyholderAddress], committee: undefined };
  }
  if (endpoints.keyholderAddress) throw new Error('invalid configuration: set either a keyholder address or a keyholder committee, not both');
  const threshold = endpoints.keyholderCommitteeThreshold ?? list.length;
  checkCommittee(list.length, threshold, 'keyholder committee');
  return { addresses: list, committee: create(KeyholderCommitteeSchema, { count: list.length, threshold }) };
}

/** The client of the single keyholder, or of the committee (each member over the same credentials). */
export function connectKeyholders(endpoints: KeyholderEndpoints, settings: ClientSettings): KeyholderClient | KeyholderCommittee {
  const { addresses, committee } = keyholderTopology(endpoints);
  const clients = addresses.map((address) => createClient(KeyholderServiceDesc, address, settings));
  return committee ? new KeyholderCommittee(clients, committee.threshold) : clients[0]!;
}
