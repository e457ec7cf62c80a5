/*
 * The snapshot's contract on both databases: one statement whatever the
 * source, the same rows from the approved endpoints and from planned ids,
 * revoked endpoints and those of another active rollout left out, nothing
 * taken twice, and label keys written as `JSON.stringify` writes them, for
 * any label name. And the read of what a wave's endpoints need, grouped by
 * the database, on both.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { RolloutStore } from '../RolloutStore';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const PATCH = 'patch:default/p';
const ids = ['e0', 'e1', 'e2', 'e3', 'e4'];
/** A label name no JSON path names as it is, and the well-known column. */
const KEYS = ['we"ird\\key', 'location', 'site'];

async function seed(knex: Knex, store: RolloutStore) {
  await knex.migrate.latest({ directory: migrationsDir });
  const now = new Date().toISOString();
  await knex('patch_endpoints').insert(
    ids.map((id, i) => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      labels: JSON.stringify(
        i === 1 ? { site: 'b' } : { 'we"ird\\key': `v"${i}`, site: 'a' },
      ),
      location: i === 1 ? 'berlin' : null,
      secret_hash: 'x'.repeat(64),
      enrolled_at: now,
      revoked_at: id === 'e4' ? now : null,
    })),
  );
  for (const [rolloutId, state] of [
    ['other', 'running'],
    ['r1', 'running'],
    ['r2', 'running'],
  ]) {
    await store.transaction(trx =>
      store.rollouts.insert(
        {
          id: rolloutId,
          patchRef: PATCH,
          policyRef: 'rolloutpolicy:default/p',
          state: state as 'running',
          emergency: false,
          currentRing: 0,
          ringCount: 1,
          policy: { owner: 'group:default/ops', rings: [] },
          rings: [],
          createdBy: 'user:default/test',
          createdAt: now,
        },
        [
          {
            id: `${rolloutId}-w`,
            ringIndex: 0,
            ringName: 'all',
            soakMinutes: 0,
          },
        ],
        trx,
      ),
    );
  }
}

async function rows(knex: Knex, waveId: string) {
  const list = await knex('patch_wave_endpoints')
    .where({ wave_id: waveId })
    .orderBy('endpoint_id')
    .select('endpoint_id', 'label_key');
  return Object.fromEntries(list.map(r => [r.endpoint_id, r.label_key]));
}

describe('WaveStore.snapshot', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'takes the same rows from approved endpoints and from planned ids on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const store = new RolloutStore(knex);
      await seed(knex, store);
      const wave = (id: string) => ({
        id: `${id}-w`,
        rolloutId: id,
        patchRef: PATCH,
      });
      // Another active rollout of the patch holds e3.
      await store.transaction(trx =>
        store.waves.snapshot(wave('other'), { endpointIds: ['e3'] }, [], trx),
      );

      const fromIds = await store.transaction(trx =>
        store.waves.snapshot(wave('r1'), { endpointIds: ids }, KEYS, trx),
      );
      // Once more: nothing is taken twice.
      expect(
        await store.transaction(trx =>
          store.waves.snapshot(wave('r1'), { endpointIds: ids }, KEYS, trx),
        ),
      ).toBe(fromIds);
      await knex('patch_rollouts').where({ id: 'r1' }).update({
        state: 'aborted',
      });
      const fromApproved = await store.transaction(trx =>
        store.waves.snapshot(
          wave('r2'),
          { approved: db => db('patch_endpoints').select('id as endpoint_id') },
          KEYS,
          trx,
        ),
      );

      expect(fromIds).toBe(3);
      expect(fromApproved).toBe(3);
      const expected = {
        e0: { 'we"ird\\key': 'v"0', location: '', site: 'a' },
        e1: { 'we"ird\\key': '', location: 'berlin', site: 'b' },
        e2: { 'we"ird\\key': 'v"2', location: '', site: 'a' },
      };
      // The text itself, as JSON.stringify writes it (keys in their order).
      const texts = Object.fromEntries(
        Object.entries(expected).map(([e, labels]) => [
          e,
          JSON.stringify(labels),
        ]),
      );
      expect(await rows(knex, 'r1-w')).toEqual(texts);
      expect(await rows(knex, 'r2-w')).toEqual(texts);
      await knex.destroy();
    },
  );
});

describe('PlanStore.waveApplicability', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    "reads each undispatched endpoint's needs, grouped in the database, on %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      const store = new RolloutStore(knex);
      await seed(knex, store);
      const wave = { id: 'r1-w', rolloutId: 'r1', patchRef: PATCH };
      await store.transaction(trx =>
        store.waves.snapshot(wave, { endpointIds: ids }, [], trx),
      );
      const need = (endpointId: string, pkg: string, patchRef = PATCH) => ({
        endpoint_id: endpointId,
        patch_ref: patchRef,
        package: pkg,
        ecosystem: 'deb',
        installed_version: '1.0',
        fixed_version: '1.1',
        state: 'needed',
        updated_at: new Date().toISOString(),
      });
      // e0 needs two packages (listed by name whatever the row order), e1
      // one of them, e2 none of this patch (a row of another patch only).
      await knex('patch_applicability').insert([
        need('e0', 'zlib'),
        need('e0', 'openssl'),
        need('e1', 'openssl'),
        need('e2', 'openssl', 'patch:default/other'),
      ]);
      const read = () =>
        store.transaction(trx =>
          store.plans.waveApplicability(PATCH, wave.id, trx),
        );
      const pkg = (name: string) => ({
        package: name,
        ecosystem: 'deb',
        installedVersion: '1.0',
        fixedVersion: '1.1',
      });

      const needs = await read();
      expect(Object.fromEntries(needs)).toEqual({
        e0: [pkg('openssl'), pkg('zlib')],
        e1: [pkg('openssl')],
        e2: [],
        e3: [],
      });
      // A wave dispatched whole has nothing left to read.
      await store.transaction(trx =>
        store.waveEndpoints.markAllDispatched(wave.id, trx),
      );
      expect((await read()).size).toBe(0);
      await knex.destroy();
    },
  );
});
