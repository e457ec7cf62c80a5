/*
 * Portal routes of pilot groups: what a group selects now and how
 * representative it is (patch.endpoint.read: the answer lists endpoints).
 * The handler parses, authorizes and calls the PilotGroupService.
 */
import { parseEntityRef } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { patchEndpointReadPermission } from '@patchbay/plugin-patch-common';
import { PilotGroupService } from '../pilots/PilotGroupService';
import { authorize, AuthorizeDeps } from './authorize';
import { PatchRouter } from './typedRouter';

/**
 * What the pilot group routes use.
 * @internal
 */
export interface PilotGroupRouteDeps extends AuthorizeDeps {
  rollouts: { pilots: PilotGroupService };
}

/**
 * Registers the pilot group routes of the portal API.
 * @internal
 */
export function registerPilotGroupRoutes(
  router: PatchRouter,
  deps: PilotGroupRouteDeps,
) {
  router.get('/pilot-groups/selection', async (req, res) => {
    const ref = req.query.ref;
    await authorize(deps, req, patchEndpointReadPermission, {
      action: 'pilot-group-read',
      targetType: 'pilot-group',
      targetId: ref,
    });
    let parsed;
    try {
      parsed = parseEntityRef(ref, {
        defaultKind: 'pilotgroup',
        defaultNamespace: 'default',
      });
    } catch {
      throw new InputError(`Not an entity ref: ${ref}`);
    }
    if (parsed.kind.toLocaleLowerCase('en-US') !== 'pilotgroup') {
      throw new InputError(`Not a PilotGroup: ${ref}`);
    }
    const limit = req.query.limit ?? 500;
    res.json(
      (await deps.rollouts.pilots.selection(
        `pilotgroup:${parsed.namespace}/${parsed.name}`,
        limit,
      )) as any,
    );
  });
}
