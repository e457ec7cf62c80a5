/*
 * Issue "Truth" end to end, over real HTTP on both databases: a Debian
 * advisory names the source package `openssl`; the endpoint runs the binary
 * `libssl3` (a binNMU). The upload, the catalog sync and the per-endpoint
 * refresh find the binary needed; an unreadable upload is refused and
 * leaves the row as it was; the fix installed on every binary makes it
 * installed.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import request from 'supertest';
import {
  as,
  enrollAgent,
  Harness,
  startHarness,
} from '../approvals/__testUtils__/harness';

jest.setTimeout(180_000);

const OPS = 'user:default/olga';
const REF = 'patch:default/dsa-openssl';

const patch: PatchEntity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'dsa-openssl', namespace: 'default' },
  spec: {
    type: 'security',
    severity: 'high',
    owner: 'group:default/security',
    published: new Date().toISOString(),
    targets: [
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'openssl',
        fixedVersion: '3.0.15-1~deb12u1',
        packageType: 'source',
      },
    ],
  },
};

const binary = (name: string, sourceVersion: string, binNmu = '') => ({
  ecosystem: 'deb',
  name,
  version: `${sourceVersion}${binNmu}`,
  arch: 'amd64',
  source: 'openssl',
  sourceVersion,
});

async function upload(h: Harness, auth: string, packages: unknown[]) {
  return request(h.server)
    .put('/api/patch/agent/v1/inventory')
    .set('Authorization', auth)
    .send({ hash: `h-${Date.now()}-${Math.random()}`, packages, pending: [] });
}

async function rows(h: Harness, endpointId: string) {
  const res = await request(h.server)
    .get(`/api/patch/applicability?endpointId=${endpointId}`)
    .set('Authorization', as(OPS));
  expect(res.status).toBe(200);
  return res.body.items.map((r: any) => [
    r.patchRef,
    r.package,
    r.installedVersion,
    r.state,
  ]);
}

describe('a Debian source advisory on an endpoint running binaries', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'is needed, stays needed through a refused upload, and is installed once every binary is, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: [patch],
        users: { [OPS]: ['group:default/it-operations'] },
      });
      const agent = await enrollAgent(h, OPS, 'deb-1', {
        family: 'debian',
        name: 'Debian GNU/Linux',
        version: '12',
      });
      expect(
        (
          await upload(h, agent.auth, [
            binary('libssl3', '3.0.11-1~deb12u2', '+b1'),
            binary('openssl', '3.0.15-1~deb12u1'),
          ])
        ).status,
      ).toBe(200);
      await h.runTask('patch-approvals-sync');
      // One binary behind: the patch is needed (the source version decides).
      expect(await rows(h, agent.agentId)).toEqual([
        [REF, 'openssl', '3.0.11-1~deb12u2', 'needed'],
      ]);

      // An unreadable version is refused whole; the row stays needed (it
      // used to read installed).
      const refused = await upload(h, agent.auth, [
        { ...binary('libssl3', '3.0.11-1~deb12u2'), version: 'zzz' },
        binary('openssl', '3.0.15-1~deb12u1'),
      ]);
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/libssl3.*"zzz"/);
      expect(await rows(h, agent.agentId)).toEqual([
        [REF, 'openssl', '3.0.11-1~deb12u2', 'needed'],
      ]);

      // Both binaries at the fixed source version (one a binNMU): installed.
      expect(
        (
          await upload(h, agent.auth, [
            binary('libssl3', '3.0.15-1~deb12u1', '+b1'),
            binary('openssl', '3.0.15-1~deb12u1'),
          ])
        ).status,
      ).toBe(200);
      expect(await rows(h, agent.agentId)).toEqual([
        [REF, 'openssl', '3.0.15-1~deb12u1', 'installed'],
      ]);
      await h.knex.destroy();
    },
  );
});
