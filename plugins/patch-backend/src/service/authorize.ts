/*
 * The one authorization helper of the portal routes. Every portal route
 * authenticates and asks the permission framework through it, reads
 * included, so that a policy can grant or refuse any of them; a refusal is
 * audited and answered 403. Resource permissions (approval requests) come
 * back conditional and are applied by the caller: as a database filter for
 * lists, or to each request for decisions.
 *
 * The actions of Backstage's actions registry (src/actions/) come with
 * credentials the registry already authenticated instead of a request: they
 * enter through the `...Credentials` variants below, which ask the same
 * permission the same way and audit a refusal the same way.
 */
import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { AuthenticationError, NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  PolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { Request } from 'express';
import { actorOf } from './actor';
import { PatchServices } from './types';

/**
 * What the helper uses: a route file's deps interface extends it, and the
 * plugin's services object fits it.
 */
export type AuthorizeDeps = Pick<
  PatchServices,
  'httpAuth' | 'permissions' | 'audit' | 'userInfo'
>;

/** Express requests of the typed router differ in their generics only. */
type AnyRequest = Request<any, any, any, any>;

/** What the audit entry of a refusal names. */
export interface AuthorizeTarget {
  /** The audited action, kebab-case (e.g. `job-create`, `endpoint-read`). */
  action: string;
  targetType?: string;
  targetId?: string;
  groupRef?: string;
}

/** The caller, once allowed. */
export interface Caller {
  credentials: BackstageCredentials;
  /** The audit name: a user's entity ref, or `service:<subject>`. */
  actor: string;
  /** The user's entity ref; undefined for a backend service. */
  userRef?: string;
}

// The one actorOf lives in actor.ts; re-exported for existing callers.
export { actorOf };

/** The caller of a portal request: a signed-in user or a backend service. */
export async function callerOf(
  ctx: AuthorizeDeps,
  req: AnyRequest,
  allow: Array<'user' | 'service'> = ['user', 'service'],
): Promise<Caller> {
  const credentials = await ctx.httpAuth.credentials(req, { allow });
  const p = credentials.principal as { userEntityRef?: string };
  return { credentials, actor: actorOf(credentials), userRef: p.userEntityRef };
}

/**
 * The caller behind credentials authenticated elsewhere (an action of the
 * actions registry): refused, as httpAuth refuses a request, unless its
 * principal is one of `allow`.
 */
export function callerOfCredentials(
  credentials: BackstageCredentials,
  allow: Array<'user' | 'service'> = ['user', 'service'],
): Caller {
  const p = credentials.principal as { type: string; userEntityRef?: string };
  if (!allow.includes(p.type as 'user' | 'service')) {
    throw new AuthenticationError(
      `This operation needs a ${allow.join(' or ')} principal, not ${p.type}`,
    );
  }
  return { credentials, actor: actorOf(credentials), userRef: p.userEntityRef };
}

/**
 * Records a refusal in the audit trail and throws the 403. `req` is the
 * HTTP request behind it, for Backstage's auditor; none for an action.
 */
export async function refuse(
  ctx: AuthorizeDeps,
  req: AnyRequest | undefined,
  actor: string,
  target: AuthorizeTarget,
  message: string,
): Promise<never> {
  await ctx.audit.record({
    actor,
    action: target.action,
    outcome: 'denied',
    targetType: target.targetType,
    targetId: target.targetId,
    groupRef: target.groupRef,
    message,
    request: req as Request | undefined,
  });
  throw new NotAllowedError(message);
}

/** Asks a basic permission for an identified caller; refuses (audited) unless ALLOW. */
async function allowBasic(
  ctx: AuthorizeDeps,
  caller: Caller,
  permission: BasicPermission,
  target: AuthorizeTarget,
  req?: AnyRequest,
): Promise<Caller> {
  const [decision] = await ctx.permissions.authorize([{ permission }], {
    credentials: caller.credentials,
  });
  if (decision.result !== AuthorizeResult.ALLOW) {
    await refuse(
      ctx,
      req,
      caller.actor,
      target,
      `${caller.actor} is not allowed ${permission.name}`,
    );
  }
  return caller;
}

/** Asks a resource permission for an identified caller; refuses (audited) a DENY. */
async function allowConditional(
  ctx: AuthorizeDeps,
  caller: Caller,
  permission: ResourcePermission,
  target: AuthorizeTarget,
  req?: AnyRequest,
): Promise<Caller & { decision: PolicyDecision }> {
  const [decision] = await ctx.permissions.authorizeConditional(
    [{ permission }],
    { credentials: caller.credentials },
  );
  if (decision.result === AuthorizeResult.DENY) {
    await refuse(
      ctx,
      req,
      caller.actor,
      target,
      `${caller.actor} is not allowed ${permission.name}`,
    );
  }
  return { ...caller, decision };
}

/**
 * Authenticates the caller and checks a basic permission; refuses (audited
 * 403) unless the policy allows it.
 */
export async function authorize(
  ctx: AuthorizeDeps,
  req: AnyRequest,
  permission: BasicPermission,
  target: AuthorizeTarget,
  allow?: Array<'user' | 'service'>,
): Promise<Caller> {
  return allowBasic(
    ctx,
    await callerOf(ctx, req, allow),
    permission,
    target,
    req,
  );
}

/** {@link authorize} for an action of the actions registry: its credentials instead of a request. */
export async function authorizeCredentials(
  ctx: AuthorizeDeps,
  credentials: BackstageCredentials,
  permission: BasicPermission,
  target: AuthorizeTarget,
  allow?: Array<'user' | 'service'>,
): Promise<Caller> {
  return allowBasic(
    ctx,
    callerOfCredentials(credentials, allow),
    permission,
    target,
  );
}

/**
 * Authenticates the caller and asks for a resource permission; refuses
 * (audited 403) a DENY and returns an ALLOW or a CONDITIONAL decision for
 * the caller to apply.
 */
export async function authorizeConditional(
  ctx: AuthorizeDeps,
  req: AnyRequest,
  permission: ResourcePermission,
  target: AuthorizeTarget,
  allow?: Array<'user' | 'service'>,
): Promise<Caller & { decision: PolicyDecision }> {
  return allowConditional(
    ctx,
    await callerOf(ctx, req, allow),
    permission,
    target,
    req,
  );
}

/** {@link authorizeConditional} for an action of the actions registry. */
export async function authorizeConditionalCredentials(
  ctx: AuthorizeDeps,
  credentials: BackstageCredentials,
  permission: ResourcePermission,
  target: AuthorizeTarget,
  allow?: Array<'user' | 'service'>,
): Promise<Caller & { decision: PolicyDecision }> {
  return allowConditional(
    ctx,
    callerOfCredentials(credentials, allow),
    permission,
    target,
  );
}

/** The groups a user claims (ownership refs), for inboxes and membership rules. */
export async function claimsOf(
  ctx: AuthorizeDeps,
  caller: Caller,
): Promise<string[]> {
  const userRef = caller.userRef ?? caller.actor;
  const info = ctx.userInfo
    ? await ctx.userInfo.getUserInfo(caller.credentials)
    : undefined;
  return info?.ownershipEntityRefs ?? [userRef];
}

/**
 * {@link authorize} for routes only a signed-in user may call: the user's
 * entity ref and ownership claims come with the answer.
 */
export async function authorizeUser(
  ctx: AuthorizeDeps,
  req: AnyRequest,
  permission: BasicPermission,
  target: AuthorizeTarget,
): Promise<Caller & { userRef: string; claims: string[] }> {
  const caller = await authorize(ctx, req, permission, target, ['user']);
  return {
    ...caller,
    userRef: caller.userRef!,
    claims: await claimsOf(ctx, caller),
  };
}
