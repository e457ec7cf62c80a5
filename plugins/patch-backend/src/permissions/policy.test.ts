import {
  AuthorizeResult,
  createPermission,
} from '@backstage/plugin-permission-common';
import {
  patchApprovalDecidePermission,
  patchApprovalReadPermission,
  patchAuditReadPermission,
  patchEnrollmentCreatePermission,
  patchReportReadPermission,
  patchRolloutManagePermission,
} from '@patchbay/plugin-patch-common';
import { PatchbayPermissionPolicy } from './policy';

const policy = new PatchbayPermissionPolicy({
  operationsGroup: 'group:default/ops',
  securityGroup: 'group:default/sec',
});
const user = (...groups: string[]) =>
  ({
    credentials: {} as any,
    info: {
      userEntityRef: 'user:default/u',
      ownershipEntityRefs: ['user:default/u', ...groups],
    },
  } as any);

describe('PatchbayPermissionPolicy', () => {
  it('makes approval decisions conditional on group membership', async () => {
    const d = await policy.handle(
      { permission: patchApprovalDecidePermission },
      user('group:default/team-a'),
    );
    expect(d).toEqual({
      result: AuthorizeResult.CONDITIONAL,
      pluginId: 'patch',
      resourceType: 'patch-approval',
      conditions: {
        anyOf: [
          {
            rule: 'IS_APPROVING_GROUP_MEMBER',
            resourceType: 'patch-approval',
            params: { claims: ['user:default/u', 'group:default/team-a'] },
          },
          {
            rule: 'IS_APPROVAL_DELEGATE',
            resourceType: 'patch-approval',
            params: { claims: ['user:default/u', 'group:default/team-a'] },
          },
        ],
      },
    });
    // Operations read every request but decide only for their own groups.
    expect(
      (
        await policy.handle(
          { permission: patchApprovalReadPermission },
          user('group:default/ops'),
        )
      ).result,
    ).toBe(AuthorizeResult.ALLOW);
    expect(
      (
        await policy.handle(
          { permission: patchApprovalDecidePermission },
          user('group:default/ops'),
        )
      ).result,
    ).toBe(AuthorizeResult.CONDITIONAL);
  });

  it('gives rollouts and enrollment to operations, the audit to security, reports to everyone', async () => {
    expect(
      (
        await policy.handle(
          { permission: patchRolloutManagePermission },
          user('group:default/ops'),
        )
      ).result,
    ).toBe(AuthorizeResult.ALLOW);
    expect(
      (
        await policy.handle(
          { permission: patchRolloutManagePermission },
          user('group:default/team-a'),
        )
      ).result,
    ).toBe(AuthorizeResult.DENY);
    expect(
      (
        await policy.handle(
          { permission: patchEnrollmentCreatePermission },
          user('group:default/sec'),
        )
      ).result,
    ).toBe(AuthorizeResult.DENY);
    expect(
      (
        await policy.handle(
          { permission: patchAuditReadPermission },
          user('group:default/sec'),
        )
      ).result,
    ).toBe(AuthorizeResult.ALLOW);
    expect(
      (
        await policy.handle(
          { permission: patchAuditReadPermission },
          user('group:default/ops'),
        )
      ).result,
    ).toBe(AuthorizeResult.DENY);
    expect(
      (await policy.handle({ permission: patchReportReadPermission }, user()))
        .result,
    ).toBe(AuthorizeResult.ALLOW);
    expect(
      (
        await policy.handle(
          { permission: patchReportReadPermission },
          undefined,
        )
      ).result,
    ).toBe(AuthorizeResult.DENY);
  });

  it('keeps the rest of Backstage working', async () => {
    const catalogRead = createPermission({
      name: 'catalog.entity.read',
      attributes: { action: 'read' },
    });
    expect(
      (await policy.handle({ permission: catalogRead }, user())).result,
    ).toBe(AuthorizeResult.ALLOW);
  });
});
