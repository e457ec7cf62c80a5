import { Entity } from '@backstage/catalog-model';
import { CatalogProcessorResult } from '@backstage/plugin-catalog-node';
import { PatchEntitiesProcessor } from './PatchEntitiesProcessor';

const location = { type: 'url', target: 'http://example.com/patchbay.yaml' };

const patch: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'dsa-example-2', namespace: 'default' },
  spec: {
    type: 'security',
    severity: 'high',
    targets: [
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'curl',
        fixedVersion: '7.88.1-10+deb12u15',
      },
    ],
    supersedes: ['dsa-example-1'],
    owner: 'it-operations',
  },
};

const pilot: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'PilotGroup',
  metadata: { name: 'berlin-pilot', namespace: 'default' },
  spec: {
    owner: 'group:default/it-operations',
    members: ['ws-berlin-001', 'resource:ops/ws-berlin-002'],
  },
};

const policy: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'RolloutPolicy',
  metadata: { name: 'standard', namespace: 'default' },
  spec: {
    owner: 'group:default/it-operations',
    rings: [
      {
        name: 'pilot',
        pilotGroup: 'berlin-pilot',
        soakMinutes: 60,
        successThreshold: 0.95,
        failureLimit: 0.05,
        promotion: 'manual',
      },
      {
        name: 'early',
        pilotGroup: 'berlin-pilot',
        soakMinutes: 60,
        successThreshold: 0.95,
        failureLimit: 0.05,
        promotion: 'auto',
      },
      {
        name: 'broad',
        soakMinutes: 0,
        successThreshold: 0.98,
        failureLimit: 0.02,
        promotion: 'auto',
      },
    ],
  },
};

async function relationsOf(entity: Entity) {
  const emitted: CatalogProcessorResult[] = [];
  await new PatchEntitiesProcessor().postProcessEntity(entity, location, r =>
    emitted.push(r),
  );
  return emitted;
}

// Kinds compare without case, as the catalog does.
const ref = (r: string) =>
  expect.objectContaining({
    kind: expect.stringMatching(new RegExp(`^${r.split(':')[0]}$`, 'i')),
    namespace: r.split(':')[1].split('/')[0],
    name: r.split('/')[1],
  });
const rel = (type: string, source: string, target: string) => ({
  type: 'relation',
  relation: { type, source: ref(source), target: ref(target) },
});

describe('PatchEntitiesProcessor', () => {
  const processor = new PatchEntitiesProcessor();

  it('validates the three kinds and leaves the others alone', async () => {
    await expect(processor.validateEntityKind(patch)).resolves.toBe(true);
    await expect(processor.validateEntityKind(pilot)).resolves.toBe(true);
    await expect(processor.validateEntityKind(policy)).resolves.toBe(true);
    await expect(
      processor.validateEntityKind({
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'Component',
        metadata: { name: 'c' },
      }),
    ).resolves.toBe(false);
  });

  it('rejects an invalid entity with an error that names the field', async () => {
    const bad = {
      ...patch,
      spec: {
        ...patch.spec,
        targets: [{ ecosystem: 'deb', release: 'debian:12', package: 'curl' }],
      },
    };
    await expect(processor.validateEntityKind(bad)).rejects.toThrow(
      /spec\.targets\[0\]\.fixedVersion is required/,
    );
    const badPolicy = {
      ...policy,
      spec: {
        ...(policy.spec as any),
        rings: [
          {
            name: 'x',
            soakMinutes: -1,
            successThreshold: 1,
            failureLimit: 0,
            promotion: 'auto',
          },
        ],
      },
    };
    await expect(processor.validateEntityKind(badPolicy)).rejects.toThrow(
      /spec\.rings\[0\]\.soakMinutes/,
    );
  });

  it('emits owner and supersedes relations both ways for a Patch', async () => {
    const emitted = await relationsOf(patch);
    expect(emitted).toEqual(
      expect.arrayContaining([
        rel(
          'ownedBy',
          'patch:default/dsa-example-2',
          'group:default/it-operations',
        ),
        rel(
          'ownerOf',
          'group:default/it-operations',
          'patch:default/dsa-example-2',
        ),
        rel(
          'supersedes',
          'patch:default/dsa-example-2',
          'patch:default/dsa-example-1',
        ),
        rel(
          'supersededBy',
          'patch:default/dsa-example-1',
          'patch:default/dsa-example-2',
        ),
      ]),
    );
    expect(emitted).toHaveLength(4);
  });

  it('emits member relations for a pilot group, in its namespace unless given', async () => {
    const emitted = await relationsOf(pilot);
    expect(emitted).toEqual(
      expect.arrayContaining([
        rel(
          'hasPilotMember',
          'pilotgroup:default/berlin-pilot',
          'resource:default/ws-berlin-001',
        ),
        rel(
          'pilotMemberOf',
          'resource:default/ws-berlin-001',
          'pilotgroup:default/berlin-pilot',
        ),
        rel(
          'hasPilotMember',
          'pilotgroup:default/berlin-pilot',
          'resource:ops/ws-berlin-002',
        ),
      ]),
    );
    const target = emitted.find(
      (r: any) =>
        r.relation.type === 'hasPilotMember' &&
        r.relation.target.name === 'ws-berlin-002',
    ) as any;
    expect(target.relation.target).toEqual({
      kind: 'resource',
      namespace: 'ops',
      name: 'ws-berlin-002',
    });
    expect(emitted).toHaveLength(6);
  });

  it("emits one relation pair per pilot group of a policy's rings", async () => {
    const emitted = await relationsOf(policy);
    expect(emitted).toEqual(
      expect.arrayContaining([
        rel(
          'usesPilotGroup',
          'rolloutpolicy:default/standard',
          'pilotgroup:default/berlin-pilot',
        ),
        rel(
          'pilotGroupOf',
          'pilotgroup:default/berlin-pilot',
          'rolloutpolicy:default/standard',
        ),
      ]),
    );
    expect(emitted).toHaveLength(4);
  });

  it('turns a malformed reference into an input error that names the field', async () => {
    const emitted = await relationsOf({
      ...pilot,
      spec: { ...(pilot.spec as any), members: ['resource:'] },
    });
    expect(emitted).toContainEqual(
      expect.objectContaining({
        type: 'error',
        error: expect.objectContaining({
          message: expect.stringMatching(
            /spec\.members\[0\] is not an entity reference/,
          ),
        }),
      }),
    );
  });

  it('passes other kinds through untouched', async () => {
    const component = {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Component',
      metadata: { name: 'c' },
      spec: { owner: 'x' },
    };
    expect(await relationsOf(component)).toEqual([]);
  });
});
