/*
 * The endpoint provider: enrolled endpoints as catalog `Resource` entities
 * with `spec.type: endpoint`.
 *
 * The module runs inside the catalog plugin; the endpoints live in the patch
 * plugin's database. So the provider reads them over HTTP from the patch
 * backend's portal API (`GET /endpoints`, paged) with the catalog's own
 * service credentials (discovery + auth.getPluginRequestToken), on a
 * schedule from config, and hands the catalog the whole set in one full
 * mutation. A failed read changes nothing, so an outage of the patch backend
 * never empties the catalog of endpoints.
 *
 * Claiming. An endpoint that is already in the catalog — a Resource, not
 * emitted by this provider, that carries `patchbay.dev/endpoint-id` or
 * `patchbay.dev/machine-id` matching the endpoint — is claimed: the
 * provider does not emit a second entity for it. The patch backend records
 * the claim at enrollment (the endpoint's `entityRef` points at the existing
 * entity and `claimed` is true); the provider also checks the catalog itself
 * on every run, so that an entity registered after enrollment is claimed too.
 *
 * What runs there. The endpoint label `components` (set by the enrollment
 * token, since the owners of what runs on an endpoint approve its patches)
 * names the Components that run on the endpoint, space- or comma-separated,
 * as names or refs (`checkout-api`, `component:shop/web`); the Resource
 * carries them as `spec.dependencyOf`, so the catalog relates each Component
 * to its endpoints (`dependsOn`) and their patches show on its page.
 *
 * Told, not only scheduled. The patch backend publishes
 * `patch.endpoint.changed` on the events bus after an enrollment or a
 * revocation; the provider then refreshes within `refreshDebounceMs`
 * (default 1 s: a burst of enrollments, as when a fleet starts, costs one
 * refresh), so a new endpoint is in the catalog within seconds. The schedule
 * stays, for events that are lost.
 */

import {
  AuthService,
  DiscoveryService,
  LoggerService,
  readSchedulerServiceTaskScheduleDefinitionFromConfig,
  SchedulerService,
  SchedulerServiceTaskScheduleDefinition,
} from '@backstage/backend-plugin-api';
import {
  ANNOTATION_LOCATION,
  ANNOTATION_ORIGIN_LOCATION,
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { Config } from '@backstage/config';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import {
  CatalogService,
  EntityProvider,
  EntityProviderConnection,
} from '@backstage/plugin-catalog-node';
import { EventsService } from '@backstage/plugin-events-node';
import { PATCH_ENDPOINT_CHANGED_TOPIC } from '@patchbay/plugin-patch-common';

/** Annotation naming the patch backend's endpoint (agent) id. @public */
export const ENDPOINT_ID_ANNOTATION = 'patchbay.dev/endpoint-id';
/** Annotation naming the machine id, by which an existing Resource is claimed. @public */
export const MACHINE_ID_ANNOTATION = 'patchbay.dev/machine-id';
/** Location of every entity this provider emits. */
const PROVIDER_LOCATION = 'patchbay:endpoints';

/** An endpoint as the patch backend's `GET /endpoints` returns it (the fields used here). @public */
export interface EndpointRecord {
  id: string;
  machineId: string;
  hostname: string;
  entityRef: string;
  claimed: boolean;
  ownerRef?: string;
  systemRef?: string;
  labels: Record<string, string>;
  osInfo?: { family?: string; name?: string; version?: string; arch?: string };
  location?: string;
  deviceType?: string;
  department?: string;
  state: 'online' | 'stale' | 'revoked';
}

/** Options of the endpoint provider, usually from `catalog.providers.patch.endpoints`. @public */
export interface EndpointEntityProviderOptions {
  /** Owner of endpoints that have none (from token or rules). Default `group:default/it-operations`. */
  defaultOwner: string;
  /** Page size of `GET /endpoints`. Default 1000. */
  pageSize?: number;
  schedule: SchedulerServiceTaskScheduleDefinition;
  /** How long after a `patch.endpoint.changed` event the provider refreshes. Default 1000 ms. */
  refreshDebounceMs?: number;
}

/**
 * Emits enrolled endpoints as Resource entities. See the note at the top.
 * @public
 */
export class EndpointEntityProvider implements EntityProvider {
  private connection?: EntityProviderConnection;

  /** Reads `catalog.providers.patch.endpoints`; undefined when `enabled: false`. */
  static fromConfig(
    config: Config,
    deps: {
      logger: LoggerService;
      scheduler: SchedulerService;
      discovery: DiscoveryService;
      auth: AuthService;
      catalog?: CatalogService;
      events?: EventsService;
    },
  ): EndpointEntityProvider | undefined {
    const c = config.getOptionalConfig('catalog.providers.patch.endpoints');
    if (c?.getOptionalBoolean('enabled') === false) return undefined;
    const schedule = c?.has('schedule')
      ? readSchedulerServiceTaskScheduleDefinitionFromConfig(
          c.getConfig('schedule'),
        )
      : {
          frequency: { minutes: 5 },
          timeout: { minutes: 3 },
          initialDelay: { seconds: 30 },
        };
    return new EndpointEntityProvider(
      {
        defaultOwner:
          c?.getOptionalString('defaultOwner') ??
          config.getOptionalString('patch.operationsGroup') ??
          'group:default/it-operations',
        pageSize: c?.getOptionalNumber('pageSize'),
        refreshDebounceMs: c?.getOptionalNumber('refreshDebounceMs'),
        schedule,
      },
      deps,
    );
  }

  constructor(
    private readonly options: EndpointEntityProviderOptions,
    private readonly deps: {
      logger: LoggerService;
      scheduler: SchedulerService;
      discovery: DiscoveryService;
      auth: AuthService;
      catalog?: CatalogService;
      events?: EventsService;
    },
  ) {}

  /** The debounce timer of an event-driven refresh, while one is pending. */
  private pendingRefresh?: ReturnType<typeof setTimeout>;
  /** The running refresh, so that refreshes never overlap. */
  private lastRefresh: Promise<void> = Promise.resolve();

  /** {@inheritDoc @backstage/plugin-catalog-node#EntityProvider.getProviderName} */
  getProviderName(): string {
    return 'patch-endpoints';
  }

  /** {@inheritDoc @backstage/plugin-catalog-node#EntityProvider.connect} */
  async connect(connection: EntityProviderConnection): Promise<void> {
    this.connection = connection;
    await this.deps.scheduler.scheduleTask({
      id: `${this.getProviderName()}:refresh`,
      ...this.options.schedule,
      fn: () => this.refreshLogged(),
    });
    await this.deps.events?.subscribe({
      id: `${this.getProviderName()}:changed`,
      topics: [PATCH_ENDPOINT_CHANGED_TOPIC],
      onEvent: async () => this.refreshSoon(),
    });
  }

  /**
   * Refreshes after the debounce delay; events within the delay share the
   * refresh, and a refresh waits for the one running.
   */
  refreshSoon(): void {
    if (!this.connection || this.pendingRefresh) return;
    this.pendingRefresh = setTimeout(() => {
      this.pendingRefresh = undefined;
      this.lastRefresh = this.lastRefresh.then(() => this.refreshLogged());
    }, this.options.refreshDebounceMs ?? 1000);
    // A pending refresh never keeps the process alive.
    this.pendingRefresh.unref?.();
  }

  private async refreshLogged(): Promise<void> {
    try {
      await this.refresh();
    } catch (error) {
      // Logged, never thrown: the last good set stays in the catalog.
      this.deps.logger.warn(`Endpoint provider refresh failed: ${error}`);
    }
  }

  /** Reads every endpoint and replaces the provider's entities with them. */
  async refresh(): Promise<{ emitted: number; claimed: number }> {
    if (!this.connection) throw new Error('Not connected');
    const endpoints = await this.readEndpoints();
    const existing = await this.readClaimableEntities();
    const emitted: Entity[] = [];
    let claimed = 0;
    for (const endpoint of endpoints) {
      if (endpoint.state === 'revoked') continue;
      if (
        endpoint.claimed ||
        existing.endpointIds.has(endpoint.id) ||
        existing.machineIds.has(endpoint.machineId)
      ) {
        claimed++;
        continue;
      }
      emitted.push(this.toEntity(endpoint));
    }
    await this.connection.applyMutation({
      type: 'full',
      entities: emitted.map(entity => ({
        entity,
        locationKey: PROVIDER_LOCATION,
      })),
    });
    this.deps.logger.info(
      `Endpoint provider emitted ${emitted.length} endpoints; ${claimed} claimed existing entities`,
    );
    return { emitted: emitted.length, claimed };
  }

  /** An endpoint as a Resource entity. */
  toEntity(endpoint: EndpointRecord): Entity {
    const ref = parseEntityRef(endpoint.entityRef, {
      defaultKind: 'resource',
      defaultNamespace: 'default',
    });
    const labels: Record<string, string> = {};
    const put = (key: string, value?: string) => {
      const v = value && toLabelValue(value);
      if (v) labels[`patchbay.dev/${key}`] = v;
    };
    put('os', endpoint.osInfo?.family);
    put('os-version', endpoint.osInfo?.version);
    put('location', endpoint.location ?? endpoint.labels.location);
    put('device-type', endpoint.deviceType ?? endpoint.labels['device-type']);
    put('department', endpoint.department ?? endpoint.labels.department);
    const runsThere = componentsOf(endpoint.labels.components);
    const osTitle = [
      endpoint.osInfo?.name ?? endpoint.osInfo?.family,
      endpoint.osInfo?.version,
    ]
      .filter(Boolean)
      .join(' ');
    return {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Resource',
      metadata: {
        name: ref.name,
        namespace: ref.namespace,
        title: endpoint.hostname,
        ...(osTitle
          ? { description: `Endpoint ${endpoint.hostname} (${osTitle})` }
          : {}),
        annotations: {
          [ANNOTATION_LOCATION]: PROVIDER_LOCATION,
          [ANNOTATION_ORIGIN_LOCATION]: PROVIDER_LOCATION,
          [ENDPOINT_ID_ANNOTATION]: endpoint.id,
          [MACHINE_ID_ANNOTATION]: endpoint.machineId,
        },
        labels,
      },
      spec: {
        type: 'endpoint',
        owner: endpoint.ownerRef ?? this.options.defaultOwner,
        ...(endpoint.systemRef ? { system: endpoint.systemRef } : {}),
        ...(runsThere.length > 0 ? { dependencyOf: runsThere } : {}),
      },
    };
  }

  private async readEndpoints(): Promise<EndpointRecord[]> {
    const { discovery, auth } = this.deps;
    const baseUrl = await discovery.getBaseUrl('patch');
    const { token } = await auth.getPluginRequestToken({
      onBehalfOf: await auth.getOwnServiceCredentials(),
      targetPluginId: 'patch',
    });
    const pageSize = this.options.pageSize ?? 1000;
    const all: EndpointRecord[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const res = await fetch(
        `${baseUrl}/endpoints?limit=${pageSize}&offset=${offset}`,
        { headers: { Authorization: `Bearer ${token}` } },
      );
      if (!res.ok) {
        throw new Error(
          `GET /endpoints answered ${res.status} ${await res.text()}`,
        );
      }
      const page = (await res.json()) as {
        items: EndpointRecord[];
        totalCount: number;
      };
      all.push(...page.items);
      if (page.items.length < pageSize || all.length >= page.totalCount) {
        return all;
      }
    }
  }

  /** Resources already in the catalog, not ours, that stand for an endpoint or a machine. */
  private async readClaimableEntities(): Promise<{
    endpointIds: Set<string>;
    machineIds: Set<string>;
  }> {
    const endpointIds = new Set<string>();
    const machineIds = new Set<string>();
    const { catalog, auth } = this.deps;
    if (!catalog) return { endpointIds, machineIds };
    const { items } = await catalog.getEntities(
      {
        filter: [
          {
            kind: 'Resource',
            [`metadata.annotations.${ENDPOINT_ID_ANNOTATION}`]:
              CATALOG_FILTER_EXISTS,
          },
          {
            kind: 'Resource',
            [`metadata.annotations.${MACHINE_ID_ANNOTATION}`]:
              CATALOG_FILTER_EXISTS,
          },
        ],
        fields: ['metadata.annotations'],
      },
      { credentials: await auth.getOwnServiceCredentials() },
    );
    for (const entity of items) {
      const a = entity.metadata.annotations ?? {};
      if (a[ANNOTATION_LOCATION] === PROVIDER_LOCATION) continue;
      if (a[ENDPOINT_ID_ANNOTATION]) endpointIds.add(a[ENDPOINT_ID_ANNOTATION]);
      if (a[MACHINE_ID_ANNOTATION]) machineIds.add(a[MACHINE_ID_ANNOTATION]);
    }
    return { endpointIds, machineIds };
  }
}

/**
 * The Components named by a `components` label, as full refs; names that
 * are not valid refs are left out (the label is free text to the backend).
 */
export function componentsOf(label: string | undefined): string[] {
  const refs = new Set<string>();
  for (const part of (label ?? '').split(/[\s,]+/)) {
    if (!part) continue;
    try {
      const ref = parseEntityRef(part, {
        defaultKind: 'component',
        defaultNamespace: 'default',
      });
      if (ref.kind.toLowerCase() === 'component') {
        refs.add(stringifyEntityRef(ref));
      }
    } catch {
      // not a ref: ignored
    }
  }
  return [...refs];
}

/** A catalog label value: `[a-zA-Z0-9]` runs joined by `-`, `_` or `.`, at most 63. */
function toLabelValue(value: string): string {
  return value
    .replace(/[^a-zA-Z0-9_.-]+/g, '-')
    .replace(/^[^a-zA-Z0-9]+|[^a-zA-Z0-9]+$/g, '')
    .slice(0, 63)
    .replace(/[^a-zA-Z0-9]+$/, '');
}
