/**
 * The one place that loads node-seal (STYLE.md: one module owns each foreign
 * thing). Loaded lazily, once per process or worker thread, so importing this
 * package for validation or addition costs no WASM instance.
 *
 * We instantiate the WASM ourselves (Emscripten's `instantiateWasm` hook) only
 * to keep a handle on its linear memory: node-seal does not export it, and the
 * heap size is the figure to watch (DESIGN.md §6: it caps at 4 GiB and never
 * shrinks).
 */
import { readFile } from 'node:fs/promises';
import type { MainModule } from 'node-seal';
import { CkksError, describeThrown } from './errors.js';
import { wasm } from './wasm-api.js';
import type { WasmInstance, WasmMemory } from './wasm-api.js';

/** The node-seal module type. */
export type Seal = MainModule;

let loading: Promise<Seal> | undefined;
let memory: WasmMemory | undefined;

async function instantiate(): Promise<Seal> {
  const { default: initialize } = await import('node-seal');
  const wasmUrl = new URL('seal_throws.wasm', import.meta.resolve('node-seal'));
  const binary = await readFile(wasmUrl);
  let fail: (e: unknown) => void = () => {};
  // Emscripten waits forever if the hook never calls back: surface failures instead.
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const ready = initialize({
    instantiateWasm(imports: unknown, receive: (instance: WasmInstance, module: unknown) => void) {
      wasm.instantiate(binary, imports).then(({ instance, module }) => {
        memory = Object.values(instance.exports).find((v): v is WasmMemory => v instanceof wasm.Memory);
        receive(instance, module);
      }, fail);
      return {};
    },
  });
  return Promise.race([ready, failed]);
}

/**
 * node-seal 7's WASM uses exception references, which V8 enables by default
 * from Node 22.19 (DESIGN.md §6). package.json `engines` describes what npm
 * needs to install the project (the machine's Node may be older); the runtime
 * that runs the code is the pinned `node` devDependency, which npm scripts and
 * `npx` put first on PATH. So the check belongs here, where the need is.
 */
const MIN_NODE: readonly [number, number] = [22, 19];

function checkNodeVersion(): void {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])) return;
  throw new CkksError(
    'seal_error',
    `node-seal needs Node.js >= ${MIN_NODE.join('.')}, this is ${process.version}: run through npm scripts or npx ` +
      '(they use the Node pinned in package.json, node_modules/.bin/node)',
  );
}

/** The SEAL module of this thread, instantiated on first call (≈ 50–250 ms). */
export function loadSeal(): Promise<Seal> {
  checkNodeVersion();
  loading ??= instantiate().catch((e: unknown) => {
    loading = undefined;
    throw new CkksError('seal_error', `cannot load node-seal: ${describeThrown(e)}`, { cause: e });
  });
  return loading;
}

/**
 * Current size of this thread's SEAL WASM heap in bytes, or undefined before
 * SEAL is loaded. It only grows; export it as a gauge and recycle the worker
 * long before 4 GiB.
 */
export function sealHeapBytes(): number | undefined {
  return memory?.buffer.byteLength;
}
