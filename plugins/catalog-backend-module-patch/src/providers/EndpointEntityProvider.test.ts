import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { Entity } from '@backstage/catalog-model';
import {
  DeferredEntity,
  EntityProviderConnection,
} from '@backstage/plugin-catalog-node';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import {
  DefaultEventsService,
  EventsService,
} from '@backstage/plugin-events-node';
import { PATCH_ENDPOINT_CHANGED_TOPIC } from '@patchbay/plugin-patch-common';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import {
  EndpointEntityProvider,
  EndpointRecord,
} from './EndpointEntityProvider';

function endpoint(
  id: string,
  extra: Partial<EndpointRecord> = {},
): EndpointRecord {
  return {
    id,
    machineId: `machine-${id}`,
    hostname: `${id}.example.com`,
    entityRef: `resource:default/${id}`,
    claimed: false,
    labels: {},
    osInfo: { family: 'debian', name: 'Debian', version: '12' },
    state: 'online',
    ...extra,
  };
}

/** A stand-in for the patch backend's `GET /endpoints`, over real HTTP. */
async function startPatchApi(
  endpoints: EndpointRecord[],
  options: { fail?: boolean } = {},
) {
  const requests: Array<{ url: string; authorization?: string }> = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url!, authorization: req.headers.authorization });
    const url = new URL(req.url!, 'http://x');
    if (options.fail || url.pathname !== '/api/patch/endpoints') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'down' } }));
      return;
    }
    const limit = Number(url.searchParams.get('limit'));
    const offset = Number(url.searchParams.get('offset'));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        items: endpoints.slice(offset, offset + limit),
        totalCount: endpoints.length,
      }),
    );
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/api/patch`,
    requests,
    close: () => new Promise(r => server.close(r)),
  };
}

function recorder() {
  const mutations: Array<{ type: string; entities: DeferredEntity[] }> = [];
  const connection: EntityProviderConnection = {
    applyMutation: async mutation => {
      mutations.push(mutation as any);
    },
    refresh: async () => {},
  };
  return { mutations, connection };
}

async function provider(
  baseUrl: string,
  options: {
    entities?: Entity[];
    pageSize?: number;
    events?: EventsService;
  } = {},
) {
  const p = EndpointEntityProvider.fromConfig(
    new ConfigReader({
      patch: { operationsGroup: 'group:default/ops' },
      catalog: {
        providers: {
          patch: {
            endpoints: {
              pageSize: options.pageSize ?? 1000,
              refreshDebounceMs: 100,
            },
          },
        },
      },
    }),
    {
      logger: mockServices.logger.mock(),
      scheduler: mockServices.scheduler.mock(),
      discovery: {
        getBaseUrl: async () => baseUrl,
        getExternalBaseUrl: async () => baseUrl,
      },
      auth: mockServices.auth(),
      catalog: catalogServiceMock({ entities: options.entities ?? [] }),
      events: options.events,
    },
  )!;
  const r = recorder();
  await p.connect(r.connection);
  return { p, ...r };
}

describe('EndpointEntityProvider', () => {
  it('emits enrolled endpoints as Resources, reading the patch API with a service token, in pages', async () => {
    const api = await startPatchApi([
      endpoint('web-01', {
        ownerRef: 'group:default/web',
        systemRef: 'system:default/shop',
        location: 'Berlin HQ',
        deviceType: 'server',
        department: 'e-commerce',
      }),
      endpoint('web-02'),
      endpoint('old', { state: 'revoked' }),
    ]);
    const { p, mutations } = await provider(api.baseUrl, { pageSize: 2 });
    expect(await p.refresh()).toEqual({ emitted: 2, claimed: 0 });
    await api.close();

    // Two pages, each with the plugin-to-plugin token.
    expect(api.requests.map(r => r.url)).toEqual([
      '/api/patch/endpoints?limit=2&offset=0',
      '/api/patch/endpoints?limit=2&offset=2',
    ]);
    for (const r of api.requests) {
      expect(r.authorization).toMatch(/^Bearer .+/);
      expect(r.authorization).toContain('"sub":"plugin:test"');
      expect(r.authorization).toContain('"target":"patch"');
    }

    expect(mutations).toHaveLength(1);
    expect(mutations[0].type).toBe('full');
    const entities = mutations[0].entities.map(d => d.entity);
    expect(entities.map(e => e.metadata.name)).toEqual(['web-01', 'web-02']);
    expect(entities[0]).toEqual({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Resource',
      metadata: {
        name: 'web-01',
        namespace: 'default',
        title: 'web-01.example.com',
        description: 'Endpoint web-01.example.com (Debian 12)',
        annotations: {
          'backstage.io/managed-by-location': 'patchbay:endpoints',
          'backstage.io/managed-by-origin-location': 'patchbay:endpoints',
          'patchbay.dev/endpoint-id': 'web-01',
          'patchbay.dev/machine-id': 'machine-web-01',
        },
        labels: {
          'patchbay.dev/os': 'debian',
          'patchbay.dev/os-version': '12',
          'patchbay.dev/location': 'Berlin-HQ',
          'patchbay.dev/device-type': 'server',
          'patchbay.dev/department': 'e-commerce',
        },
      },
      spec: {
        type: 'endpoint',
        owner: 'group:default/web',
        system: 'system:default/shop',
      },
    });
    // No owner from token or rules: the operations group.
    expect(entities[1].spec).toEqual({
      type: 'endpoint',
      owner: 'group:default/ops',
    });
  });

  it('relates an endpoint to the Components its components label names', async () => {
    const api = await startPatchApi([
      endpoint('pay-01', {
        labels: {
          components: 'checkout-api, payment-worker component:shop/web',
        },
      }),
      endpoint('bad', { labels: { components: 'group:default/team-a' } }),
    ]);
    const { p, mutations } = await provider(api.baseUrl);
    await p.refresh();
    await api.close();
    const [pay, bad] = mutations[0].entities.map(d => d.entity);
    expect(pay.spec?.dependencyOf).toEqual([
      'component:default/checkout-api',
      'component:default/payment-worker',
      'component:shop/web',
    ]);
    // Only Components run on an endpoint.
    expect(bad.spec).not.toHaveProperty('dependencyOf');
  });

  it('claims endpoints that are already in the catalog instead of duplicating them', async () => {
    const api = await startPatchApi([
      endpoint('by-machine'),
      endpoint('by-endpoint-id'),
      endpoint('by-flag', { claimed: true }),
      endpoint('fresh'),
    ]);
    const existing = (name: string, annotations: Record<string, string>) => ({
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Resource',
      metadata: { name, annotations },
      spec: { type: 'server', owner: 'dba' },
    });
    const { p, mutations } = await provider(api.baseUrl, {
      entities: [
        existing('db-1', { 'patchbay.dev/machine-id': 'machine-by-machine' }),
        existing('db-2', { 'patchbay.dev/endpoint-id': 'by-endpoint-id' }),
        // One of our own from an earlier run claims nothing.
        existing('fresh', {
          'patchbay.dev/endpoint-id': 'fresh',
          'backstage.io/managed-by-location': 'patchbay:endpoints',
        }),
      ],
    });
    expect(await p.refresh()).toEqual({ emitted: 1, claimed: 3 });
    await api.close();
    expect(mutations[0].entities.map(d => d.entity.metadata.name)).toEqual([
      'fresh',
    ]);
  });

  it('changes nothing when the patch backend cannot be read', async () => {
    const api = await startPatchApi([endpoint('a')], { fail: true });
    const { p, mutations } = await provider(api.baseUrl);
    await expect(p.refresh()).rejects.toThrow(/503/);
    await api.close();
    expect(mutations).toEqual([]);
  });

  it('refreshes once shortly after a burst of patch.endpoint.changed events', async () => {
    const api = await startPatchApi([endpoint('new-01')]);
    // The real in-process bus of the events service.
    const events = DefaultEventsService.create({
      logger: mockServices.logger.mock(),
    });
    const { mutations } = await provider(api.baseUrl, { events });
    for (const id of ['new-01', 'new-02', 'new-03']) {
      await events.publish({
        topic: PATCH_ENDPOINT_CHANGED_TOPIC,
        eventPayload: { endpointId: id, change: 'enrolled' },
      });
    }
    // The scheduler is a mock that never runs: only the events refresh.
    for (let i = 0; i < 50 && mutations.length === 0; i++) {
      await new Promise(r => setTimeout(r, 50));
    }
    await new Promise(r => setTimeout(r, 300));
    await api.close();
    expect(mutations).toHaveLength(1);
    expect(mutations[0].entities.map(d => d.entity.metadata.name)).toEqual([
      'new-01',
    ]);
    expect(api.requests).toHaveLength(1);
  });

  it('can be switched off in config', () => {
    expect(
      EndpointEntityProvider.fromConfig(
        new ConfigReader({
          catalog: { providers: { patch: { endpoints: { enabled: false } } } },
        }),
        {
          logger: mockServices.logger.mock(),
          scheduler: mockServices.scheduler.mock(),
          discovery: mockServices.discovery(),
          auth: mockServices.auth(),
        },
      ),
    ).toBeUndefined();
  });
});
