import { Config } from '@backstage/config';
import { PatchItsmConnector, PatchItsmIncident } from './types';

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
      headers: {
        'content-type': 'application/json',
        'idempotency-key': incident.incidentId,
        ...this.headers,
      },
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
