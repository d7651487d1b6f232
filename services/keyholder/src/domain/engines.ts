/** One CKKS engine per parameter set, created on first use and kept (SEAL contexts are costly to build). */
import { CkksEngine, type CkksParams } from '@secagg/ckks';

export class EngineCache {
  private readonly engines = new Map<string, Promise<CkksEngine>>();

  get(params: CkksParams): Promise<CkksEngine> {
    const key = `${params.preset}/${params.encoding}/${params.scaleBits}`;
    let engine = this.engines.get(key);
    if (!engine) {
      engine = CkksEngine.create(params);
      engine.catch(() => this.engines.delete(key));
      this.engines.set(key, engine);
    }
    return engine;
  }

  async dispose(): Promise<void> {
    for (const engine of this.engines.values()) (await engine.catch(() => undefined))?.dispose();
    this.engines.clear();
  }
}
