import { PatchEntity } from '@patchbay/plugin-patch-common';
import { dueDate, matchAutoApproveRule, stagesFor } from './policyRules';

function patch(spec: Partial<PatchEntity['spec']>): PatchEntity {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Patch',
    metadata: { name: 'p' },
    spec: {
      type: 'security',
      severity: 'low',
      owner: 'group:default/ops',
      targets: [],
      ...spec,
    },
  } as PatchEntity;
}

describe('approval rules of a RolloutPolicy', () => {
  it('matches auto-approval rules on severity, type and vendor', () => {
    const policy = {
      autoApprove: [
        { severity: ['low' as const], type: ['bugfix' as const] },
        { vendor: ['AlmaLinux'] },
      ],
    };
    expect(
      matchAutoApproveRule(policy, patch({ severity: 'low', type: 'bugfix' })),
    ).toBe(policy.autoApprove[0]);
    expect(
      matchAutoApproveRule(
        policy,
        patch({ severity: 'low', type: 'security' }),
      ),
    ).toBeUndefined();
    expect(
      matchAutoApproveRule(
        policy,
        patch({ severity: 'high', vendor: 'almalinux' }),
      ),
    ).toBe(policy.autoApprove[1]);
    expect(matchAutoApproveRule(undefined, patch({}))).toBeUndefined();
  });

  it('never auto-approves critical unless the policy says so explicitly', () => {
    const rules = [{}];
    expect(
      matchAutoApproveRule(
        { autoApprove: rules },
        patch({ severity: 'critical' }),
      ),
    ).toBeUndefined();
    expect(
      matchAutoApproveRule(
        { autoApprove: rules, allowAutoApproveCritical: true },
        patch({ severity: 'critical' }),
      ),
    ).toBe(rules[0]);
  });

  it('adds a stage for critical or known-exploited patches', () => {
    const stage = {
      name: 'security',
      group: 'group:default/security',
      when: { severity: ['critical' as const], knownExploited: true },
    };
    expect(
      stagesFor({ stages: [stage] }, patch({ severity: 'critical' })),
    ).toEqual([stage]);
    expect(
      stagesFor(
        { stages: [stage] },
        patch({ severity: 'medium', knownExploited: true }),
      ),
    ).toEqual([stage]);
    expect(
      stagesFor({ stages: [stage] }, patch({ severity: 'medium' })),
    ).toEqual([]);
  });

  it('takes the earlier of the KEV due date and publication plus SLA days', () => {
    const policy = { slaDays: { high: 30 } };
    expect(
      dueDate(
        patch({ severity: 'high', published: '2026-07-01T00:00:00Z' }),
        policy,
      )?.toISOString(),
    ).toBe('2026-07-31T00:00:00.000Z');
    expect(
      dueDate(
        patch({
          severity: 'high',
          published: '2026-07-01T00:00:00Z',
          kevDueDate: '2026-07-10',
        }),
        policy,
      )?.toISOString(),
    ).toBe('2026-07-10T23:59:59.999Z');
    // Default SLA days when the policy has none for the severity.
    expect(
      dueDate(
        patch({ severity: 'low', published: '2026-07-01T00:00:00Z' }),
        policy,
      )?.toISOString(),
    ).toBe('2026-12-28T00:00:00.000Z');
    expect(dueDate(patch({}), policy)).toBeUndefined();
  });
});
