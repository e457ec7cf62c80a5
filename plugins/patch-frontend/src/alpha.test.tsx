import patchPlugin from './alpha';

describe('new frontend system plugin', () => {
  it('has the patch id', () => {
    expect(patchPlugin.pluginId).toBe('patch');
  });

  it('provides the API, the page and one entity content per kind of entity', () => {
    for (const id of [
      'api:patch',
      'page:patch',
      'entity-content:patch/owner',
      'entity-content:patch/endpoint',
      'entity-content:patch/patch',
    ] as const) {
      expect(patchPlugin.getExtension(id)).toBeDefined();
    }
  });
});
