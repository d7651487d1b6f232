/** Conversion between the wire's CkksParameters and the CKKS library's parameters. */
import { Code, SecaggError } from '@secagg/core';
import { Encoding, type CkksParameters } from '@secagg/proto';
import { ciphertextFormat, isPresetName, type CiphertextFormat, type CkksParams, type Encoding as EncodingName } from '@secagg/ckks';

export function encodingName(encoding: Encoding): EncodingName {
  switch (encoding) {
    case Encoding.COEFFICIENTS:
      return 'coefficients';
    case Encoding.SLOTS:
      return 'slots';
    default:
      throw new SecaggError(Code.InvalidArgument, `unknown encoding ${encoding}`, { errorCode: 'bad_encoding' });
  }
}

export function encodingEnum(name: EncodingName): Encoding {
  return name === 'coefficients' ? Encoding.COEFFICIENTS : Encoding.SLOTS;
}

/** The library parameters a round's CkksParameters describe. */
export function toCkksParams(parameters: CkksParameters): CkksParams {
  if (!isPresetName(parameters.preset)) {
    throw new SecaggError(Code.InvalidArgument, `unknown CKKS preset "${parameters.preset}"`, { errorCode: 'bad_preset' });
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
