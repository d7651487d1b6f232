/**
 * The private channel of a t-of-n committee's key dealing (issue 16): keyholder
 * i sends keyholder j its Shamir share f_i(j) through the gateway, which must
 * learn nothing and change nothing.
 *
 * - Each keyholder draws a per-round X25519 dealing key (kept in memory only)
 *   and signs it with its long-lived Ed25519 signing key, over a
 *   RoundStatement whose tag is {@link DEALING_KEY_TAG} (never accepted as a
 *   round statement: the SDK requires the round-statement tag), round_id the
 *   round and public_key_sha256 = SHA-256(index byte ‖ key). Keyholders pin
 *   each other's verification keys (KEYHOLDER_COMMITTEE_VERIFICATION_KEYS).
 * - f_i(j) is sealed with AES-256-GCM under HKDF-SHA256(X25519(x_i, X_j),
 *   salt = round id, info = "secagg-deal-v1 i->j"), associated data the same
 *   string: only i and j can derive the key, and a share cannot be replayed
 *   to another round, sender or recipient. The gateway relays ciphertexts.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  verify,
  type KeyObject,
} from 'node:crypto';
import { refuse } from '@secagg/core';
import { RoundStatementSchema, SignedDealingKeySchema, type SignedDealingKey } from '@secagg/proto';
import type { RoundSigner } from './round-attestation.js';

/** The tag of a signed dealing key's statement (domain separation from round statements). */
export const DEALING_KEY_TAG = 'secagg.dealing-key.v1';

/** DER prefix of an X25519 SubjectPublicKeyInfo; the raw 32-byte key follows. */
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

function keyDigest(index: number, key: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(index)).update(key).digest());
}

/** A fresh dealing key pair, its public half signed by this keyholder (`index` in the committee). */
export function newDealingKey(signer: RoundSigner, roundId: string, index: number): { privateKey: KeyObject; signed: SignedDealingKey } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const raw = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }).subarray(X25519_SPKI_PREFIX.length));
  const statement = toBinary(
    RoundStatementSchema,
    create(RoundStatementSchema, { tag: DEALING_KEY_TAG, roundId, publicKeySha256: keyDigest(index, raw) }),
  );
  const signature = signer.sign(statement).signatures[0]!.ed25519Signature;
  return { privateKey, signed: create(SignedDealingKeySchema, { x25519PublicKey: raw, statement, ed25519Signature: signature }) };
}

/** Checks keyholder `index`'s signed dealing key for `roundId` against its pinned verification key; returns the raw key. */
export function verifyDealingKey(signed: SignedDealingKey | undefined, roundId: string, index: number, verificationKey: KeyObject): Uint8Array {
  const badKey = (why: string) => refuse('bad_key_share', `dealing key of keyholder ${index}: ${why}`);
  if (!signed || signed.x25519PublicKey.length !== 32) throw badKey('missing or not 32 bytes');
  if (!verify(null, signed.statement, verificationKey, signed.ed25519Signature)) throw badKey('its signature does not verify with its pinned key');
  const statement = fromBinary(RoundStatementSchema, signed.statement);
  const digest = keyDigest(index, signed.x25519PublicKey);
  if (statement.tag !== DEALING_KEY_TAG || statement.roundId !== roundId || statement.publicKeySha256.length !== 32 || !timingSafeEqual(statement.publicKeySha256, digest)) {
    throw badKey('the signed statement is not about this key, keyholder and round');
  }
  return signed.x25519PublicKey;
}

function channelKey(privateKey: KeyObject, peer: Uint8Array, roundId: string, info: string): Buffer {
  const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, peer]), format: 'der', type: 'spki' });
  const secret = diffieHellman({ privateKey, publicKey });
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(roundId, 'utf8'), Buffer.from(info, 'utf8'), 32));
}

const infoOf = (from: number, to: number) => `secagg-deal-v1 ${from}->${to}`;

/** Seals `share` from keyholder `from` to keyholder `to`: nonce ‖ ciphertext ‖ tag. */
export function sealDealtShare(privateKey: KeyObject, peer: Uint8Array, roundId: string, from: number, to: number, share: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const info = infoOf(from, to);
  const cipher = createCipheriv('aes-256-gcm', channelKey(privateKey, peer, roundId, info), nonce);
  cipher.setAAD(Buffer.from(`${roundId}|${info}`, 'utf8'));
  return new Uint8Array(Buffer.concat([nonce, cipher.update(share), cipher.final(), cipher.getAuthTag()]));
}

/** Opens what keyholder `from` sealed for keyholder `to`; INVALID_ARGUMENT if it does not authenticate. */
export function openDealtShare(privateKey: KeyObject, peer: Uint8Array, roundId: string, from: number, to: number, sealed: Uint8Array): Uint8Array {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw refuse('bad_key_share', `the share dealt by keyholder ${from} is too short`);
  const info = infoOf(from, to);
  const decipher = createDecipheriv('aes-256-gcm', channelKey(privateKey, peer, roundId, info), sealed.subarray(0, NONCE_BYTES));
  decipher.setAAD(Buffer.from(`${roundId}|${info}`, 'utf8'));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return new Uint8Array(Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]));
  } catch (error) {
    throw refuse('bad_key_share', `the share dealt by keyholder ${from} does not authenticate`, { cause: error });
  }
}
