import type { Entity } from '@backstage/catalog-model';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';
import { parseRefTerm, searchDelegates } from './DelegatePicker';

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
});

describe('searchDelegates', () => {
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
    const found = await searchDelegates(catalogApi, 'group:default/ops', 5);
    expect(found.map(d => d.ref)).toEqual([
      'group:default/ops',
      'group:default/a00-ops',
      'group:default/a01-ops',
      'group:default/a02-ops',
      'group:default/a03-ops',
    ]);
  });

  it('asks nothing for an empty term', async () => {
    const catalogApi = { queryEntities: jest.fn() };
    expect(await searchDelegates(catalogApi, '', 20)).toEqual([]);
    expect(catalogApi.queryEntities).not.toHaveBeenCalled();
  });
});
