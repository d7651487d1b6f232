/**
 * The closed set of reasons a secagg service refuses a call for: one table
 * from reason to gRPC status, and whether the same call may succeed when
 * retried unchanged (janus's error enum, Connect-ES `Code`; issue 13 item 3).
 *
 * Every refusal is made with `refuse(reason, message)` (errors.ts), so the
 * status is never chosen at a throw site. The reason travels to the caller in
 * the trailing metadata `secagg-reason` (docs/WIRE_FORMAT.md §Errors), next to
 * `retry-after-ms` when the service has a hint; clients branch on the reason,
 * humans read the message. A reason is never renamed: integrators match on it.
 *
 * `retryable`: the same request may succeed later without any change (the
 * service was busy, a peer or the storage was unavailable, a race was lost);
 * wait `retry-after-ms` when given, else back off. Everything else needs a
 * different request, another token or an operator.
 */
import { Code } from './code.js';

export interface ReasonRule {
  /** The gRPC status every refusal with this reason is sent with. */
  readonly code: Code;
  /** Whether the unchanged call may succeed later (see the module comment). */
  readonly retryable: boolean;
}

const rule = (code: Code, retryable = false): ReasonRule => ({ code, retryable });

export const REASONS = {
  // --- the gRPC boundary and the call itself ---
  /** A request message did not parse as its protobuf type. */
  malformed_message: rule(Code.InvalidArgument),
  /** The request was compressed (`grpc-encoding` other than identity). */
  compressed: rule(Code.Unimplemented),
  /** The method is not served here (a committee member call made on the committee, a benchmark sink). */
  not_served: rule(Code.Unimplemented),
  /** The caller cancelled the call or went away. */
  cancelled: rule(Code.Cancelled),
  /** An unexpected error: the message is bland, the cause is in the service's log. */
  internal: rule(Code.Internal),
  /** Stored state that should exist does not (a released round without its result, a charge without its ledger entry). */
  inconsistent_state: rule(Code.Internal),
  /** A peer service answered with something it must not (missing fields, committee members that disagree). */
  bad_peer_reply: rule(Code.Internal),
  /** The deployment's configuration cannot serve this call (keys not configured, keyholders out of order): an operator's fix. */
  misconfigured: rule(Code.FailedPrecondition),

  // --- authentication and the call policy (docs/SECURITY.md) ---
  /** No bearer token in the `authorization` metadata. */
  missing_token: rule(Code.Unauthenticated),
  /** The bearer token does not verify (signature, issuer, audience, expiry, claims). */
  invalid_token: rule(Code.Unauthenticated),
  /** The token lives longer than the gateway's maximum, or is issued in the future. */
  token_lifetime: rule(Code.Unauthenticated),
  /** The token's role may not call this method. */
  role_denied: rule(Code.PermissionDenied),
  /** A round-scoped token used outside its round, or for a call not about one round. */
  round_scope: rule(Code.PermissionDenied),
  /** A service-to-service call without a client certificate. */
  no_peer_certificate: rule(Code.Unauthenticated),
  /** A service-to-service call from an identity this method does not allow. */
  peer_denied: rule(Code.PermissionDenied),
  /** The round belongs to another coordinator. */
  not_round_owner: rule(Code.PermissionDenied),
  /** The privacy group belongs to another coordinator. */
  not_group_owner: rule(Code.PermissionDenied),

  // --- arguments ---
  bad_round_id: rule(Code.InvalidArgument),
  bad_update_id: rule(Code.InvalidArgument),
  bad_privacy_group: rule(Code.InvalidArgument),
  /** A field of a round's configuration is out of its range. */
  bad_round_config: rule(Code.InvalidArgument),
  bad_encoding: rule(Code.InvalidArgument),
  bad_preset: rule(Code.InvalidArgument),
  /** A privacy budget (epsilon, delta) out of range. */
  bad_budget: rule(Code.InvalidArgument),
  /** A privacy budget above the keyholder's ceiling. */
  budget_above_ceiling: rule(Code.InvalidArgument),
  /** A page or message size above its maximum. */
  bad_page_size: rule(Code.InvalidArgument),
  /** A token to mint with a bad subject, role or lifetime (the CLI). */
  bad_token_request: rule(Code.InvalidArgument),
  /** Frames of a stream in the wrong order or kind (header first, chunks, one trailer). */
  bad_framing: rule(Code.InvalidArgument),
  /** A chunk out of order. */
  chunk_order: rule(Code.InvalidArgument),
  /** More or fewer chunks or ciphertexts than announced or than the round has. */
  chunk_count: rule(Code.InvalidArgument),
  /** An update's vector length is not the round's. */
  vector_length: rule(Code.InvalidArgument),
  /** A ciphertext that is not a valid ciphertext of the round's parameters. */
  bad_ciphertext: rule(Code.InvalidArgument),
  /** The trailer's sha256 is not that of the bytes received. */
  digest_mismatch: rule(Code.InvalidArgument),
  /** A key share, dealing key or dealt share that is malformed or does not verify. */
  bad_key_share: rule(Code.InvalidArgument),

  // --- rounds and updates ---
  round_not_found: rule(Code.NotFound),
  round_not_open: rule(Code.FailedPrecondition),
  round_past_deadline: rule(Code.FailedPrecondition),
  round_failed: rule(Code.FailedPrecondition),
  not_released: rule(Code.FailedPrecondition),
  /** This client already committed another update to the round. */
  client_has_update: rule(Code.AlreadyExists),
  /** The client is not in this round's Poisson sample. */
  not_sampled: rule(Code.FailedPrecondition),
  /** An update of this round is larger than the cluster may stage for one client. */
  update_too_large: rule(Code.FailedPrecondition),

  // --- gateway limits (docs/SECURITY.md §Limits, docs/RELIABILITY.md §4) ---
  call_limit: rule(Code.ResourceExhausted, true),
  client_streams: rule(Code.ResourceExhausted, true),
  gateway_busy: rule(Code.ResourceExhausted, true),
  staging_client_limit: rule(Code.ResourceExhausted, true),
  staging_budget: rule(Code.ResourceExhausted, true),
  fold_backlog: rule(Code.ResourceExhausted, true),
  result_streams: rule(Code.ResourceExhausted, true),
  result_streams_client: rule(Code.ResourceExhausted, true),
  /** A released round's result object is missing from the ciphertext store (deleted or lost behind the service's back). */
  result_missing: rule(Code.DataLoss),
  /** A released round's result object does not match its recorded length or SHA-256: it is not served. */
  result_corrupt: rule(Code.DataLoss),
  /** The service is shutting down: another instance, or this one after its restart, will serve. */
  draining: rule(Code.Unavailable, true),
  /** The request did not arrive within the receive timeout. */
  request_timeout: rule(Code.DeadlineExceeded),
  /** A stream sent nothing for the idle timeout. */
  idle_stream: rule(Code.DeadlineExceeded),
  /** An upload slower than the minimum rate. */
  upload_too_slow: rule(Code.DeadlineExceeded),

  // --- storage (Redis), mapped by packages/store ---
  storage_full: rule(Code.ResourceExhausted, true),
  storage_refused: rule(Code.Unavailable, true),
  storage_no_replicas: rule(Code.Unavailable, true),
  storage_read_only: rule(Code.Unavailable, true),
  storage_cannot_persist: rule(Code.Unavailable, true),
  storage_loading: rule(Code.Unavailable, true),
  storage_busy: rule(Code.Unavailable, true),
  storage_primary_down: rule(Code.Unavailable, true),
  storage_cluster_unstable: rule(Code.Unavailable, true),
  storage_unreachable: rule(Code.Unavailable, true),

  // --- the keyholder: round keys and admission (docs/PRIVACY.md) ---
  /** The keyholder holds no key (or key share) for the round. */
  no_round_key: rule(Code.NotFound),
  /** The round already has a key made with another configuration. */
  round_key_conflict: rule(Code.AlreadyExists),
  /** No encoding scale keeps the round's sum from wrapping. */
  no_safe_scale: rule(Code.FailedPrecondition),
  flooding_margin_too_small: rule(Code.FailedPrecondition),
  sampling_needs_add_remove: rule(Code.FailedPrecondition),
  unsafe_release_refused: rule(Code.FailedPrecondition),
  below_min_clients: rule(Code.FailedPrecondition),
  below_min_clients_floor: rule(Code.FailedPrecondition),
  above_max_clients: rule(Code.FailedPrecondition),
  privacy_budget_exhausted: rule(Code.FailedPrecondition),

  // --- the keyholder: release refusals, each with one fixed text (keyholder/src/domain/release-policy.ts) ---
  out_of_range: rule(Code.FailedPrecondition),
  votes_out_of_range: rule(Code.FailedPrecondition),
  key_expired: rule(Code.FailedPrecondition),
  key_consumed: rule(Code.FailedPrecondition),
  already_released: rule(Code.FailedPrecondition),
  claimed_by_other_sum: rule(Code.FailedPrecondition),
  /** Another attempt at the same release recorded its outcome first; the retry receives it. */
  release_raced: rule(Code.Aborted, true),

  // --- threshold keyholders (docs/SECURITY.md §Threshold keyholders) ---
  committee_round: rule(Code.FailedPrecondition),
  not_a_committee_keyholder: rule(Code.FailedPrecondition),
  committee_mismatch: rule(Code.FailedPrecondition),
  committee_keyholder: rule(Code.FailedPrecondition),
  committee_vote_round: rule(Code.FailedPrecondition),
  committee_encoding: rule(Code.FailedPrecondition),
  nothing_to_deal: rule(Code.FailedPrecondition),
  other_decrypting_set: rule(Code.FailedPrecondition),
  /** decrypting_keyholders is not a valid set for the committee. */
  bad_decrypting_set: rule(Code.InvalidArgument),
  already_dealt: rule(Code.FailedPrecondition),
  not_dealt: rule(Code.FailedPrecondition),
  dealing_state_lost: rule(Code.FailedPrecondition),
  foreign_key_share: rule(Code.FailedPrecondition),
  /** The round's key share changed state while dealt shares were being accepted. */
  share_not_replaceable: rule(Code.FailedPrecondition),
  /** Fewer keyholders of the committee reachable than a release needs. */
  committee_unreachable: rule(Code.Unavailable, true),
} as const satisfies Record<string, ReasonRule>;

/** A reason a service refuses a call for. */
export type Reason = keyof typeof REASONS;

/** Every reason, in the table's order. */
export const ALL_REASONS = Object.keys(REASONS) as Reason[];

export function isReason(value: string): value is Reason {
  return Object.hasOwn(REASONS, value);
}

/** Metadata key of the reason in a refused call's trailers. */
export const REASON_HEADER = 'secagg-reason';
/** Metadata key of the retry hint (milliseconds) in a refused call's trailers. */
export const RETRY_AFTER_HEADER = 'retry-after-ms';
