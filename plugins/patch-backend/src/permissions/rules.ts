import {
  createPermissionResourceRef,
  createPermissionRule,
} from '@backstage/plugin-permission-node';
import { PATCH_APPROVAL_RESOURCE_TYPE } from '@patchbay/plugin-patch-common';
// zod/v3: the API @backstage/plugin-permission-node's rule types are written
// against; the same module instance, so the types compare cheaply.
import { z } from 'zod/v3';

/*
 * The rule inputs live here, on the permissions side: the fields of an
 * approval request the rules read, and the database form of their queries.
 * The approvals area imports them (ApprovalStore's ApprovalRequest has these
 * fields, its queries apply ApprovalQuery); nothing here imports the area.
 */

/**
 * What the rules read of an approval request (approvals/ApprovalStore.ts's
 * `ApprovalRequest` is one).
 * @public
 */
export interface ApprovalResource {
  /** The approving group. */
  groupRef: string;
  /** Groups or users the group's approvals are delegated to, as of the read. */
  delegates?: string[];
}

/**
 * The database form of the rules' queries: the request's group is one of
 * `values`, or the group's approvals are delegated, now, to one of
 * `values` (applied by approvals/ApprovalStore.ts).
 * @public
 */
export type ApprovalQuery =
  | { key: 'group_ref'; values: string[] }
  | { key: 'delegate'; values: string[] };

/**
 * The `patch-approval` resource of the permission framework: an approval
 * request, queried in the database with {@link ApprovalQuery}.
 * @public
 */
export const patchApprovalResourceRef = createPermissionResourceRef<
  ApprovalResource,
  ApprovalQuery
>().with({
  pluginId: 'patch',
  resourceType: PATCH_APPROVAL_RESOURCE_TYPE,
});

/** Parameters of {@link isApprovingGroupMember}. */
const claimsSchema: z.ZodType<{ claims: string[] }> = z.object({
  claims: z
    .array(z.string())
    .describe(
      'Entity refs the user owns through: the user and its groups (ownershipEntityRefs)',
    ),
});

/**
 * Allows the request when the user belongs to its approving group: one of
 * the given refs (the user's ownership claims) is the request's group.
 * `toQuery` keeps the inbox filtered in the database.
 * @public
 */
export const isApprovingGroupMember = createPermissionRule<
  typeof patchApprovalResourceRef,
  { claims: string[] }
>({
  name: 'IS_APPROVING_GROUP_MEMBER',
  description:
    'Allow when the user is a member of the group the approval request is for',
  resourceRef: patchApprovalResourceRef,
  paramsSchema: claimsSchema,
  apply: (request: ApprovalResource, { claims }) =>
    claims.includes(request.groupRef),
  toQuery: ({ claims }) => ({ key: 'group_ref', values: claims }),
});

/**
 * Allows the request when its group's approvals are delegated, at the time
 * of the check, to the user or one of its groups (see DelegationStore).
 * `toQuery` keeps the inbox filtered in the database.
 * @public
 */
export const isApprovalDelegate = createPermissionRule<
  typeof patchApprovalResourceRef,
  { claims: string[] }
>({
  name: 'IS_APPROVAL_DELEGATE',
  description:
    "Allow when the request's group delegated its approvals to the user or one of its groups",
  resourceRef: patchApprovalResourceRef,
  paramsSchema: claimsSchema,
  apply: (request: ApprovalResource, { claims }) =>
    (request.delegates ?? []).some(d => claims.includes(d)),
  toQuery: ({ claims }) => ({ key: 'delegate', values: claims }),
});

/**
 * Every rule of the `patch-approval` resource.
 * @public
 */
export const patchApprovalRules = {
  isApprovingGroupMember,
  isApprovalDelegate,
};
