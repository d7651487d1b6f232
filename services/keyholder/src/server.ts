/** The keyholder's gRPC server: wires handlers to the KeyholderService contract. */
import * as grpc from '@grpc/grpc-js';
import { addService, type CallObserver } from '@secagg/core';
import { KeyholderService, file_secagg_keyholder_v1_keyholder_service } from '@secagg/proto';
import { addReflection, type HealthMonitor } from '@secagg/observability';
import type { KeyholderContext } from './keyholder-context.js';
import { createRoundKey } from './handlers/create-round-key.js';
import { releaseRound } from './handlers/release-round.js';
import { createKeyShare, signCollectiveKey } from './handlers/key-share.js';
import { releaseShare } from './handlers/release-share.js';
import { acceptKeyShares, dealKeyShares } from './handlers/key-dealing.js';
import { getGroupPrivacyBudget, setGroupPrivacyBudget } from './handlers/privacy-budget.js';
import { keyholderPolicy } from './call-policy.js';

/** Largest message the keyholder accepts: one ciphertext of the largest preset plus framing. */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

export interface ServerObservers {
  health?: HealthMonitor;
  onCallEnd?: CallObserver;
}

export function createKeyholderServer(deps: KeyholderContext, observers: ServerObservers = {}): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  addService(
    server,
    KeyholderService,
    keyholderPolicy(deps.config),
    {
      createRoundKey: async (request, ctx) => createRoundKey(request, { ...deps, logger: ctx.logger }),
      releaseRound: (requests, ctx) => releaseRound(requests, { ...deps, logger: ctx.logger }),
      createKeyShare: async (request, ctx) => createKeyShare(request, { ...deps, logger: ctx.logger }),
      signCollectiveKey: async (request, ctx) => signCollectiveKey(request, { ...deps, logger: ctx.logger }),
      dealKeyShares: async (request, ctx) => dealKeyShares(request, { ...deps, logger: ctx.logger }),
      acceptKeyShares: async (request, ctx) => acceptKeyShares(request, { ...deps, logger: ctx.logger }),
      releaseShare: (requests, ctx) => releaseShare(requests, { ...deps, logger: ctx.logger }),
      setGroupPrivacyBudget: async (request, ctx) => setGroupPrivacyBudget(request, { ...deps, logger: ctx.logger }),
      getGroupPrivacyBudget: async (request, ctx) => getGroupPrivacyBudget(request, { ...deps, logger: ctx.logger }),
    },
    { logger: deps.logger, onCallEnd: observers.onCallEnd },
  );
  observers.health?.addToServer(server);
  addReflection(server, [file_secagg_keyholder_v1_keyholder_service]);
  return server;
}
