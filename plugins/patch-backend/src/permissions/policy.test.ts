import {
  AuthorizeResult,
  createPermission,
} from '@backstage/plugin-permission-common';
import {
  patchApprovalDecidePermission,
  patchApprovalReadPermission,
  patchApprovalDelegationReadPermission,
  patchAuditReadPermission,
  patchEndpointReadPermission,
  patchEnrollmentCreatePermission,
  patchExceptionReadPermission,
  patchExceptionRevokePermission,
  patchJobEmergencyPermission,
  patchJobReadPermission,
  patchRolloutReadPermission,
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

  it('lets every signed-in user read what it read before, and keeps emergency jobs to operations', async () => {
    for (const permission of [
      patchEndpointReadPermission,
      patchJobReadPermission,
      patchRolloutReadPermission,
      patchExceptionReadPermission,
      patchExceptionRevokePermission,
      patchApprovalDelegationReadPermission,
    ]) {
      expect((await policy.handle({ permission }, user())).result).toBe(
        AuthorizeResult.ALLOW,
      );
      expect((await policy.handle({ permission }, undefined)).result).toBe(
        AuthorizeResult.DENY,
      );
    }
    const emergency = { permission: patchJobEmergencyPermission };
    expect((await policy.handle(emergency, user())).result).toBe(
      AuthorizeResult.DENY,
    );
    expect(
      (await policy.handle(emergency, user('group:default/ops'))).result,
    ).toBe(AuthorizeResult.ALLOW);
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
