import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import request from 'supertest';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import { catalogModulePatchEntityModel } from './module';

jest.setTimeout(120_000);

const FIXTURES = path.join(__dirname, 'providers', '__fixtures__');

// The module inside a real catalog backend: the kinds are validated and
// related, an invalid entity is recorded as a processing error that names the
// field without stopping the rest, and the advisory provider fills the
// catalog with Patch entities on its schedule.
describe('catalogModulePatchEntityModel in a real catalog', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });
  let tmp: string;

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-module-'));
    fs.writeFileSync(
      path.join(tmp, 'entities.yaml'),
      `
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: it-operations }
spec: { type: team, children: [] }
---
apiVersion: patchbay.dev/v1alpha1
kind: PilotGroup
metadata: { name: canaries }
spec:
  owner: group:default/it-operations
  members: [resource:default/ws-001]
---
apiVersion: patchbay.dev/v1alpha1
kind: RolloutPolicy
metadata: { name: standard }
spec:
  owner: group:default/it-operations
  rings:
    - { name: pilot, pilotGroup: canaries, soakMinutes: 5, successThreshold: 0.9, failureLimit: 0.1, promotion: auto }
---
apiVersion: patchbay.dev/v1alpha1
kind: Patch
metadata: { name: bad-patch }
spec:
  type: security
  severity: high
  owner: group:default/it-operations
  targets:
    - { ecosystem: deb, release: 'debian:12', package: curl }
`,
    );
  });

  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it.each(databases.eachSupportedId())(
    'validates, relates and ingests on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { server } = await startTestBackend({
        features: [
          catalogPlugin,
          catalogModulePatchEntityModel,
          mockServices.database.factory({ knex }),
          mockServices.rootConfig.factory({
            data: {
              catalog: {
                processingInterval: { seconds: 1 },
                rules: [
                  {
                    allow: [
                      'Group',
                      'Location',
                      'Patch',
                      'PilotGroup',
                      'RolloutPolicy',
                    ],
                  },
                ],
                locations: [
                  { type: 'file', target: path.join(tmp, 'entities.yaml') },
                ],
                providers: {
                  patch: {
                    advisories: {
                      osv: [{ path: path.join(FIXTURES, 'osv') }],
                      kev: { path: path.join(FIXTURES, 'kev.json') },
                      epss: { path: path.join(FIXTURES, 'epss.csv') },
                      schedule: {
                        frequency: { minutes: 10 },
                        timeout: { minutes: 1 },
                      },
                    },
                  },
                },
              },
            },
          }),
        ],
      });

      const get = (url: string) =>
        request(server)
          .get(url)
          .set('Authorization', mockCredentials.user.header());
      const waitFor = async <T>(
        fn: () => Promise<T | undefined>,
      ): Promise<T> => {
        for (let i = 0; i < 200; i++) {
          const v = await fn();
          if (v) return v;
          await new Promise(r => setTimeout(r, 250));
        }
        throw new Error('timed out');
      };

      // Patches from the advisory provider (10 fixtures).
      const patches = await waitFor(async () => {
        const res = await get('/api/catalog/entities?filter=kind=patch');
        return res.body.length >= 10 ? res.body : undefined;
      });
      expect(patches.map((e: any) => e.metadata.name)).toContain(
        'alsa-2026-39272',
      );

      // Relations both ways between the policy, the pilot group and the owner.
      const policy = await waitFor(async () => {
        const res = await get(
          '/api/catalog/entities/by-name/rolloutpolicy/default/standard',
        );
        return res.body?.relations?.length ? res.body : undefined;
      });
      expect(
        policy.relations.map((r: any) => `${r.type} ${r.targetRef}`),
      ).toEqual(
        expect.arrayContaining([
          'usesPilotGroup pilotgroup:default/canaries',
          'ownedBy group:default/it-operations',
        ]),
      );
      const pilot = await waitFor(async () => {
        const res = await get(
          '/api/catalog/entities/by-name/pilotgroup/default/canaries',
        );
        return res.body?.relations?.some((r: any) => r.type === 'pilotGroupOf')
          ? res.body
          : undefined;
      });
      expect(
        pilot.relations.map((r: any) => `${r.type} ${r.targetRef}`),
      ).toEqual(
        expect.arrayContaining([
          'pilotGroupOf rolloutpolicy:default/standard',
          'hasPilotMember resource:default/ws-001',
          'ownedBy group:default/it-operations',
        ]),
      );

      // The invalid Patch is not in the catalog; its processing error names the field.
      expect(
        (await get('/api/catalog/entities/by-name/patch/default/bad-patch'))
          .status,
      ).toBe(404);
      const errors = await waitFor(async () => {
        const row = await knex('refresh_state')
          .where({ entity_ref: 'patch:default/bad-patch' })
          .first();
        return row?.errors && row.errors !== '[]'
          ? String(row.errors)
          : undefined;
      });
      expect(errors).toMatch(/spec\.targets\[0\]\.fixedVersion is required/);
    },
  );
});
