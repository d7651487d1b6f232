/**
 * The wire-format test vectors of docs/WIRE_FORMAT.md, computed from the code
 * (packages/ckks, packages/protocol, the generated protobuf code and real
 * node-seal). `docs/wire-format-vectors.json` is this function's output; the
 * wire-format test recomputes it and compares, and checks it against the
 * independent reference in reference.ts. Regenerate after a deliberate
 * format change with `npm run wire-format:vectors`.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  assertCkksParams,
  CkksEngine,
  ciphertextByteLength,
  ciphertextCount,
  ciphertextFormat,
  maxRepresentable,
  PRESETS,
  publicKeyByteLengths,
  secretKeyByteLength,
  validateCiphertext,
  valuesPerCiphertext,
  type CkksParams,
  type PresetName,
} from '@secagg/ckks';
import {
  CkksParametersSchema,
  Encoding,
  GetResultResponseSchema,
  RoundConfigSchema,
  RoundAttestationSchema,
  RoundKind,
  SubmitUpdateRequestSchema,
  type CkksParameters,
  type RoundConfig,
} from '@secagg/proto';
import { contributorsDigest, float64ToBytes, RoundSigner, roundStatementBytes, verificationKeyId } from '@secagg/protocol';
import { encodedIntegers, minimalPrimitiveRoot, residues, sealCoeffModulus, u64le } from './reference.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

export const DEFAULT_PRESET_NAME: PresetName = 'n4096-q60p49';

/** Fixed inputs of the vectors (part of the published file, so other implementations use the same). */
export const INPUTS = {
  coefficientValues: [0.5, -0.25, 1, -1, 0.1, 3.14159, -2.5e-6, 0, 2 ** -41, -3 * 2 ** -41],
  coefficientScaleBits: 40,
  headerScaleBits: [40, 52],
  contributors: [
    { clientId: 'client-2', updateId: 'u-b' },
    { clientId: 'client-10', updateId: 'retry.1' },
    { clientId: 'alice@example.org', updateId: '7f3c' },
  ],
  /** Upload chunk c: `length` bytes, byte j = (j + 31·c) mod 251. */
  uploadChunks: { count: 2, length: 65_649 },
  /** RFC 8032 section 7.1, TEST 1: an Ed25519 key anyone can reproduce. Never a real key. */
  signingKeySeedHex: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  roundId: 'r-TESTVECTOR01',
  /** The statement holds only the SHA-256 of the public key: 32 stand-in bytes 0x00..0x1f. */
  publicKeyStandInHex: Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('hex'),
  resultSum: [1.5, -2.25, 0.001, 1e6],
  resultContributionCount: 3,
} as const;

export function uploadChunk(c: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let j = 0; j < length; j++) bytes[j] = (j + 31 * c) % 251;
  return bytes;
}

/** PKCS#8 DER of an Ed25519 private key from its 32-byte seed (RFC 8410). */
export function ed25519Pkcs8Pem(seedHex: string): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

export const VECTOR_CONFIG: Omit<RoundConfig, '$typeName'> = {
  vectorLength: 10_000,
  minClients: 3,
  maxClients: 10,
  deadlineUnixMs: 1_796_601_600_000n,
  clipNorm: 1,
  noiseMultiplier: 1.1,
  preset: '',
  encoding: Encoding.UNSPECIFIED,
  unsafeDisableNoise: false,
  privacyGroup: '',
  samplingRate: 0,
  // A gradient round: the default kind, not serialized (the vectors' bytes are those of a round without kinds).
  kind: RoundKind.UNSPECIFIED,
};

export function vectorCkks(): Omit<CkksParameters, '$typeName'> {
  const params: CkksParams = { preset: DEFAULT_PRESET_NAME, encoding: 'coefficients', scaleBits: 52 };
  return {
    preset: DEFAULT_PRESET_NAME,
    encoding: Encoding.COEFFICIENTS,
    scaleBits: 52,
    valuesPerCiphertext: valuesPerCiphertext(params),
    ciphertextBytes: ciphertextByteLength(params),
    ciphertextCount: ciphertextCount(params, VECTOR_CONFIG.vectorLength),
  };
}

/**
 * A full-form public key that makes SEAL's encryption deterministic in c0 on
 * a preset with a special prime p: pk0 = 0 and pk1 = the constant p. SEAL
 * encrypts zero at the key level, (pk0·u + e1, pk1·u + e2) = (e1, p·u + e2),
 * and divides by p with rounding: (0, u). Then it adds the plaintext to c0, so
 * c0 is exactly the NTT-form plaintext. Test-only, obviously insecure.
 */
export function transparentC0PublicKey(preset: PresetName, keyParmsIdHex: string, primes: readonly bigint[]): Uint8Array {
  const n = PRESETS[preset].polyModulusDegree;
  const k = primes.length;
  const length = publicKeyByteLengths(preset).full;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  const sealHeader = (at: number, size: number) => {
    view.setUint16(at, 0xa15e, true);
    view.setUint8(at + 2, 16);
    view.setUint8(at + 3, 4);
    view.setUint8(at + 4, 1);
    view.setBigUint64(at + 8, BigInt(size), true);
  };
  sealHeader(0, length);
  bytes.set(Buffer.from(keyParmsIdHex, 'hex'), 16);
  view.setUint8(48, 1);
  view.setBigUint64(49, 2n, true);
  view.setBigUint64(57, BigInt(n), true);
  view.setBigUint64(65, BigInt(k), true);
  view.setFloat64(73, 1, true);
  view.setBigUint64(81, 1n, true);
  sealHeader(89, 16 + 8 + 2 * k * n * 8);
  view.setBigUint64(105, BigInt(2 * k * n), true);
  const special = primes[k - 1]!;
  // pk1 = constant p: its NTT is p in every slot, residue p mod q_j (0 mod p itself).
  for (let j = 0; j < k; j++) {
    const residue = special % primes[j]!;
    for (let i = 0; i < n; i++) view.setBigUint64(113 + (k + j) * n * 8 + i * 8, residue, true);
  }
  return bytes;
}

interface Mutation {
  mutation: string;
  apply: (ct: Uint8Array, q: bigint) => Uint8Array;
}

/** Mutations of any valid ciphertext (default preset, scale 2^40) and the reason the validator must give. */
export const MUTATIONS: Mutation[] = [
  { mutation: 'drop the last byte', apply: (ct) => ct.slice(0, ct.length - 1) },
  { mutation: 'byte 0 := 0x00 (magic 0xA15E, little-endian)', apply: (ct) => set(ct, 0, [0]) },
  { mutation: 'byte 3 := 3 (SEAL version major)', apply: (ct) => set(ct, 3, [3]) },
  { mutation: 'byte 5 := 2 (compression mode zstd)', apply: (ct) => set(ct, 5, [2]) },
  { mutation: 'byte 16 ^= 0x01 (parms_id)', apply: (ct) => set(ct, 16, [ct[16]! ^ 1]) },
  { mutation: 'byte 48 := 0 (is_ntt_form)', apply: (ct) => set(ct, 48, [0]) },
  { mutation: 'uint64 at 49 := 3 (size)', apply: (ct) => setU64(ct, 49, 3n) },
  { mutation: 'float64 at 73 := 2^41 (scale)', apply: (ct) => setF64(ct, 73, 2 ** 41) },
  { mutation: 'uint64 at 81 := 2 (correction factor)', apply: (ct) => setU64(ct, 81, 2n) },
  { mutation: 'coefficient 5 of c0 := q', apply: (ct, q) => setU64(ct, 113 + 5 * 8, q) },
  { mutation: 'coefficient 0 of c1 := 2^64 - 1', apply: (ct) => setU64(ct, 113 + 4096 * 8, 2n ** 64n - 1n) },
  { mutation: 'c1 := all zero', apply: (ct) => { const out = ct.slice(); out.fill(0, 113 + 4096 * 8); return out; } },
];

function set(ct: Uint8Array, at: number, bytes: number[]): Uint8Array {
  const out = ct.slice();
  out.set(bytes, at);
  return out;
}
function setU64(ct: Uint8Array, at: number, v: bigint): Uint8Array {
  const out = ct.slice();
  new DataView(out.buffer).setBigUint64(at, v, true);
  return out;
}
function setF64(ct: Uint8Array, at: number, v: number): Uint8Array {
  const out = ct.slice();
  new DataView(out.buffer).setFloat64(at, v, true);
  return out;
}

/** The largest scale_bits the code accepts for `preset` (SEAL: floor(log2 scale) + 1 < data modulus bits). */
function maxScaleBits(preset: PresetName): number {
  let s = 1;
  for (;;) {
    try {
      assertCkksParams({ preset, encoding: 'coefficients', scaleBits: s + 1 });
      s++;
    } catch {
      return s;
    }
  }
}

const u64At = (bytes: Uint8Array, at: number): bigint => new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true);

export async function computeWireFormatVectors(): Promise<Record<string, unknown>> {
  // Presets: what the code records, and what SEAL itself writes into a fresh public key.
  const presets: Record<string, unknown> = {};
  const publicKeyHeaders: Record<string, unknown> = {};
  const keyLevel = new Map<PresetName, { parmsIdHex: string; primes: bigint[] }>();
  for (const name of Object.keys(PRESETS) as PresetName[]) {
    const preset = PRESETS[name];
    const n = preset.polyModulusDegree;
    const coeffs: CkksParams = { preset: name, encoding: 'coefficients', scaleBits: 20 };
    const format = ciphertextFormat(coeffs);
    const engine = await CkksEngine.create(coeffs);
    let publicKey: Uint8Array;
    try {
      publicKey = engine.generateKeyPair().publicKey;
    } finally {
      engine.dispose();
    }
    // Key-level primes: the data primes the code records, then the special prime by SEAL's rule (checked in the test).
    const keyPrimes = preset.coeffModulusBits.length > 1 ? sealCoeffModulus(n, preset.coeffModulusBits) : format.moduli.map((m) => BigInt(m.decimal));
    const keyParmsIdHex = hex(publicKey.subarray(16, 48));
    keyLevel.set(name, { parmsIdHex: keyParmsIdHex, primes: keyPrimes });
    const lengths = publicKeyByteLengths(name);
    const k = keyPrimes.length;
    presets[name] = {
      polyModulusDegree: n,
      coeffModulusBits: preset.coeffModulusBits,
      dataPrimes: format.moduli.map((m) => m.decimal),
      specialPrime: preset.coeffModulusBits.length > 1 ? keyPrimes[k - 1]!.toString() : null,
      // ψ of each data prime: SEAL's NTT evaluates at its odd powers (reference.ts; checked against SEAL on the default preset).
      nttRoots: format.moduli.map((m) => minimalPrimitiveRoot(BigInt(m.decimal), n).toString()),
      dataParmsIdHex: format.parmsIdHex,
      keyParmsIdHex,
      valuesPerCiphertext: { coefficients: valuesPerCiphertext(coeffs), slots: valuesPerCiphertext({ ...coeffs, encoding: 'slots' }) },
      ciphertextBytes: format.byteLength,
      publicKeyBytes: lengths,
      secretKeyBytes: secretKeyByteLength(name),
      maxScaleBits: maxScaleBits(name),
    };
    publicKeyHeaders[name] = {
      // A fresh SEAL key is in the seeded form: this prefix, c0 (k·N words), then the 81-byte seed info.
      seededLength: publicKey.length,
      seededHeaderHex: hex(publicKey.subarray(0, 113)),
      seedInfoHeaderHex: hex(publicKey.subarray(113 + k * n * 8, 113 + k * n * 8 + 16)),
      prngType: publicKey[113 + k * n * 8 + 16],
    };
  }

  const ciphertextHeaders = (Object.keys(PRESETS) as PresetName[]).flatMap((preset) =>
    INPUTS.headerScaleBits.filter((s) => s <= (presets[preset] as { maxScaleBits: number }).maxScaleBits).map((scaleBits) => ({
      preset,
      scaleBits,
      headerHex: ciphertextFormat({ preset, encoding: 'coefficients', scaleBits }).headerHex,
    })),
  );

  // Coefficient encoding on the default preset, c0 taken from SEAL's own encryption under the key that makes it exact.
  const params: CkksParams = { preset: DEFAULT_PRESET_NAME, encoding: 'coefficients', scaleBits: INPUTS.coefficientScaleBits };
  const format = ciphertextFormat(params);
  const n = format.polyModulusDegree;
  const q = BigInt(format.moduli[0]!.decimal);
  const key = keyLevel.get(DEFAULT_PRESET_NAME)!;
  const engine = await CkksEngine.create(params);
  let c0: Uint8Array;
  let validation: { mutation: string; reason: string }[];
  try {
    const encryptor = engine.createEncryptor(transparentC0PublicKey(DEFAULT_PRESET_NAME, key.parmsIdHex, key.primes));
    const ct = encryptor.encrypt(Float64Array.from(INPUTS.coefficientValues));
    c0 = ct.slice(113, 113 + n * 8);
    const real = engine.createEncryptor(engine.generateKeyPair().publicKey).encrypt(Float64Array.from(INPUTS.coefficientValues));
    validation = MUTATIONS.map(({ mutation, apply }) => {
      const verdict = validateCiphertext(format, apply(real, q));
      return { mutation, reason: verdict.ok ? 'ACCEPTED' : verdict.reason };
    });
  } finally {
    engine.dispose();
  }
  const integers = encodedIntegers(INPUTS.coefficientValues, INPUTS.coefficientScaleBits);
  const residueWords = residues(integers, q);
  const allResidues = u64le([...residueWords, ...Array<bigint>(n - residueWords.length).fill(0n)]);
  const firstNtt = Array.from({ length: 8 }, (_, i) => u64At(c0, i * 8).toString());

  // Contributors digest.
  const lines = INPUTS.contributors.map((c) => `${c.clientId}/${c.updateId}`).sort();
  const digestInput = lines.join('\n');

  // Upload stream.
  const chunks = Array.from({ length: INPUTS.uploadChunks.count }, (_, c) => uploadChunk(c, INPUTS.uploadChunks.length));
  const trailer = createHash('sha256');
  for (const c of chunks) trailer.update(c);
  const trailerBytes = trailer.digest();
  const headerFrame = toBinary(
    SubmitUpdateRequestSchema,
    create(SubmitUpdateRequestSchema, { frame: { case: 'header', value: { roundId: INPUTS.roundId, updateId: 'u-1', vectorLength: 10_000, ciphertextCount: 3 } } }),
  );
  const chunkFrame = toBinary(SubmitUpdateRequestSchema, create(SubmitUpdateRequestSchema, { frame: { case: 'chunk', value: { index: 1, ciphertext: chunks[1]! } } }));
  const trailerFrame = toBinary(SubmitUpdateRequestSchema, create(SubmitUpdateRequestSchema, { frame: { case: 'trailer', value: { sha256: trailerBytes } } }));

  // Round attestation under the RFC 8032 test key.
  const signer = RoundSigner.fromPem(ed25519Pkcs8Pem(INPUTS.signingKeySeedHex));
  const verificationKey = createPublicKey(signer.verificationKeyPem);
  const spki = verificationKey.export({ type: 'spki', format: 'der' });
  const statement = roundStatementBytes({
    roundId: INPUTS.roundId,
    config: create(RoundConfigSchema, VECTOR_CONFIG),
    ckks: create(CkksParametersSchema, vectorCkks()),
    publicKey: Buffer.from(INPUTS.publicKeyStandInHex, 'hex'),
  });
  const attestation = signer.sign(statement);

  // Result stream: one values frame of a tiny release.
  const sum = Float64Array.from(INPUTS.resultSum);
  const mean = sum.map((v) => v / INPUTS.resultContributionCount);
  const valuesFrame = toBinary(
    GetResultResponseSchema,
    create(GetResultResponseSchema, { frame: { case: 'values', value: { offset: 0, sumF64le: float64ToBytes(sum), meanF64le: float64ToBytes(mean) } } }),
  );

  return {
    about:
      'Test vectors of docs/WIRE_FORMAT.md, computed from the code with real node-seal (SEAL 4.1.2) by test/src/wire-format/vectors.ts ' +
      'and checked in CI by test/src/wire-format-vectors.test.ts. Byte strings are lowercase hex; uint64 values are decimal strings.',
    inputs: {
      ...INPUTS,
      roundConfig: { ...VECTOR_CONFIG, deadlineUnixMs: VECTOR_CONFIG.deadlineUnixMs.toString(), encoding: 'ENCODING_UNSPECIFIED' },
      ckksParameters: { ...vectorCkks(), encoding: 'ENCODING_COEFFICIENTS' },
    },
    presets,
    ciphertextHeaders,
    publicKeyHeaders,
    ciphertextValidation: { preset: DEFAULT_PRESET_NAME, scaleBits: INPUTS.coefficientScaleBits, byteLength: format.byteLength, cases: validation },
    coefficientEncoding: {
      preset: DEFAULT_PRESET_NAME,
      scaleBits: INPUTS.coefficientScaleBits,
      prime: q.toString(),
      maxAbsValue: maxRepresentable(params),
      integers: integers.map(String),
      residues: residueWords.map(String),
      residuesBlockSha256: sha256(allResidues),
      nttFirstWords: firstNtt,
      nttBlockSha256: sha256(c0),
      chunking: { vectorLength: 10_000, valuesPerCiphertext: n, ciphertextCount: ciphertextCount(params, 10_000), valuesInLastChunk: 10_000 - 2 * n, zeroPaddingInLastChunk: 3 * n - 10_000 },
    },
    contributorsDigest: { lines, input: digestInput, sha256: hex(contributorsDigest(INPUTS.contributors)) },
    uploadStream: {
      chunkSha256: chunks.map((c) => sha256(c)),
      trailerSha256: hex(trailerBytes),
      headerFrameHex: hex(headerFrame),
      chunkFramePrefixHex: hex(chunkFrame.subarray(0, chunkFrame.length - chunks[1]!.length)),
      trailerFrameHex: hex(trailerFrame),
    },
    roundAttestation: {
      verificationKeyRawHex: hex(spki.subarray(spki.length - 32)),
      verificationKeySpkiDerHex: hex(spki),
      keyId: verificationKeyId(verificationKey),
      publicKeySha256: sha256(Buffer.from(INPUTS.publicKeyStandInHex, 'hex')),
      statementHex: hex(statement),
      signatureHex: hex(attestation.signatures[0]!.ed25519Signature),
      attestationHex: hex(toBinary(RoundAttestationSchema, attestation)),
    },
    resultStream: {
      sumF64leHex: hex(float64ToBytes(sum)),
      meanF64leHex: hex(float64ToBytes(mean)),
      valuesFrameHex: hex(valuesFrame),
    },
  };
}
