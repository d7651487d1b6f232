/** The gateway's gRPC server: ClientService and CoordinatorService. */
import * as grpc from '@grpc/grpc-js';
import { addService, methodPath, type CallObserver } from '@secagg/core';
import { toStorageError } from '@secagg/store';
import { ClientService, CoordinatorService, file_secagg_client_v1_client_service, file_secagg_coordinator_v1_coordinator_service } from '@secagg/proto';
import { addReflection, type HealthMonitor } from '@secagg/observability';
import type { GatewayContext } from './gateway-context.js';
import { submitUpdate } from './handlers/submit-update.js';
import { getResult, getRound } from './handlers/client-reads.js';
import { closeRound, createRound, getRoundStatus, listRounds } from './handlers/coordinator.js';
import { getPrivacyBudget, setPrivacyBudget } from './handlers/privacy.js';
import { CallGuard } from './domain/call-guard.js';
import { gatewayPolicies, type GatewayCall } from './call-policy.js';

/**
 * Wrappers for every handler: Redis refusing (full, no replicas, read-only,
 * not persisting, loading, busy, resharding) or unreachable is the caller's
 * cue to retry, not an internal error; the store's one table maps it to
 * RESOURCE_EXHAUSTED or UNAVAILABLE with `storageRetryAfterMs` as the hint.
 */
function storageGuards(retryAfterMs: number) {
  return {
    guarded<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
      return (...args) => fn(...args).catch((error: unknown) => Promise.reject(toStorageError(error, retryAfterMs)));
    },
    guardedStream<A extends unknown[], R>(fn: (...args: A) => AsyncIterable<R>): (...args: A) => AsyncIterable<R> {
      return async function* (...args) {
        try {
          yield* fn(...args);
        } catch (error) {
          throw toStorageError(error, retryAfterMs);
        }
      };
    },
  };
}

/** The handlers' dependencies for one call: its logger carries the call's request id. */
function forCall(deps: GatewayContext, ctx: GatewayCall): GatewayContext {
  return { ...deps, logger: ctx.logger };
}

export interface ServerObservers {
  health?: HealthMonitor;
  onCallEnd?: CallObserver;
}

export function createGatewayServer(deps: GatewayContext, observers: ServerObservers = {}): grpc.Server {
  const { config } = deps;
  // First interceptor: it must see the base call (call-guard.ts reads the request's encoding there).
  const guard = new CallGuard(config, deps.tokens, new Set([methodPath(ClientService.method.submitUpdate)]), deps.logger, (method, code, reason) =>
    observers.onCallEnd?.(method, code, 0, reason),
  );
  const server = new grpc.Server({
    interceptors: [guard.interceptor],
    // One limit for every method (grpc-js has no per-method one); it also bounds what a compressed message may inflate to.
    'grpc.max_receive_message_length': config.maxReceiveMessageBytes,
    'grpc.max_send_message_length': config.maxSendMessageBytes,
    // Node's maxSessionMemory (MiB); grpc-js otherwise lifts it to "unlimited".
    'grpc-node.max_session_memory': config.maxSessionMemoryMib,
    // Keepalive policy: dead or silent connections do not hold resources.
    'grpc.keepalive_time_ms': deps.config.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': deps.config.keepaliveTimeoutMs,
    'grpc.max_connection_idle_ms': deps.config.maxConnectionIdleMs,
    // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: a connection's calls beyond this wait in the client.
    'grpc.max_concurrent_streams': deps.config.maxStreamsPerConnection,
  });
  const options = { logger: deps.logger, onCallEnd: observers.onCallEnd };
  const { guarded, guardedStream } = storageGuards(deps.config.storageRetryAfterMs);
  const policies = gatewayPolicies(deps.tokens);
  addService(
    server,
    ClientService,
    policies.client,
    {
      getRound: guarded((request, ctx) => getRound(request, ctx, forCall(deps, ctx))),
      submitUpdate: guarded((requests, ctx) => submitUpdate(requests, ctx, forCall(deps, ctx))),
      getResult: guardedStream((request, ctx) => getResult(request, ctx, forCall(deps, ctx))),
    },
    options,
  );
  addService(
    server,
    CoordinatorService,
    policies.coordinator,
    {
      createRound: guarded((request, ctx) => createRound(request, ctx, forCall(deps, ctx))),
      closeRound: guarded((request, ctx) => closeRound(request, ctx, forCall(deps, ctx))),
      listRounds: guarded((request, ctx) => listRounds(request, ctx, forCall(deps, ctx))),
      getRoundStatus: guarded((request, ctx) => getRoundStatus(request, ctx, forCall(deps, ctx))),
      setPrivacyBudget: guarded((request, ctx) => setPrivacyBudget(request, ctx, forCall(deps, ctx))),
      getPrivacyBudget: guarded((request, ctx) => getPrivacyBudget(request, ctx, forCall(deps, ctx))),
    },
    options,
  );
  observers.health?.addToServer(server);
  addReflection(server, [file_secagg_client_v1_client_service, file_secagg_coordinator_v1_coordinator_service]);
  return server;
}
