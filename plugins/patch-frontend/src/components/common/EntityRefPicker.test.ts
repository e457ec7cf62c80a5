import type { Entity } from '@backstage/catalog-model';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';
import { parseRefTerm, searchEntityRefs } from './EntityRefPicker';

const group = (name: string, namespace = 'default'): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Group',
  metadata: { name, namespace },
  spec: { type: 'team', children: [] },
});

describe('parseRefTerm', () => {
  it('reads full and partial entity refs of users and groups', () => {
    expect(parseRefTerm('group:default/ops')).toEqual({
      kinds: ['group'],
      namespace: 'default',
      name: 'ops',
    });
    expect(parseRefTerm('User:car')).toEqual({
      kinds: ['user'],
      namespace: undefined,
      name: 'car',
    });
    expect(parseRefTerm('infra/')).toEqual({
      kinds: ['user', 'group'],
      namespace: 'infra',
      name: '',
    });
  });

  it('leaves plain names, display names and other kinds to the plain search', () => {
    expect(parseRefTerm('ops')).toBeUndefined();
    expect(parseRefTerm('Ops / SRE')).toBeUndefined();
    expect(parseRefTerm('component:default/ops')).toBeUndefined();
  });

  it('reads only the kinds searched', () => {
    expect(parseRefTerm('group:default/ops', ['user'])).toBeUndefined();
    expect(parseRefTerm('default/ops', ['user'])).toEqual({
      kinds: ['user'],
      namespace: 'default',
      name: 'ops',
    });
  });
});

describe('searchEntityRefs', () => {
  it('finds a full ref first even when more names contain it than the limit', async () => {
    const catalogApi = catalogApiMock({
      entities: [
        ...Array.from({ length: 30 }, (_, i) =>
          group(`a${String(i).padStart(2, '0')}-ops`),
        ),
        group('ops'),
        group('ops', 'other'),
      ],
    });
    const found = await searchEntityRefs(catalogApi, 'group:default/ops', 5);
    expect(found.map(d => d.ref)).toEqual([
      'group:default/ops',
      'group:default/a00-ops',
      'group:default/a01-ops',
      'group:default/a02-ops',
      'group:default/a03-ops',
    ]);
  });

  it('finds only the kinds asked for', async () => {
    const user: Entity = {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'User',
      metadata: { name: 'ops-oncall', namespace: 'default' },
      spec: { profile: { displayName: 'Ops on call' } },
    };
    const catalogApi = catalogApiMock({ entities: [group('ops'), user] });
    expect(
      (await searchEntityRefs(catalogApi, 'ops', 5)).map(d => d.ref),
    ).toEqual(['group:default/ops', 'user:default/ops-oncall']);
    expect(
      (await searchEntityRefs(catalogApi, 'ops', 5, ['user'])).map(d => d.ref),
    ).toEqual(['user:default/ops-oncall']);
  });

  it('asks nothing for an empty term', async () => {
    const catalogApi = { queryEntities: jest.fn() };
    expect(await searchEntityRefs(catalogApi, '', 20)).toEqual([]);
    expect(catalogApi.queryEntities).not.toHaveBeenCalled();
  });
});
