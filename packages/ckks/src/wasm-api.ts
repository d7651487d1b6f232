/**
 * The few WebAssembly globals this package touches, typed locally: the
 * project's `lib`/`types` (ES2023 + node) do not declare the WebAssembly
 * namespace, and these types must not leak into the public declarations.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  Exception: abstract new (...args: never[]) => { message?: unknown };
  Memory: abstract new (...args: never[]) => WasmMemory;
  instantiate(bytes: Uint8Array, imports: unknown): Promise<{ instance: WasmInstance; module: unknown }>;
}

export const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
