import { RolloutPolicySpec } from '@patchbay/plugin-patch-common';
import { assertDistribution } from '../distributionPolicy';
import {
  dispatchConcurrency,
  distributionPayload,
  limitFor,
  parseSystemSites,
  snapshotLabels,
} from './distribution';

const ring = {
  name: 'all',
  soakMinutes: 0,
  successThreshold: 0.9,
  failureLimit: 0.1,
  promotion: 'auto' as const,
};
const spec = (more: Partial<RolloutPolicySpec>): RolloutPolicySpec => ({
  owner: 'group:default/ops',
  rings: [ring],
  ...more,
});
const mirror = {
  origin: 'http://a.invalid/debian',
  url: 'http://m.invalid/debian',
};

describe('dispatch distribution', () => {
  it('folds site budgets into the per-label limits, next to the policy’s own', () => {
    const limits = dispatchConcurrency(
      spec({
        concurrency: { perLabel: [{ label: 'location', max: 5 }] },
        distribution: {
          throttleKiBps: 100,
          sites: [{ site: 'berlin', budgetKiBps: 250 }, { site: 'paris' }],
        },
      }),
    );
    expect(limits.perLabel).toHaveLength(2);
    const [own, budget] = limits.perLabel;
    // The tighter of the two wins for each value.
    expect(limitFor(own, 'berlin')).toBe(5);
    expect(limitFor(budget, 'berlin')).toBe(2);
    expect(limitFor(budget, 'paris')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('keeps the site label in the snapshot under any distribution block (a System may name mirrors), none without one', () => {
    expect(
      snapshotLabels(
        spec({
          distribution: { sites: [{ site: 'berlin', mirrors: [mirror] }] },
        }),
      ),
    ).toEqual(['location']);
    expect(
      snapshotLabels(
        spec({ distribution: { throttleKiBps: 10, siteLabel: 'site' } }),
      ),
    ).toEqual(['site']);
    expect(
      snapshotLabels(
        spec({ concurrency: { perLabel: [{ label: 'site', max: 2 }] } }),
      ),
    ).toEqual(['site']);
    // No distribution: the limits alone, as before.
    expect(snapshotLabels(spec({}))).toEqual([]);
    expect(
      dispatchConcurrency(spec({ concurrency: { maxInFlightPerWave: 3 } })),
    ).toEqual({ maxInFlightPerWave: 3, perLabel: [] });
  });

  it('gives each endpoint its own site’s settings from its label key', () => {
    const policy = spec({
      distribution: {
        throttleKiBps: 64,
        sites: [{ site: 'berlin', mirrors: [mirror] }],
      },
    });
    expect(distributionPayload(policy, '{"location":"berlin"}')).toEqual({
      distribution: { throttleKiBps: 64, site: 'berlin', mirrors: [mirror] },
    });
    expect(distributionPayload(policy, '{"location":"paris"}')).toEqual({
      distribution: { throttleKiBps: 64 },
    });
    expect(distributionPayload(spec({}), '{"location":"berlin"}')).toEqual({});
  });

  it('refuses an invalid block even when another part of the policy fails the schema', () => {
    const entity = (distribution: unknown, rings: unknown[] = [ring]) =>
      ({
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'RolloutPolicy',
        metadata: { name: 'p' },
        spec: { owner: 'group:default/ops', rings, distribution },
      } as any);
    expect(() =>
      assertDistribution(
        'rolloutpolicy:default/p',
        entity({ throttleKiBps: 5 }),
      ),
    ).not.toThrow();
    expect(() =>
      assertDistribution(
        'rolloutpolicy:default/p',
        entity({ throttleKiBps: 'fast' }),
      ),
    ).toThrow(
      'Policy rolloutpolicy:default/p has invalid distribution settings: spec.distribution.throttleKiBps must be integer',
    );
    expect(() =>
      assertDistribution(
        'rolloutpolicy:default/p',
        entity({ sites: [{ site: 'x', budgetKiBps: 5 }] }, [{ name: 'loose' }]),
      ),
    ).toThrow(
      'spec.distribution.sites[0].budgetKiBps needs spec.distribution.throttleKiBps',
    );
  });
});

describe('a System’s site-distribution annotation', () => {
  it('is read when it holds site entries, and refused, saying why, otherwise', () => {
    expect(
      parseSystemSites(
        '[{"site":"berlin","mirrors":[{"repo":"baseos","url":"http://m.invalid/"}]}]',
      ),
    ).toEqual([
      {
        site: 'berlin',
        mirrors: [{ repo: 'baseos', url: 'http://m.invalid/' }],
      },
    ]);
    expect(parseSystemSites('nope')).toEqual({ error: 'is not JSON' });
    expect(parseSystemSites('[{"site":"b","proxy":"ftp://x"}]')).toEqual({
      error: '0.proxy must be an http(s) URL',
    });
    // Budgets are the policy's: a site's link is shared by every System.
    expect(parseSystemSites('[{"site":"b","budgetKiBps":5}]')).toEqual({
      error: expect.stringContaining(
        "Unrecognized key(s) in object: 'budgetKiBps'",
      ),
    });
  });

  it('replaces the policy’s proxy and mirrors for its sites, keeping the site’s budget', () => {
    const policy = spec({
      distribution: {
        throttleKiBps: 64,
        sites: [
          { site: 'berlin', budgetKiBps: 128, proxy: 'http://p.invalid/' },
          { site: 'paris', mirrors: [mirror] },
        ],
      },
    });
    const own = [{ site: 'berlin', mirrors: [mirror] }];
    expect(distributionPayload(policy, '{"location":"berlin"}', own)).toEqual({
      distribution: { throttleKiBps: 64, site: 'berlin', mirrors: [mirror] },
    });
    expect(distributionPayload(policy, '{"location":"paris"}', own)).toEqual({
      distribution: { throttleKiBps: 64, site: 'paris', mirrors: [mirror] },
    });
  });
});
