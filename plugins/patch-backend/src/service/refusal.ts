/*
 * Refusals of the area's rules, answered like the policy's: a domain
 * service throws a Refusal (permissions/caller.ts) when a rule of its area
 * refuses the caller; the route audits it and answers 403 through
 * service/authorize.ts's `refuse`, as a refusal of the permission policy.
 */
import { Request } from 'express';
import { Refusal } from '../permissions/caller';
import { refuse } from './authorize';
import { RouterContext } from './types';

/** What service/authorize.ts reads of the router context. @internal */
export type AuthorizeDeps = Pick<
  RouterContext,
  'httpAuth' | 'permissions' | 'audit' | 'userInfo'
>;

/** The router context as service/authorize.ts types it, from the fields it reads. @internal */
export function authz(deps: AuthorizeDeps): RouterContext {
  return deps as RouterContext;
}

/** Runs a domain call; a Refusal it throws is audited and answered 403. @internal */
export async function refusing<T>(
  deps: AuthorizeDeps,
  req: Request<any, any, any, any>,
  actor: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Refusal) {
      return refuse(authz(deps), req, actor, error.target, error.message);
    }
    throw error;
  }
}
