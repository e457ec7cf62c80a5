/*
 * Patchbay's actions in Backstage's actions registry: what the portal's
 * MCP server and assistants call. Each action is a REST route by another
 * door (same services, same permission helper, same audit trail); the
 * table of actions and routes is in the plugin's README.
 */
import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { registerApprovalActions } from './approvalActions';
import { registerRolloutActions } from './rolloutActions';
import { PatchActionDeps } from './types';

export type { PatchActionDeps } from './types';

/** Registers every Patchbay action (ids `patch:<name>`). @internal */
export function registerPatchActions(
  registry: ActionsRegistryService,
  deps: PatchActionDeps,
): void {
  registerApprovalActions(registry, deps);
  registerRolloutActions(registry, deps);
}
