import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { canonicalInventory } from '@patchbay/plugin-patch-common';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { patchPlugin } from '../plugin';
import { packageRows, pendingRows } from './__testUtils__/inventoryRows';

jest.setTimeout(120_000);

const operator = mockCredentials.user.header('user:default/ops');
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

async function startBackend(
  databases: TestDatabases,
  id: TestDatabaseId,
  agent: Record<string, number> = {},
) {
  const knex = await databases.init(id);
  const { server } = await startTestBackend({
    features: [
      patchPlugin,
      mockServices.database.factory({ knex }),
      catalogServiceMock.factory({ entities: [] }),
      mockServices.rootConfig.factory({
        data: { patch: { jobs: { reaperIntervalSeconds: 3600 }, agent } },
      }),
    ],
  });
  return { server, knex };
}

async function enrolledAgent(h: { server: any }) {
  const token = await request(h.server)
    .post('/api/patch/enrollment-tokens')
    .set('Authorization', operator)
    .send({ maxUses: 10 });
  expect(token.status).toBe(201);
  const res = await request(h.server)
    .post('/api/patch/agent/v1/enroll')
    .send({
      token: token.body.token,
      machineId: 'machine-truth',
      hostname: 'truth.example.com',
      os: { family: 'debian', name: 'Debian', version: '12' },
    });
  expect(res.status).toBe(201);
  return {
    id: res.body.agentId as string,
    auth: `Agent ${res.body.agentId}.${res.body.secret}`,
  };
}

const GOOD = {
  hash: 'good',
  packages: [
    // A binNMU: the binary's version is not its source's.
    {
      ecosystem: 'deb',
      name: 'libssl3',
      version: '3.0.11-1~deb12u2+b1',
      arch: 'amd64',
      source: 'openssl',
      sourceVersion: '3.0.11-1~deb12u2',
    },
    { ecosystem: 'deb', name: 'bash', version: '5.2.15-2+b2' },
    { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-33.el9' },
    { ecosystem: 'windows-kb', name: 'KB5034441', version: 'installed' },
  ],
  pending: [
    {
      ecosystem: 'windows-kb',
      name: 'KB5034442',
      currentVersion: 'absent',
      availableVersion: 'KB5034442',
    },
  ],
};

describe('PUT /agent/v1/inventory validation', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'stores source packages and refuses unreadable versions whole on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const agent = await enrolledAgent(h);
      const put = (body: unknown) =>
        request(h.server)
          .put('/api/patch/agent/v1/inventory')
          .set('Authorization', agent.auth)
          .send(body as object);

      const ok = await put(GOOD);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ accepted: true, packages: 4, pending: 1 });
      const stored = (await packageRows(h.knex))
        .filter(p => p.name === 'libssl3')
        .map(p => ({
          version: p.version,
          source: p.source,
          source_version: p.source_version,
        }))[0];
      expect(stored).toEqual({
        version: '3.0.11-1~deb12u2+b1',
        source: 'openssl',
        source_version: '3.0.11-1~deb12u2',
      });
      const detail = await request(h.server)
        .get(`/api/patch/endpoints/${agent.id}`)
        .set('Authorization', operator);
      expect(detail.status).toBe(200);
      expect(
        detail.body.installed.find((p: any) => p.name === 'libssl3'),
      ).toEqual({
        ecosystem: 'deb',
        name: 'libssl3',
        version: '3.0.11-1~deb12u2+b1',
        arch: 'amd64',
        source: 'openssl',
        sourceVersion: '3.0.11-1~deb12u2',
      });

      const snapshot = async () => ({
        packages: (await packageRows(h.knex)).map(p => ({
          ecosystem: p.ecosystem,
          name: p.name,
          version: p.version,
          source: p.source,
          source_version: p.source_version,
        })),
        pending: (await pendingRows(h.knex)).map(p => ({
          name: p.name,
          current_version: p.current_version,
          available_version: p.available_version,
        })),
        hash: (await h.knex('patch_endpoints').first('inventory_hash'))
          .inventory_hash,
      });
      const before = await snapshot();
      expect(before.hash).toBe('good');

      const withPackage = (p: Record<string, unknown>) => ({
        hash: 'bad',
        packages: [...GOOD.packages, p],
        pending: [],
      });
      const refused: Array<[unknown, RegExp]> = [
        // The verdict used to skip an empty version: the row disappeared.
        [
          withPackage({ ecosystem: 'deb', name: 'openssl', version: '' }),
          /packages\[4\]\.version: deb package openssl has version "" whose version is empty/,
        ],
        // dpkg orders these leniently; they used to read "installed".
        [
          withPackage({
            ecosystem: 'deb',
            name: 'openssl',
            version: 'garbage-version',
          }),
          /deb package openssl has version "garbage-version" whose upstream version does not start with a digit/,
        ],
        [
          withPackage({ ecosystem: 'deb', name: 'openssl', version: 'zzz' }),
          /deb package openssl .*"zzz".*upstream version/,
        ],
        [
          withPackage({ ecosystem: 'rpm', name: 'cups', version: '1:2.3 3' }),
          /rpm package cups has version "1:2.3 3"/,
        ],
        [
          withPackage({ ecosystem: 'apk', name: 'musl', version: 'r1-1.2' }),
          /apk package musl has version "r1-1.2"/,
        ],
        [
          withPackage({ ecosystem: 'windows-kb', name: 'KB1', version: '' }),
          /windows-kb package KB1 has version "" whose version is empty/,
        ],
        [
          withPackage({
            ecosystem: 'deb',
            name: 'libc6',
            version: '2.36-9+deb12u4',
            source: 'glibc',
            sourceVersion: 'x:2.36',
          }),
          /packages\[4\]\.sourceVersion: deb package libc6 has version "x:2\.36" whose epoch/,
        ],
        [
          {
            hash: 'bad',
            packages: GOOD.packages,
            pending: [
              {
                ecosystem: 'deb',
                name: 'openssl',
                currentVersion: '3.0.11-1',
                availableVersion: 'latest',
              },
            ],
          },
          /pending\[0\]\.availableVersion: deb package openssl has version "latest"/,
        ],
        [
          {
            hash: 'bad',
            packages: GOOD.packages,
            pending: [
              {
                ecosystem: 'deb',
                name: 'openssl',
                currentVersion: '',
                availableVersion: '3.0.15-1',
              },
            ],
          },
          /pending\[0\]\.currentVersion: deb package openssl has version ""/,
        ],
      ];
      for (const [body, message] of refused) {
        const res = await put(body);
        expect(res.status).toBe(400);
        expect(res.body.error.name).toBe('InputError');
        expect(res.body.error.message).toMatch(/nothing was stored/);
        expect(res.body.error.message).toMatch(message);
        expect(res.body.error.stack).toBeUndefined();
        // Nothing of a refused upload is written: not a package, not the hash.
        expect(await snapshot()).toEqual(before);
      }

      // Many bad versions: the answer names a few and counts the rest.
      const many = await put({
        hash: 'bad',
        packages: Array.from({ length: 12 }, (_, i) => ({
          ecosystem: 'deb',
          name: `p${i}`,
          version: `v${i}`,
        })),
        pending: [],
      });
      expect(many.status).toBe(400);
      expect(many.body.error.message).toMatch(/12 unreadable versions/);
      expect(many.body.error.message).toMatch(/and 7 more$/);
      expect(await snapshot()).toEqual(before);

      // Unknown is a state of the API too: listed and filtered on.
      await h.knex('patch_applicability').insert({
        endpoint_id: agent.id,
        patch_ref: 'patch:default/dsa-openssl',
        package: 'openssl',
        ecosystem: 'deb',
        installed_version: 'garbage-version',
        fixed_version: '3.0.15-1~deb12u1',
        state: 'unknown',
        updated_at: new Date().toISOString(),
      });
      const unknown = await request(h.server)
        .get('/api/patch/applicability?state=unknown')
        .set('Authorization', operator);
      expect(unknown.status).toBe(200);
      expect(unknown.body.items).toEqual([
        expect.objectContaining({ endpointId: agent.id, state: 'unknown' }),
      ]);
    },
  );
});

const digest = (packages: unknown[], pending: unknown[]) =>
  createHash('sha256')
    .update(canonicalInventory(packages as any, pending as any))
    .digest('hex');

/** GOOD with libssl3 fixed, as a change to `base` with these pending updates. */
function libsslFixed(base: string, pending: unknown[]) {
  const [libssl] = GOOD.packages;
  const fixed = {
    ...libssl,
    version: '3.0.15-1~deb12u1',
    sourceVersion: '3.0.15-1~deb12u1',
  };
  const after = [fixed, ...GOOD.packages.slice(1)];
  const change = {
    base,
    hash: digest(after, pending),
    added: [fixed],
    removed: [libssl],
    pending,
  };
  return { libssl, fixed, after, change };
}

describe('PATCH /agent/v1/inventory (a change to the stored inventory)', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'stores a change that adds up, and refuses the rest without writing on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const agent = await enrolledAgent(h);
      const send = (
        method: 'put' | 'patch',
        body: unknown,
        auth = agent.auth,
      ) =>
        request(h.server)
          [method]('/api/patch/agent/v1/inventory')
          .set('Authorization', auth)
          .send(body as object);
      const stored = async () => {
        const res = await request(h.server)
          .get(`/api/patch/endpoints/${agent.id}`)
          .set('Authorization', operator);
        const row = await h
          .knex('patch_endpoints')
          .where({ id: agent.id })
          .first('inventory_hash');
        return {
          hash: row.inventory_hash,
          installed: res.body.installed,
          pending: res.body.pending,
        };
      };

      // A first, whole inventory under its canonical hash.
      const base = digest(GOOD.packages, GOOD.pending);
      expect((await send('put', { ...GOOD, hash: base })).status).toBe(200);
      const bash = GOOD.packages[1];
      const { fixed, after, change } = libsslFixed(base, []);

      // Refused, and nothing written: not this agent, a base the server does
      // not hold, a record it does not hold, a result that does not hash to
      // what the agent says, an unreadable version.
      const before = await stored();
      const stranger = await send('patch', change, 'Agent nobody.secret');
      expect(stranger.status).toBe(401);
      const refusals: Array<[unknown, number, RegExp]> = [
        [
          { ...change, base: 'f'.repeat(64) },
          409,
          /does not hold the inventory/,
        ],
        [
          { ...change, removed: [{ ...bash, version: '5.1-1' }] },
          409,
          /removes a package the stored inventory does not hold/,
        ],
        [{ ...change, hash: base }, 409, /does not hash to/],
        [
          {
            ...change,
            added: [{ ...fixed, version: 'garbage' }],
            hash: digest(
              [{ ...fixed, version: 'garbage' }, ...after.slice(1)],
              [],
            ),
          },
          400,
          /added|packages\[0\]\.version.*garbage/,
        ],
      ];
      for (const [body, status, message] of refusals) {
        const res = await send('patch', body);
        expect(res.status).toBe(status);
        expect(res.body.error.message).toMatch(message);
        expect(res.body.error.stack).toBeUndefined();
        expect(await stored()).toEqual(before);
      }

      // The change that adds up: stored as the whole inventory would be.
      const ok = await send('patch', change);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ accepted: true, packages: 4, pending: 0 });
      const changed = await stored();
      expect(changed.hash).toBe(change.hash);
      expect(changed.pending).toEqual([]);
      expect(
        changed.installed.find((p: any) => p.name === 'libssl3'),
      ).toMatchObject({ version: '3.0.15-1~deb12u1' });
      expect(digest(changed.installed, changed.pending)).toBe(change.hash);

      // The same change again: its base is gone.
      expect((await send('patch', change)).status).toBe(409);
      expect(await stored()).toEqual(changed);

      // A stored hash that is not the canonical one (an older agent's) is no
      // base for a change, even when the agent names it.
      expect((await send('put', { ...GOOD, hash: 'legacy' })).status).toBe(200);
      const legacy = await send('patch', { ...change, base: 'legacy' });
      expect(legacy.status).toBe(409);
      expect((await stored()).hash).toBe('legacy');
    },
  );

  it.each(databases.eachSupportedId())(
    'admits a small change on slots of its own while whole uploads are shed on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        maxConcurrentUploads: 1,
        maxConcurrentChangeUploads: 1,
      });
      const agent = await enrolledAgent(h);
      const base = digest(GOOD.packages, GOOD.pending);
      const whole = await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', agent.auth)
        .send({ ...GOOD, hash: base });
      expect(whole.status).toBe(200);

      // Uploads whose bodies never finish: admitted before their bodies are
      // read, they hold the uploads' one slot and fill its queue (four
      // places), or the change's slot and its queue (one place).
      const port = (h.server.address() as AddressInfo).port;
      const stall = (method: string, length: number) => {
        const req = httpRequest({
          port,
          host: '127.0.0.1',
          method,
          path: '/api/patch/agent/v1/inventory',
          headers: {
            authorization: agent.auth,
            'content-type': 'application/json',
            'content-length': String(length),
          },
        });
        req.on('error', () => {});
        req.write('{');
        return req;
      };
      const stalled = Array.from({ length: 5 }, () => stall('PUT', 1000));
      await sleep(500);

      const { libssl, fixed, change } = libsslFixed(base, GOOD.pending);
      const send = (method: 'put' | 'patch', body: string) =>
        request(h.server)
          [method]('/api/patch/agent/v1/inventory')
          .set('Authorization', agent.auth)
          .set('Content-Type', 'application/json')
          .send(body);
      // A whole upload is shed; so is a change too long for a change's
      // slot (padded past 64 KiB with spaces: the same change, admitted as
      // a whole upload would be).
      const shedWhole = await send(
        'put',
        JSON.stringify({ ...GOOD, hash: 'x' }),
      );
      expect(shedWhole.status).toBe(429);
      const long = JSON.stringify(change) + ' '.repeat(64 * 1024);
      const shedLong = await send('patch', long);
      expect(shedLong.status).toBe(429);
      const row = () =>
        h
          .knex('patch_endpoints')
          .where({ id: agent.id })
          .first('inventory_hash');
      expect((await row()).inventory_hash).toBe(base);

      // The small change is admitted on its own slot and stored.
      const ok = await send('patch', JSON.stringify(change));
      expect(ok.status).toBe(200);
      expect((await row()).inventory_hash).toBe(change.hash);

      // With the change's slot and its queue taken, a change is shed too.
      stalled.push(stall('PATCH', 1000), stall('PATCH', 1000));
      await sleep(500);
      const back = {
        ...change,
        base: change.hash,
        hash: base,
        added: [libssl],
        removed: [fixed],
      };
      const shedChange = await send('patch', JSON.stringify(back));
      expect(shedChange.status).toBe(429);
      expect(Number(shedChange.headers['retry-after'])).toBeGreaterThanOrEqual(
        1,
      );
      expect((await row()).inventory_hash).toBe(change.hash);
      for (const req of stalled) req.destroy();
    },
  );
});
