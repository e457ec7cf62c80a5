/*
 * The ITSM connector: when a rollout's gate is breached (or the services on
 * its endpoints turn unhealthy), Patchbay opens a ticket. Adopters plug in
 * their own connector (ServiceNow, Jira, PagerDuty, ...) through the
 * `patch.itsm` extension point; the plugin ships a generic webhook connector
 * (config `patch.itsm.webhook.url`) whose payload the README documents,
 * together with the ServiceNow and Jira payloads a small relay or an adopter's
 * module can build from it.
 */
import { createExtensionPoint } from '@backstage/backend-plugin-api';
import { LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';

/**
 * What the rollout driver reports to an ITSM system.
 * @public
 */
export interface PatchItsmIncident {
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

/**
 * The generic webhook connector: POSTs the incident as JSON to
 * `patch.itsm.webhook.url`, with optional static headers
 * (`patch.itsm.webhook.headers`, e.g. an Authorization header). A 2xx answer
 * counts as opened; the reference is the answer's `id`, `number` or `key`
 * field when it has one.
 * @public
 */
export class WebhookItsmConnector implements PatchItsmConnector {
  readonly name = 'webhook';

  /** A connector from config, or undefined when no URL is configured. */
  static fromConfig(config: Config): WebhookItsmConnector | undefined {
    const url = config.getOptionalString('patch.itsm.webhook.url');
    if (!url) return undefined;
    const headersConfig = config.getOptionalConfig(
      'patch.itsm.webhook.headers',
    );
    const headers: Record<string, string> = {};
    for (const key of headersConfig?.keys() ?? []) {
      headers[key] = headersConfig!.getString(key);
    }
    const timeoutMs =
      config.getOptionalNumber('patch.itsm.webhook.timeoutMs') ?? 10_000;
    return new WebhookItsmConnector(url, headers, timeoutMs);
  }

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
    private readonly timeoutMs = 10_000,
  ) {}

  async openIncident(
    incident: PatchItsmIncident,
  ): Promise<{ reference?: string }> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.headers },
      body: JSON.stringify({ source: 'patchbay', ...incident }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) {
      throw new Error(
        `ITSM webhook answered ${response.status} ${response.statusText}`,
      );
    }
    let reference: string | undefined;
    try {
      const body = (await response.json()) as Record<string, unknown>;
      const ref = body.id ?? body.number ?? body.key;
      reference = ref === undefined ? undefined : String(ref);
    } catch {
      // A webhook may answer with no body; the ticket is opened all the same.
    }
    return { reference };
  }
}

/**
 * Calls every connector for an incident; a failing connector is logged and
 * recorded, never stops the others.
 * @internal
 */
export async function openIncidents(
  connectors: readonly PatchItsmConnector[],
  incident: PatchItsmIncident,
  logger: LoggerService,
  record: (entry: {
    connector: string;
    reference?: string;
    outcome: 'opened' | 'failed';
    message?: string;
  }) => Promise<void>,
): Promise<void> {
  for (const connector of connectors) {
    try {
      const { reference } = await connector.openIncident(incident);
      await record({ connector: connector.name, reference, outcome: 'opened' });
    } catch (error) {
      logger.warn(
        `ITSM connector ${connector.name} failed for rollout ${incident.rolloutId}: ${error}`,
      );
      await record({
        connector: connector.name,
        outcome: 'failed',
        message: String(error),
      });
    }
  }
}
