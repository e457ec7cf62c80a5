import { isResourcePermission } from '@backstage/plugin-permission-common';
import {
  PATCH_APPROVAL_RESOURCE_TYPE,
  patchApprovalDecidePermission,
  patchPermissions,
} from './permissions';

describe('permissions', () => {
  it('have unique names under the patch prefix', () => {
    const names = patchPermissions.map(p => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^patch\.[a-z]+\.[a-z]+$/);
  });

  it('makes deciding an approval a resource permission', () => {
    expect(
      isResourcePermission(
        patchApprovalDecidePermission,
        PATCH_APPROVAL_RESOURCE_TYPE,
      ),
    ).toBe(true);
  });
});
