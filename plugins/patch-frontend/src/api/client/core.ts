/*
 * What the parts of DefaultPatchApi share: the typed PatchClient of
 * patch-common (the portal API, with its error mapping: `unwrap` turns a
 * refusal into an error with the backend's message), the catalog, and a
 * plain fetch for what the backend streams. The user's token rides on the
 * Backstage fetch API both use.
 */
import { ResponseError } from '@backstage/errors';
import type { catalogApiRef } from '@backstage/plugin-catalog-react';
import {
  PatchClient,
  type PatchClientDiscovery,
} from '@patchbay/plugin-patch-common';

type Query = Record<string, string | number | boolean | undefined>;

/** The state of a DefaultPatchApi, handed to each of its parts. */
export class PatchApiCore {
  readonly client: PatchClient;
  readonly catalogApi?: Pick<typeof catalogApiRef.T, 'getEntitiesByRefs'>;
  private readonly discoveryApi: PatchClientDiscovery;
  private readonly fetchApi: { fetch: typeof fetch };

  constructor(options: {
    discoveryApi: PatchClientDiscovery;
    fetchApi: { fetch: typeof fetch };
    catalogApi?: Pick<typeof catalogApiRef.T, 'getEntitiesByRefs'>;
  }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
    this.catalogApi = options.catalogApi;
    this.client = new PatchClient(options);
  }

  /**
   * A GET of a route the typed client does not serve (the streamed exports),
   * with the user's token; a refusal becomes a ResponseError.
   */
  async fetch(path: string, query: Query = {}): Promise<Response> {
    const baseUrl = await this.discoveryApi.getBaseUrl('patch');
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') params.set(key, String(value));
    }
    const qs = params.toString();
    const response = await this.fetchApi.fetch(
      `${baseUrl}${path}${qs ? `?${qs}` : ''}`,
    );
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return response;
  }
}
