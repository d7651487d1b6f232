/**
 * The gateway's call guard: a grpc-js server interceptor that decides whether
 * a call may be read at all, before grpc-js reads a byte of its messages.
 *
 * grpc-js reads a call's request only when the handler asks (`startRead`), and
 * the handler is only started once every interceptor has passed the call's
 * metadata on. Holding the metadata back therefore holds back the request: an
 * unread call costs no more than its HTTP/2 stream window. Before passing it
 * on, the guard
 *
 *  1. refuses compressed requests (UNIMPLEMENTED, `grpc-accept-encoding:
 *     identity`): grpc-js inflates every message of a DATA frame at once and
 *     queues the results, so a few KiB of gzip could cost many MiB each even
 *     under the receive limit; ciphertexts do not compress anyway;
 *  2. bounds the calls in flight on this gateway (RESOURCE_EXHAUSTED):
 *     uploads only until their token is verified (then they have their own
 *     slots, UploadAdmission), token-less health and reflection calls only
 *     until their request is in. Counting uploads while their token is checked
 *     matters because a call that waits here holds up to one HTTP/2 receive
 *     window of unread data (GATEWAY_HTTP2_RECEIVE_WINDOW_BYTES): with it, at
 *     most maxConcurrentCalls windows wait on a verdict, however many
 *     connections and streams a peer opens (docs/SECURITY.md "Limits");
 *  3. authenticates the bearer token (UNAUTHENTICATED) — except on the
 *     token-less gRPC health and reflection services. Authorization (roles,
 *     round scope) is the call policy's (../call-policy.ts), applied by the
 *     gRPC adapter once the request is read;
 *
 * and, once the handler starts reading, gives the request (or an upload's
 * first frame) `requestReceiveTimeoutMs` to arrive (DEADLINE_EXCEEDED), so a
 * caller cannot park a partial message in the gateway.
 */
import * as grpc from '@grpc/grpc-js';
import { Code, refusalStatus, refuse, SecaggError, type Logger } from '@secagg/core';
import { bearerToken, type TokenVerifier } from '@secagg/auth';

export interface CallGuardSettings {
  maxConcurrentCalls: number;
  requestReceiveTimeoutMs: number;
  overloadRetryAfterMs: number;
}

/** Called for every call the guard refuses (metrics): method path, status code, reason. */
export type GuardRefusalObserver = (method: string, code: Code, reason: string) => void;

/** Services callable without a token: probes and tooling carry none. */
const OPEN_SERVICES = ['/grpc.health.v1.Health/', '/grpc.reflection.v1.ServerReflection/', '/grpc.reflection.v1alpha.ServerReflection/'];

/** A ServerInterceptingCall that reports the handler's first read. */
class ReadWatchingCall extends grpc.ServerInterceptingCall {
  constructor(
    next: grpc.ServerInterceptingCallInterface,
    responder: grpc.Responder,
    private readonly onStartRead: () => void,
  ) {
    super(next, responder);
  }

  override startRead(): void {
    this.onStartRead();
    super.startRead();
  }
}

export class CallGuard {
  /** Calls in flight now: uploads until their verdict, token-less ones until their request is in. */
  private calls = 0;

  constructor(
    private readonly settings: CallGuardSettings,
    private readonly tokens: TokenVerifier,
    /** Method paths of the client-streaming uploads (admitted by UploadAdmission once past this guard: counted here only until then). */
    private readonly uploadMethods: ReadonlySet<string>,
    private readonly logger: Logger,
    private readonly onRefused: GuardRefusalObserver = () => {},
  ) {}

  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    const path = method.path;
    const open = OPEN_SERVICES.some((prefix) => path.startsWith(prefix));
    const upload = this.uploadMethods.has(path);
    let counted = true;
    let ended = false;
    let receiveTimer: NodeJS.Timeout | undefined;
    let received = false;
    const uncount = () => {
      if (counted) this.calls--;
      counted = false;
    };
    const end = () => {
      if (ended) return;
      ended = true;
      clearTimeout(receiveTimer);
      uncount();
    };
    this.calls++;
    /** Answers the call with `refusal` (core's one wire encoding of a refusal), plus `extra` metadata. */
    const turnAway = (refusal: SecaggError, extra?: grpc.Metadata) => {
      this.onRefused(path, refusal.code, refusal.reason);
      this.logger.debug({ method: path, code: refusal.code, reason: refusal.reason, peer: call.getPeer() }, 'call refused before its request was read');
      const status = refusalStatus(refusal);
      if (extra) status.metadata!.merge(extra);
      call.sendStatus(status);
    };
    const gotRequest = () => {
      received = true;
      clearTimeout(receiveTimer);
      // A token-less reflection stream may stay open for good: once its (tiny) request is in it holds no
      // request memory, and must not hold a call slot either, or anyone could fill them all.
      if (open) uncount();
    };

    const listener: grpc.ServerListener = {
      onReceiveMetadata: (metadata, next) => {
        const encoding = incomingEncodingOf(call);
        if (encoding !== 'identity') {
          const accept = new grpc.Metadata();
          accept.set('grpc-accept-encoding', 'identity');
          turnAway(refuse('compressed', `compressed requests (grpc-encoding ${encoding}) are not accepted; send them uncompressed`), accept);
          return;
        }
        if (this.calls > this.settings.maxConcurrentCalls) {
          const limit = this.settings.maxConcurrentCalls;
          turnAway(refuse('call_limit', `the gateway is handling ${limit} calls; retry later`, { retryAfterMs: this.settings.overloadRetryAfterMs }));
          return;
        }
        if (open) {
          next(metadata);
          return;
        }
        Promise.resolve()
          .then(() => this.tokens.verify(bearerToken(metadata.get('authorization')[0])))
          .then(
            () => {
              if (ended) return;
              // From here an upload waits in UploadAdmission's bounded slots instead.
              if (upload) uncount();
              next(metadata);
            },
            (error: unknown) => {
              if (ended) return;
              const known = error instanceof SecaggError && error.code === Code.Unauthenticated;
              turnAway(known ? error : refuse('invalid_token', 'invalid token'));
            },
          );
      },
      onReceiveMessage: (message, next) => {
        if (!received) gotRequest();
        next(message);
      },
      onReceiveHalfClose: (next) => {
        gotRequest();
        next();
      },
      onCancel: end,
    };
    const responder: grpc.Responder = {
      start: (next) => next(listener),
      sendStatus: (status, next) => {
        end();
        next(status);
      },
    };
    return new ReadWatchingCall(call, responder, () => {
      if (received || receiveTimer || ended) return;
      const ms = this.settings.requestReceiveTimeoutMs;
      receiveTimer = setTimeout(() => {
        if (received || ended) return;
        turnAway(refuse('request_timeout', `the request was not received within ${ms} ms`));
      }, ms);
      receiveTimer.unref();
    });
  };
}

/**
 * The call's `grpc-encoding`. grpc-js 1.14 strips it from the metadata it
 * hands on and keeps it on the base call (`incomingEncoding`), so the guard must
 * run first (it is the server's first interceptor) and read it there. A grpc-js
 * that moves it fails test/src/preauth-exhaustion.int.test.ts (compressed calls
 * must be refused); meanwhile grpc-js still bounds every decompressed message by
 * the receive limit.
 */
function incomingEncodingOf(call: grpc.ServerInterceptingCallInterface): string {
  const encoding = (call as unknown as { incomingEncoding?: unknown }).incomingEncoding;
  return typeof encoding === 'string' ? encoding : 'identity';
}
