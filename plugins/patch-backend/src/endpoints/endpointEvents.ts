import { LoggerService } from '@backstage/backend-plugin-api';
import { EventsService } from '@backstage/plugin-events-node';
import {
  PATCH_ENDPOINT_CHANGED_TOPIC,
  PatchEndpointChangedEvent,
} from '@patchbay/plugin-patch-common';

/**
 * Tells subscribers (the catalog's endpoint provider) that an endpoint was
 * enrolled or revoked. Never throws and never delays the caller: the
 * provider's schedule still catches up if an event is lost.
 */
export function publishEndpointChanged(
  deps: { events?: EventsService; logger: LoggerService },
  event: PatchEndpointChangedEvent,
): void {
  if (!deps.events) return;
  deps.events
    .publish({ topic: PATCH_ENDPOINT_CHANGED_TOPIC, eventPayload: event })
    .catch(error =>
      deps.logger.warn(
        `Could not publish ${PATCH_ENDPOINT_CHANGED_TOPIC}: ${error}`,
      ),
    );
}
