import type { Entity } from '@backstage/catalog-model';
import { createExtensionTester } from '@backstage/frontend-test-utils';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import patchPlugin from './alpha';

const entity = (kind: string, type?: string): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind,
  metadata: { name: 'x', namespace: 'default' },
  spec: type ? { type } : {},
});

/** Which of the sample entities an entity content's filter shows a tab on. */
function tabsOf(id: Parameters<typeof patchPlugin.getExtension>[0]) {
  const tester = createExtensionTester(patchPlugin.getExtension(id));
  const filter = tester.get(EntityContentBlueprint.dataRefs.filterFunction);
  const expression = tester.get(
    EntityContentBlueprint.dataRefs.filterExpression,
  );
  expect(expression).toBeUndefined();
  return [
    entity('Component', 'service'),
    entity('System'),
    entity('Group', 'team'),
    entity('Resource', 'endpoint'),
    entity('Resource', 'database'),
    entity('Patch', 'security'),
    entity('User'),
  ]
    .filter(e => filter!(e))
    .map(
      e =>
        `${e.kind}${
          (e.spec as { type?: string }).type
            ? `:${(e.spec as { type?: string }).type}`
            : ''
        }`,
    );
}

describe('entity content filters of the new frontend system plugin', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => warn.mockRestore());

  /**
   * Predicate objects, not strings: a string filter prints a DEPRECATION
   * WARNING in the browser for every entity page.
   */
  const deprecationWarnings = () =>
    warn.mock.calls.map(c => String(c[0])).filter(m => /DEPRECATION/.test(m));

  it('shows the owner tab on Components, Systems and Groups only', () => {
    expect(tabsOf('entity-content:patch/owner')).toEqual([
      'Component:service',
      'System',
      'Group:team',
    ]);
    expect(deprecationWarnings()).toEqual([]);
  });

  it('shows the endpoint tab on Resources of type endpoint only', () => {
    expect(tabsOf('entity-content:patch/endpoint')).toEqual([
      'Resource:endpoint',
    ]);
    expect(deprecationWarnings()).toEqual([]);
  });

  it('shows the patch tab on Patch entities only', () => {
    expect(tabsOf('entity-content:patch/patch')).toEqual(['Patch:security']);
    expect(deprecationWarnings()).toEqual([]);
  });
});
