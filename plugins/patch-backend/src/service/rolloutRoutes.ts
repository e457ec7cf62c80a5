/*
 * Portal routes of rollouts: plan preview and creation (patch.rollout.create),
 * list, detail and impact (patch.rollout.read), the operator controls
 * (patch.rollout.manage, audited) and predicted impact. Handlers parse,
 * authorize and call the RolloutService; they never write SQL.
 */
import { parseEntityRef } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import {
  patchRolloutCreatePermission,
  patchRolloutManagePermission,
  patchRolloutReadPermission,
} from '@patchbay/plugin-patch-common';
import {
  rolloutJson,
  RolloutControl,
  RolloutService,
} from '../rollouts/RolloutService';
import { RolloutState } from '../rollouts/types';
import { authorize, AuthorizeDeps } from './authorize';
import { PatchRouter } from './typedRouter';

const STATES: RolloutState[] = [
  'running',
  'paused',
  'completed',
  'aborted',
  'rolling_back',
  'rolled_back',
  'rollback_failed',
];

/**
 * What the rollout routes use: the rollout service, and what `authorize`
 * reads (authentication, permissions, the audit trail of refusals).
 * @internal
 */
export interface RolloutRouteDeps extends AuthorizeDeps {
  rollouts: { service: RolloutService };
}

/**
 * Registers the rollout routes of the portal API.
 * @internal
 */
export function registerRolloutRoutes(
  router: PatchRouter,
  deps: RolloutRouteDeps,
) {
  const rollouts = deps.rollouts.service;
  const read = (rolloutId?: string) => ({
    action: 'rollout-read',
    targetType: 'rollout',
    targetId: rolloutId,
  });

  router.post('/rollouts/preview', async (req, res) => {
    await authorize(deps, req, patchRolloutCreatePermission, {
      action: 'rollout-preview',
    });
    const preview = await rollouts.preview(req.body);
    res.json(preview as any);
  });

  router.post('/rollouts', async (req, res) => {
    const { actor } = await authorize(deps, req, patchRolloutCreatePermission, {
      action: 'rollout-create',
    });
    const { rollout, preview } = await rollouts.create(req.body, {
      ref: actor,
    });
    res.status(201).json({ rollout: rolloutJson(rollout), preview } as any);
  });

  router.get('/rollouts', async (req, res) => {
    await authorize(deps, req, patchRolloutReadPermission, read());
    const states = req.query.state
      ?.split(',')
      .map(s => s.trim())
      .filter(Boolean);
    if (states?.some(s => !STATES.includes(s as RolloutState))) {
      throw new InputError(`state must be among ${STATES.join(', ')}`);
    }
    const items = await rollouts.list({
      state: states as RolloutState[] | undefined,
      patchRef: req.query.patchRef,
      limit: req.query.limit,
    });
    res.json({ items: items.map(rolloutJson) } as any);
  });

  router.get('/rollouts/:rolloutId', async (req, res) => {
    await authorize(
      deps,
      req,
      patchRolloutReadPermission,
      read(req.params.rolloutId),
    );
    res.json((await rollouts.detail(req.params.rolloutId)) as any);
  });

  router.get('/rollouts/:rolloutId/impact', async (req, res) => {
    await authorize(
      deps,
      req,
      patchRolloutReadPermission,
      read(req.params.rolloutId),
    );
    res.json((await rollouts.rolloutImpact(req.params.rolloutId)) as any);
  });

  router.post('/rollouts/:rolloutId/actions/:action', async (req, res) => {
    const { rolloutId, action } = req.params;
    const { actor } = await authorize(deps, req, patchRolloutManagePermission, {
      action: `rollout-${action}`,
      targetType: 'rollout',
      targetId: rolloutId,
    });
    await rollouts.control(
      rolloutId,
      action as RolloutControl,
      { ref: actor },
      req.body?.reason,
      req.body?.ring,
    );
    res.json((await rollouts.detail(rolloutId)) as any);
  });

  router.get('/patches/impact', async (req, res) => {
    await authorize(deps, req, patchRolloutReadPermission, {
      action: 'patch-impact-read',
      targetType: 'patch',
      targetId: req.query.ref,
    });
    try {
      parseEntityRef(req.query.ref);
    } catch {
      throw new InputError(`ref ${req.query.ref} is not an entity ref`);
    }
    res.json((await rollouts.patchImpact(req.query.ref)) as any);
  });
}
