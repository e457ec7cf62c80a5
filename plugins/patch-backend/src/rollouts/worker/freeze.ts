import { RolloutDeps } from '../deps';
import { Rollout } from '../types';

/**
 * Reads the change freezes of the rollout's policy live from the catalog
 * (a freeze added after the start counts) and stores the current or next
 * one on the rollout's row, where the job queue's lease reads it. When the
 * policy cannot be read, the freeze last read stays in force.
 */
export async function refreshFreeze(
  deps: RolloutDeps,
  rollout: Rollout,
): Promise<Rollout> {
  let freeze: { from: string; to: string } | undefined;
  if (!(rollout.emergency && rollout.policy.emergency?.ignoreChangeFreezes)) {
    try {
      const policy = await deps.catalog.getPolicy(rollout.policyRef);
      freeze = currentOrNextFreeze(policy.spec.changeFreezes ?? [], Date.now());
    } catch (error) {
      deps.logger.warn(
        `Rollout ${rollout.id}: cannot read policy ${rollout.policyRef}, keeping the freeze last read: ${error}`,
      );
      return rollout;
    }
  }
  if (freeze?.from === rollout.freezeFrom && freeze?.to === rollout.freezeTo)
    return rollout;
  await deps.store.rollouts.setFreeze(rollout.id, freeze);
  return { ...rollout, freezeFrom: freeze?.from, freezeTo: freeze?.to };
}

/** Whether the live change freeze (as last read) covers `now`. */
export function inFreeze(rollout: Rollout, now: number): boolean {
  return (
    !!rollout.freezeFrom &&
    !!rollout.freezeTo &&
    Date.parse(rollout.freezeFrom) <= now &&
    now < Date.parse(rollout.freezeTo)
  );
}

/**
 * The freeze that covers `now` (the one that lasts longest), else the next
 * one to start; times as ISO strings. Freezes that do not parse are left out.
 * @internal
 */
export function currentOrNextFreeze(
  freezes: Array<{ from: string; to: string }>,
  now: number,
): { from: string; to: string } | undefined {
  const parsed = freezes
    .map(f => ({ from: Date.parse(f.from), to: Date.parse(f.to) }))
    .filter(
      f => Number.isFinite(f.from) && Number.isFinite(f.to) && f.to > now,
    );
  const current = parsed
    .filter(f => f.from <= now)
    .sort((a, b) => b.to - a.to)[0];
  const next = parsed
    .filter(f => f.from > now)
    .sort((a, b) => a.from - b.from)[0];
  const pick = current ?? next;
  return pick
    ? {
        from: new Date(pick.from).toISOString(),
        to: new Date(pick.to).toISOString(),
      }
    : undefined;
}
