import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { rewriteInventory } from '../inventory/__testUtils__/inventoryRows';
import { PatchPayloads } from './PatchPayloads';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const PATCH = 'patch:default/openssl-3.0.13';

describe('PatchPayloads', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  /** A migrated database with these endpoints enrolled. */
  async function withEndpoints(
    databaseId: Parameters<typeof databases.init>[0],
    ids: string[],
  ) {
    const knex = await databases.init(databaseId);
    await knex.migrate.latest({ directory: migrationsDir });
    const now = new Date().toISOString();
    await knex('patch_endpoints').insert(
      ids.map(id => ({
        id,
        machine_id: `m-${id}`,
        hostname: id,
        entity_ref: `resource:default/${id}`,
        labels: '{}',
        secret_hash: 'x'.repeat(64),
        enrolled_at: now,
      })),
    );
    return { knex, now };
  }

  it.each(databases.eachSupportedId())(
    "an operator's install carries every package the patch needs on each endpoint, on %p",
    async databaseId => {
      const { knex, now } = await withEndpoints(databaseId, ['e1', 'e2', 'e3']);
      const row = (endpoint: string, pkg: string, state = 'needed') => ({
        endpoint_id: endpoint,
        patch_ref: PATCH,
        package: pkg,
        ecosystem: 'deb',
        installed_version: '3.0.11-1',
        fixed_version: '3.0.13-1',
        state,
        updated_at: now,
      });
      await knex('patch_applicability').insert([
        row('e1', 'openssl'),
        row('e1', 'libssl3'),
        row('e2', 'openssl'),
        row('e2', 'libssl3', 'installed'),
      ]);
      const payloads = await new PatchPayloads(knex).forEndpoints({
        kind: 'install',
        patchRef: PATCH,
        endpointIds: ['e1', 'e2', 'e3'],
        base: { bandwidthKbps: 64, package: 'openssl', version: '3.0.13-1' },
      });
      const pkg = (name: string) => ({
        name,
        version: '3.0.13-1',
        previousVersion: '3.0.11-1',
      });
      expect(payloads.get('e1')).toEqual({
        bandwidthKbps: 64,
        patchRef: PATCH,
        ecosystem: 'deb',
        package: 'libssl3',
        version: '3.0.13-1',
        previousVersion: '3.0.11-1',
        packages: [pkg('libssl3'), pkg('openssl')],
      });
      // Only what is still needed is installed.
      expect(payloads.get('e2')?.packages).toEqual([pkg('openssl')]);
      // No rows: the operator's own package fields stand.
      expect(payloads.get('e3')).toMatchObject({
        package: 'openssl',
        version: '3.0.13-1',
        bandwidthKbps: 64,
      });
      // A verify checks every package of the patch.
      const verify = await new PatchPayloads(knex).forEndpoints({
        kind: 'verify',
        patchRef: PATCH,
        endpointIds: ['e2'],
        base: {},
      });
      expect((verify.get('e2')?.packages as any[]).map(p => p.name)).toEqual([
        'libssl3',
        'openssl',
      ]);
    },
  );

  it.each(databases.eachSupportedId())(
    'a source target installs every installed binary of that source, and no other package, on %p',
    async databaseId => {
      const { knex, now } = await withEndpoints(databaseId, ['e1', 'e2']);
      const pkg = (
        name: string,
        version: string,
        extra: { arch?: string; source?: string; source_version?: string } = {},
      ) => ({ endpoint_id: '', ecosystem: 'deb', name, version, ...extra });
      await rewriteInventory(knex, ['e1', 'e2'], (_, endpointId) => ({
        pending: [],
        packages:
          endpointId === 'e1'
            ? [
                pkg('libssl3', '3.0.11-1+b1', {
                  arch: 'amd64',
                  source: 'openssl',
                  source_version: '3.0.11-1',
                }),
                // No source reported: its own name is the source.
                pkg('openssl', '3.0.11-1'),
                // Named by the advisory's binaries.
                pkg('libcrypto-legacy', '1.0'),
                pkg('libcurl4', '7.88.1-10', { source: 'curl' }),
                pkg('bash', '5.2.15-2'),
                // Another ecosystem, same name: not a binary of this source.
                { ...pkg('openssl', '3.0.7'), ecosystem: 'rpm' },
              ]
            : [pkg('libcurl4', '7.88.1-10', { source: 'curl' })],
      }));
      await knex('patch_applicability').insert(
        ['e1', 'e2'].map(endpoint => ({
          endpoint_id: endpoint,
          patch_ref: PATCH,
          package: 'openssl',
          ecosystem: 'deb',
          installed_version: '3.0.11-1',
          fixed_version: '3.0.13-1',
          state: 'needed',
          updated_at: now,
        })),
      );
      const payloads = await new PatchPayloads(knex).forEndpoints({
        kind: 'install',
        patchRef: PATCH,
        endpointIds: ['e1', 'e2'],
        base: {},
        targets: [
          {
            ecosystem: 'deb',
            package: 'openssl',
            fixedVersion: '3.0.13-1',
            packageType: 'source',
            binaries: ['libcrypto-legacy'],
          },
        ],
      });
      expect(payloads.get('e1')?.packages).toEqual([
        {
          name: 'libcrypto-legacy',
          version: '3.0.13-1',
          source: 'openssl',
          previousVersion: '1.0',
        },
        {
          name: 'libssl3',
          version: '3.0.13-1',
          source: 'openssl',
          previousVersion: '3.0.11-1+b1',
          arch: 'amd64',
        },
        {
          name: 'openssl',
          version: '3.0.13-1',
          source: 'openssl',
          previousVersion: '3.0.11-1',
        },
      ]);
      // No binary of the source in the inventory: the row's package, marked
      // as a source.
      expect(payloads.get('e2')?.packages).toEqual([
        {
          name: 'openssl',
          version: '3.0.13-1',
          source: 'openssl',
          previousVersion: '3.0.11-1',
        },
      ]);
    },
  );
});
