/**
 * Reading a client stream safely: each next frame is awaited against the
 * call's cancellation and an idle timeout, so a client that opens a stream
 * and goes quiet cannot hold a handler (and its staged bytes) forever.
 */
import { Code, refuse, SecaggError } from '@secagg/core';

export async function* framesOf<T>(requests: AsyncIterable<T>, signal: AbortSignal, idleTimeoutMs: number): AsyncGenerator<T> {
  const iterator = requests[Symbol.asyncIterator]();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stop = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(refuse('idle_stream', `no frame received for ${idleTimeoutMs} ms; stream abandoned`)),
          idleTimeoutMs,
        );
        // A deadline of the upload aborts with its own reason; anything else is the client going away.
        onAbort = () =>
          reject(
            signal.reason instanceof SecaggError && signal.reason.code !== Code.Cancelled
              ? signal.reason
              : refuse('cancelled', 'stream cancelled by the client'),
          );
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const next = await Promise.race([iterator.next(), stop]);
        if (next.done) return;
        yield next.value;
      } finally {
        clearTimeout(timer);
        if (onAbort) signal.removeEventListener('abort', onAbort);
      }
    }
  } finally {
    await iterator.return?.();
  }
}
