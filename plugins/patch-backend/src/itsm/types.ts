/*
 * The ITSM connector contract: what the rollout driver reports and how
 * adopters plug their connector in (see ItsmOutbox.ts for delivery).
 */
import { createExtensionPoint } from '@backstage/backend-plugin-api';

/**
 * What the rollout driver reports to an ITSM system.
 * @public
 */
export interface PatchItsmIncident {
  /**
   * One id per breach, the same on every retry: connectors deduplicate on it
   * (the webhook sends it as the `Idempotency-Key` header too).
   */
  incidentId: string;
  /** `gate-breach` (failure rate over the limit) or `unhealthy` (health signal). */
  kind: 'gate-breach' | 'unhealthy';
  /** One line, e.g. "Rollout of patch:default/openssl-3.0.14 paused in ring pilot". */
  title: string;
  /** Why, with the evidence. */
  description: string;
  /** critical for emergency rollouts, high otherwise. */
  severity: 'critical' | 'high';
  rolloutId: string;
  patchRef: string;
  policyRef: string;
  ring: string;
  waveId: string;
  /** Gate evidence. */
  evidence: {
    finished: number;
    failed: number;
    failureRate: number;
    lowerBound: number;
    upperBound: number;
    confidence: number;
    failureLimit: number;
  };
  /** Owning groups of the wave's endpoints (entity refs). */
  owners: string[];
  /** Link to the rollout in the portal. */
  link: string;
  /** When the breach was detected (ISO 8601). */
  detectedAt: string;
}

/**
 * An ITSM connector.
 * @public
 */
export interface PatchItsmConnector {
  /** Short name, recorded with each ticket, e.g. `webhook`, `servicenow`. */
  readonly name: string;
  /** Opens a ticket; returns the ticket's reference when the system gives one. */
  openIncident(incident: PatchItsmIncident): Promise<{ reference?: string }>;
}

/**
 * The `patch.itsm` extension point: modules add ITSM connectors.
 * @public
 */
export interface PatchItsmExtensionPoint {
  addConnector(...connectors: PatchItsmConnector[]): void;
}

/**
 * Extension point through which backend modules add ITSM connectors.
 * @public
 */
export const patchItsmExtensionPoint =
  createExtensionPoint<PatchItsmExtensionPoint>({ id: 'patch.itsm' });
