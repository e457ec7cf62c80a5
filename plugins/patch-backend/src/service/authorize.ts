/*
 * The one authorization helper of the portal routes. Every portal route
 * authenticates and asks the permission framework through it, reads
 * included, so that a policy can grant or refuse any of them; a refusal is
 * audited and answered 403. Resource permissions (approval requests) come
 * back conditional and are applied by the caller: as a database filter for
 * lists, or to each request for decisions.
 */
import { BackstageCredentials } from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  PolicyDecision,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { Request } from 'express';
import { RouterContext } from './types';

/** The services `authorize` and its helpers use. */
export type AuthorizeDeps = Pick<
  RouterContext,
  'httpAuth' | 'permissions' | 'audit'
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

/** The audit name of a caller: a user's entity ref, or `service:<subject>`. @internal */
export function actorOf(credentials: BackstageCredentials): string {
  const p = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  if (p.type === 'user' && p.userEntityRef) return p.userEntityRef;
  if (p.type === 'service' && p.subject) return `service:${p.subject}`;
  return p.type;
}

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

/** Records a refusal in the audit trail and throws the 403. */
export async function refuse(
  ctx: AuthorizeDeps,
  req: AnyRequest,
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
    request: req as Request,
  });
  throw new NotAllowedError(message);
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
  const caller = await callerOf(ctx, req, allow);
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
  const caller = await callerOf(ctx, req, allow);
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

/** The groups a user claims (ownership refs), for inboxes and membership rules. */
export async function claimsOf(
  ctx: RouterContext,
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
  ctx: RouterContext,
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
