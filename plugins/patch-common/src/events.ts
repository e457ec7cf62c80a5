/**
 * The events topic on which the patch backend announces that the set of
 * endpoints changed (an enrollment, a re-enrollment, a revocation), so that
 * the catalog's endpoint provider refreshes at once instead of on its next
 * scheduled run. The payload is {@link PatchEndpointChangedEvent}; subscribers
 * must not rely on it beyond a hint, and re-read the endpoints.
 * @public
 */
export const PATCH_ENDPOINT_CHANGED_TOPIC = 'patch.endpoint.changed';

/** The payload of {@link PATCH_ENDPOINT_CHANGED_TOPIC}. @public */
export interface PatchEndpointChangedEvent {
  endpointId: string;
  change: 'enrolled' | 'revoked';
}
