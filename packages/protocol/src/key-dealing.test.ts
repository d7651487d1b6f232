/** The sealed channel of a t-of-n key dealing (issue 16): what a relaying gateway can and cannot do. */
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { createPublicKey, randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { SignedDealingKeySchema } from '@secagg/proto';
import { newDealingKey, openDealtShare, sealDealtShare, verifyDealingKey } from './key-dealing.js';
import { RoundSigner } from './round-attestation.js';

const keyholder1 = RoundSigner.generate();
const keyholder2 = RoundSigner.generate();
const pinned = (signer: RoundSigner) => createPublicKey(signer.verificationKeyPem);

describe('key dealing channel', () => {
  const one = newDealingKey(keyholder1, 'r-deal', 1);
  const two = newDealingKey(keyholder2, 'r-deal', 2);

  it('a share sealed from 1 to 2 opens at 2 only, for that round, sender and recipient', () => {
    const share = randomBytes(1000);
    const peer1 = verifyDealingKey(one.signed, 'r-deal', 1, pinned(keyholder1));
    const peer2 = verifyDealingKey(two.signed, 'r-deal', 2, pinned(keyholder2));
    const sealed = sealDealtShare(one.privateKey, peer2, 'r-deal', 1, 2, share);
    assert.deepEqual(Buffer.from(openDealtShare(two.privateKey, peer1, 'r-deal', 1, 2, sealed)), share);
    assert.throws(() => openDealtShare(two.privateKey, peer1, 'r-other', 1, 2, sealed), /does not authenticate/);
    assert.throws(() => openDealtShare(two.privateKey, peer1, 'r-deal', 3, 2, sealed), /does not authenticate/);
    const tampered = Uint8Array.from(sealed);
    tampered[20]! ^= 1;
    assert.throws(() => openDealtShare(two.privateKey, peer1, 'r-deal', 1, 2, tampered), /does not authenticate/);
    // The gateway's own dealing key cannot open it either.
    const gateway = newDealingKey(RoundSigner.generate(), 'r-deal', 1);
    assert.throws(() => openDealtShare(gateway.privateKey, peer1, 'r-deal', 1, 2, sealed), /does not authenticate/);
  });

  it('a dealing key verifies only with its keyholder pinned key, round and index', () => {
    assert.throws(() => verifyDealingKey(one.signed, 'r-deal', 1, pinned(keyholder2)), /signature does not verify/);
    assert.throws(() => verifyDealingKey(one.signed, 'r-other', 1, pinned(keyholder1)), /not about this key, keyholder and round/);
    assert.throws(() => verifyDealingKey(one.signed, 'r-deal', 2, pinned(keyholder1)), /not about this key, keyholder and round/);
    // A substituted X25519 key under the genuine signed statement (a gateway in the middle) is refused.
    const swapped = create(SignedDealingKeySchema, { ...one.signed, x25519PublicKey: two.signed.x25519PublicKey });
    assert.throws(() => verifyDealingKey(swapped, 'r-deal', 1, pinned(keyholder1)), /not about this key, keyholder and round/);
  });
});
