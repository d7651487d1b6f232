/**
 * Signed round parameters (issue 10): the keyholder signs a RoundStatement
 * (round id, config, CKKS parameters, SHA-256 of the public key) with a
 * long-lived Ed25519 key; clients verify it against keys they pin before
 * encrypting, so neither a compromised gateway nor a writer of the round store
 * can make them encrypt under another key or with other parameters.
 *
 * Both sides live here so they cannot drift: the keyholder builds and signs,
 * the SDK verifies and compares. The contract, for integrators in other
 * languages, is proto/secagg/round/v1/attestation.proto.
 *
 * Ed25519 comes from node:crypto (OpenSSL); nothing here is hand-rolled.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  CkksParametersSchema,
  RoundAttestationSchema,
  RoundConfigSchema,
  RoundStatementSchema,
  type CkksParameters,
  type RoundAttestation,
  type RoundConfig,
  type RoundStatement,
} from '@secagg/proto';

/** RoundStatement.tag: domain separation and version of the statement format. */
export const ROUND_STATEMENT_TAG = 'secagg.round-statement.v1';

const KEY_ID_BYTES = 8;

/** Why a client refuses a round: it cannot trust what the gateway served. */
export class RoundVerificationError extends Error {
  constructor(
    message: string,
    /** Stable reason for logs and tests. */
    readonly reason: 'no_pinned_key' | 'no_attestation' | 'bad_signature' | 'unknown_signer' | 'bad_statement' | 'mismatch',
  ) {
    super(message);
    this.name = 'RoundVerificationError';
  }
}

/** Key id of a verification key: lowercase hex of the first 8 bytes of SHA-256 over its DER SubjectPublicKeyInfo. */
export function verificationKeyId(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest().subarray(0, KEY_ID_BYTES).toString('hex');
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${what} must be an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  return key;
}

/** A keyholder's signing key (PKCS#8 PEM) with its key id. */
export class RoundSigner {
  readonly keyId: string;
  readonly verificationKeyPem: string;
  private constructor(private readonly privateKey: KeyObject) {
    const publicKey = createPublicKey(privateKey);
    this.keyId = verificationKeyId(publicKey);
    this.verificationKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  static fromPem(pkcs8Pem: string): RoundSigner {
    let key: KeyObject;
    try {
      key = createPrivateKey(pkcs8Pem);
    } catch (error) {
      throw new Error(`the keyholder signing key is not a PEM private key: ${(error as Error).message}`);
    }
    return new RoundSigner(requireEd25519(key, 'the keyholder signing key'));
  }

  /** A fresh key: development keyholders without a configured key, and in-process tests. */
  static generate(): RoundSigner {
    return new RoundSigner(generateKeyPairSync('ed25519').privateKey);
  }

  /** Signs serialized statement bytes exactly as they will travel. */
  sign(statement: Uint8Array): RoundAttestation {
    const signature = sign(null, statement, this.privateKey);
    return create(RoundAttestationSchema, {
      statement,
      signatures: [{ keyId: this.keyId, ed25519Signature: new Uint8Array(signature) }],
    });
  }
}

/** The serialized RoundStatement the keyholder signs for a round. */
export function roundStatementBytes(input: {
  roundId: string;
  config: RoundConfig;
  ckks: CkksParameters;
  publicKey: Uint8Array;
  /** Threshold rounds: every keyholder's public key share, committee order (the statement lists their SHA-256). */
  keyShares?: readonly Uint8Array[];
}): Uint8Array {
  return toBinary(
    RoundStatementSchema,
    create(RoundStatementSchema, {
      tag: ROUND_STATEMENT_TAG,
      roundId: input.roundId,
      config: input.config,
      ckks: input.ckks,
      publicKeySha256: createHash('sha256').update(input.publicKey).digest(),
      keyShareSha256: (input.keyShares ?? []).map((share) => new Uint8Array(createHash('sha256').update(share).digest())),
    }),
  );
}

/**
 * Keyholder verification keys a client pins, by key id. Several during a
 * rotation of the keyholder's signing key (old and new).
 */
export class PinnedKeyholderKeys {
  private constructor(private readonly keys: ReadonlyMap<string, KeyObject>) {}

  /** From PEM public keys (SPKI); a string may hold several PEM blocks. */
  static fromPems(pems: readonly string[]): PinnedKeyholderKeys {
    const keys = new Map<string, KeyObject>();
    for (const text of pems) {
      const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g);
      if (!blocks) throw new Error('a pinned keyholder verification key holds no "PUBLIC KEY" PEM block');
      for (const block of blocks) {
        const key = requireEd25519(createPublicKey(block), 'a pinned keyholder verification key');
        keys.set(verificationKeyId(key), key);
      }
    }
    return new PinnedKeyholderKeys(keys);
  }

  get size(): number {
    return this.keys.size;
  }

  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /**
   * Verifies an attestation and returns the statement it vouches for.
   * Requires `required` valid signatures from distinct pinned keys (1 today:
   * one keyholder; n or t with threshold keyholders, issue 16). Signatures by
   * keys not pinned are ignored; a signature by a pinned key that does not
   * verify refuses the round (someone forged or altered it).
   */
  verify(attestation: RoundAttestation | undefined, roundId: string, required = 1): RoundStatement {
    if (this.keys.size === 0) throw noPinnedKey();
    if (!attestation || attestation.statement.length === 0) {
      throw new RoundVerificationError(
        `round ${roundId} carries no keyholder attestation: its key and parameters cannot be trusted, so nothing is encrypted`,
        'no_attestation',
      );
    }
    const signers = new Set<string>();
    for (const signature of attestation.signatures) {
      const key = this.keys.get(signature.keyId);
      if (!key) continue;
      if (!verify(null, attestation.statement, key, signature.ed25519Signature)) {
        throw new RoundVerificationError(
          `round ${roundId}: the signature by pinned keyholder key ${signature.keyId} does not verify: the round's key or ` +
            'parameters were altered after the keyholder signed them; refusing to encrypt',
          'bad_signature',
        );
      }
      signers.add(signature.keyId);
    }
    if (signers.size < required) {
      const seen = attestation.signatures.map((s) => s.keyId).join(', ') || 'none';
      throw new RoundVerificationError(
        `round ${roundId} is signed by keyholder key(s) [${seen}], ${signers.size} of them pinned (pinned: ${this.keyIds.join(', ')}; ` +
          `${required} needed): refusing to encrypt. If the keyholder rotated its signing key, pin the new verification key too`,
        'unknown_signer',
      );
    }
    let statement: RoundStatement;
    try {
      statement = fromBinary(RoundStatementSchema, attestation.statement);
    } catch (error) {
      throw new RoundVerificationError(`round ${roundId}: the signed statement does not parse: ${(error as Error).message}`, 'bad_statement');
    }
    if (statement.tag !== ROUND_STATEMENT_TAG) {
      throw new RoundVerificationError(`round ${roundId}: the signed statement has tag "${statement.tag}", not "${ROUND_STATEMENT_TAG}"`, 'bad_statement');
    }
    if (statement.roundId !== roundId) {
      throw new RoundVerificationError(`the signed statement is about round ${statement.roundId}, not round ${roundId}`, 'bad_statement');
    }
    if (!statement.config || !statement.ckks || statement.publicKeySha256.length !== 32) {
      throw new RoundVerificationError(`round ${roundId}: the signed statement lacks its config, CKKS parameters or key hash`, 'bad_statement');
    }
    // Threshold keyholders (issue 16): the key is only as good as every share in it, so every keyholder of the committee must have signed.
    const committee = statement.config.keyholders?.count ?? 0;
    if (committee > 0) {
      if (statement.keyShareSha256.length !== committee) {
        throw new RoundVerificationError(
          `round ${roundId}: the signed statement lists ${statement.keyShareSha256.length} key shares for a committee of ${committee}`,
          'bad_statement',
        );
      }
      if (signers.size < committee) {
        throw new RoundVerificationError(
          `round ${roundId}'s key is shared by ${committee} keyholders but ${signers.size} pinned keyholder key(s) signed it ` +
            `(pinned: ${this.keyIds.join(', ')}): pin every keyholder's verification key; refusing to encrypt`,
          'unknown_signer',
        );
      }
    }
    return statement;
  }
}

/** What a client encrypts with, taken from a verified statement. */
export interface VerifiedRound {
  roundId: string;
  config: RoundConfig;
  ckks: CkksParameters;
  publicKey: Uint8Array;
}

/**
 * Checks what the gateway served against a verified statement and returns the
 * statement's values: the public key must hash to the signed hash, and the
 * served config and CKKS parameters must equal the signed ones field for field
 * (a difference means someone altered the round after the keyholder signed it).
 */
export function checkServedRound(
  statement: RoundStatement,
  served: { config: RoundConfig | undefined; ckks: CkksParameters | undefined; publicKey: Uint8Array },
): VerifiedRound {
  const { roundId } = statement;
  const mismatch = (what: string) =>
    new RoundVerificationError(
      `round ${roundId}: the ${what} the gateway served differs from what the keyholder signed; refusing to encrypt`,
      'mismatch',
    );
  const keyHash = createHash('sha256').update(served.publicKey).digest();
  if (!keyHash.equals(statement.publicKeySha256)) throw mismatch('public key');
  const config = statement.config!;
  const ckks = statement.ckks!;
  if (!served.config || !equals(RoundConfigSchema, served.config, config)) throw mismatch(`configuration (${differingFields(served.config, config)})`);
  if (!served.ckks || !equals(CkksParametersSchema, served.ckks, ckks)) throw mismatch(`CKKS parameters (${differingFields(served.ckks, ckks)})`);
  return { roundId, config, ckks, publicKey: served.publicKey };
}

/** Names of the fields that differ, for the refusal message; a nested message (a vote round's `votes`) by dotted path. */
function differingFields<T extends object>(served: T | undefined, signed: T): string {
  if (!served) return 'missing';
  const names = fieldDifferences(served as Record<string, unknown>, signed as Record<string, unknown>, '');
  return names.length > 0 ? names.join(', ') : 'unknown fields';
}

function fieldDifferences(served: Record<string, unknown> | undefined, signed: Record<string, unknown> | undefined, prefix: string): string[] {
  const keys = new Set([...Object.keys(signed ?? {}), ...Object.keys(served ?? {})].filter((k) => k !== '$typeName'));
  return [...keys].flatMap((k) => {
    const a = served?.[k];
    const b = signed?.[k];
    const nested = (x: unknown) => typeof x === 'object' && x !== null && !(x instanceof Uint8Array);
    if (nested(a) || nested(b)) return fieldDifferences(a as Record<string, unknown>, b as Record<string, unknown>, `${prefix}${k}.`);
    return String(a) === String(b) ? [] : [`${prefix}${k}`];
  });
}

function noPinnedKey(): RoundVerificationError {
  return new RoundVerificationError(
    'no keyholder verification key is pinned, so the round key and parameters the gateway serves cannot be checked and nothing is ' +
      'encrypted. Pin the keyholder\'s public key: SDK option keyholderKeys (PEM), CLI --keyholder-key FILE, or the environment ' +
      'variable SECAGG_KEYHOLDER_KEY_FILE (file list) / SECAGG_KEYHOLDER_KEYS (PEM). The operator publishes it ' +
      '(`secagg keyholder keygen` writes it; docs/OPERATIONS.md, "Keyholder signing key")',
    'no_pinned_key',
  );
}
