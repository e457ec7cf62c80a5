/*
 * ITSM: the connector contract and extension point, the webhook connector,
 * and the outbox that delivers incidents with retries (see ItsmOutbox.ts).
 */
export { patchItsmExtensionPoint } from './types';
export type {
  PatchItsmConnector,
  PatchItsmExtensionPoint,
  PatchItsmIncident,
} from './types';
export { WebhookItsmConnector } from './WebhookItsmConnector';
export { ItsmOutbox } from './ItsmOutbox';
export type { ItsmDeliveryReport, ItsmRetryOptions } from './ItsmOutbox';
