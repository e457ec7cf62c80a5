import { PatchEntity } from '@patchbay/plugin-patch-common';
import { validateOpenVex } from './__testUtils__/openvex';
import { RiskException } from './ExceptionStore';
import { buildVexDocument, entityIri } from './vex';

const base: RiskException = {
  id: 'e1',
  patchRef: 'patch:default/alsa-2026-39316',
  scopeKind: 'endpoint',
  scopeRef: 'resource:default/ep-4',
  reason: 'printing disabled',
  approver: 'user:default/bob',
  compensatingControl: 'cups masked',
  vexStatus: 'not_affected',
  expiresAt: '2026-12-01T00:00:00.000Z',
  createdBy: 'user:default/bob',
  createdAt: '2026-11-26T00:00:00.000Z',
};
const patches = new Map<string, PatchEntity>([
  [
    base.patchRef,
    {
      spec: { cves: ['CVE-2026-34980', 'CVE-2026-1'] },
      metadata: { name: 'alsa-2026-39316' },
    } as any,
  ],
]);
const now = new Date('2026-11-26T12:00:00Z');

describe('OpenVEX export', () => {
  it('validates against the OpenVEX v0.2.0 schema for each status', () => {
    const doc = buildVexDocument({
      exceptions: [
        { ...base, justification: 'vulnerable_code_not_in_execute_path' },
        { ...base, id: 'e2', impactStatement: 'not reachable' },
        {
          ...base,
          id: 'e3',
          vexStatus: 'affected',
          scopeKind: 'system',
          scopeRef: 'system:default/payments',
        },
      ],
      patches,
      author: 'Patchbay',
      now,
    })!;
    expect(validateOpenVex(doc)).toEqual([]);
    expect(doc.statements).toHaveLength(6);
    expect(doc.statements[0].products[0]['@id']).toBe(
      'urn:backstage:entity:resource:default:ep-4',
    );
    expect(doc.statements[4]).toMatchObject({
      status: 'affected',
      action_statement: 'Compensating control: cups masked',
    });
  });

  it('the validator rejects what the spec forbids', () => {
    const doc = buildVexDocument({
      exceptions: [base],
      patches,
      author: 'x',
      now,
    })!;
    // not_affected with both a justification and an impact statement is invalid.
    const both = {
      ...doc,
      statements: [
        { ...doc.statements[0], justification: 'component_not_present' },
      ],
    };
    expect(validateOpenVex(both)).not.toEqual([]);
    expect(validateOpenVex({ ...doc, statements: [] })).not.toEqual([]);
  });

  it('has nothing to export without exceptions', () => {
    expect(
      buildVexDocument({ exceptions: [], patches, author: 'x', now }),
    ).toBeUndefined();
    expect(entityIri('component:team/web')).toBe(
      'urn:backstage:entity:component:team:web',
    );
  });
});
