import { SchedulerServiceTaskScheduleDefinitionConfig } from '@backstage/backend-plugin-api';

export interface Config {
  catalog?: {
    providers?: {
      /** Patchbay's entity providers. */
      patch?: {
        /** Placeholder kept for compatibility; the providers are enabled by their own keys. */
        enabled?: boolean;
        /**
         * The advisory provider: OSV advisories become Patch entities,
         * enriched from the CISA KEV catalog and FIRST EPSS scores.
         */
        advisories?: {
          /**
           * OSV sources. `url`: an HTTP(S) URL of a JSON file (one advisory, a
           * list, or an object with `advisories`/`vulns`) or of a zip of JSON
           * files. `path`: a local JSON file, zip or folder (read
           * recursively; files starting with `_` are skipped). Relative paths
           * start at the backend's working directory.
           */
          osv?: Array<{ url?: string; path?: string }>;
          /** The CISA KEV catalog, JSON or CSV: `url` or `path`. */
          kev?: { url?: string; path?: string };
          /** EPSS scores, CSV (`cve,epss,percentile` or `CVE;epss;percentile`): `url` or `path`. */
          epss?: { url?: string; path?: string };
          /** Owner of the emitted Patch entities; default `group:default/it-operations`. */
          owner?: string;
          /** How often to sync; default every 6 hours. */
          schedule?: SchedulerServiceTaskScheduleDefinitionConfig;
        };
        /**
         * The endpoint provider: enrolled endpoints (read from the patch
         * backend's `GET /endpoints`) become Resource entities of type endpoint.
         */
        endpoints?: {
          /** `false` switches the provider off. Default on. */
          enabled?: boolean;
          /** Owner of endpoints that have none; default `patch.operationsGroup`, then `group:default/it-operations`. */
          defaultOwner?: string;
          /** Page size of the reads. Default 1000. */
          pageSize?: number;
          /**
           * How long after a `patch.endpoint.changed` event (an enrollment or
           * a revocation) the provider refreshes; default 1000 ms.
           */
          refreshDebounceMs?: number;
          /** How often to sync besides the events; default every 5 minutes. */
          schedule?: SchedulerServiceTaskScheduleDefinitionConfig;
        };
      };
    };
  };
}
