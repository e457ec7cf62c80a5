import {
  patchEntityV1alpha1Schema,
  pilotGroupEntityV1alpha1Schema,
  rolloutPolicyEntityV1alpha1Schema,
  validatePatchEntity,
  validatePilotGroupEntity,
  validateRolloutPolicyEntity,
} from './index';

const schemas: Array<[string, any, (d: unknown) => { valid: boolean }]> = [
  ['Patch', patchEntityV1alpha1Schema, validatePatchEntity],
  ['PilotGroup', pilotGroupEntityV1alpha1Schema, validatePilotGroupEntity],
  [
    'RolloutPolicy',
    rolloutPolicyEntityV1alpha1Schema,
    validateRolloutPolicyEntity,
  ],
];

/** Every property schema below `node`, with its path, following local $refs. */
function* fields(root: any, node: any, path: string): Generator<[string, any]> {
  const resolved = node.$ref
    ? root.definitions[node.$ref.split('/').pop()]
    : node;
  yield [path, resolved];
  for (const [k, v] of Object.entries<any>(resolved.properties ?? {})) {
    yield* fields(root, v, `${path}.${k}`);
  }
  if (resolved.items) yield* fields(root, resolved.items, `${path}[]`);
  if (typeof resolved.additionalProperties === 'object') {
    yield* fields(root, resolved.additionalProperties, `${path}{}`);
  }
}

describe.each(schemas)('%s schema', (kind, schema, validate) => {
  it('is draft-07 with an $id', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema');
    expect(schema.$id).toMatch(
      new RegExp(`${kind}\\.v1alpha1\\.schema\\.json$`),
    );
  });

  it('describes every field and gives an example of it', () => {
    const missing: string[] = [];
    for (const [path, f] of fields(schema, schema, kind)) {
      if (typeof f.description !== 'string' || f.description.length < 5) {
        missing.push(`${path}: description`);
      }
      if (!Array.isArray(f.examples) || f.examples.length === 0) {
        missing.push(`${path}: examples`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('accepts its own top-level examples', () => {
    for (const example of schema.examples) {
      expect(validate(example)).toEqual({ valid: true, errors: [] });
    }
  });
});
