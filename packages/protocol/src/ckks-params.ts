/** Conversion between the wire's CkksParameters and the CKKS library's parameters. */
import { refuse } from '@secagg/core';
import { Encoding, type CkksParameters } from '@secagg/proto';
import { ciphertextFormat, isPresetName, type CiphertextFormat, type CkksParams, type Encoding as EncodingName } from '@secagg/ckks';

export function encodingName(encoding: Encoding): EncodingName {
  switch (encoding) {
    case Encoding.COEFFICIENTS:
      return 'coefficients';
    case Encoding.SLOTS:
      return 'slots';
    default:
      throw refuse('bad_encoding', `unknown encoding ${encoding}`);
  }
}

export function encodingEnum(name: EncodingName): Encoding {
  return name === 'coefficients' ? Encoding.COEFFICIENTS : Encoding.SLOTS;
}

/** The library parameters a round's CkksParameters describe. */
export function toCkksParams(parameters: CkksParameters): CkksParams {
  if (!isPresetName(parameters.preset)) {
    throw refuse('bad_preset', `unknown CKKS preset "${parameters.preset}"`);
  }
  return { preset: parameters.preset, encoding: encodingName(parameters.encoding), scaleBits: parameters.scaleBits };
}

const formats = new Map<string, CiphertextFormat>();

/** The ciphertext format of a round's parameters, computed once per parameter set (pure data, no keys). */
export function formatOf(parameters: CkksParameters): CiphertextFormat {
  const params = toCkksParams(parameters);
  const key = `${params.preset}/${params.encoding}/${params.scaleBits}`;
  let format = formats.get(key);
  if (!format) {
    format = ciphertextFormat(params);
    formats.set(key, format);
  }
  return format;
}
