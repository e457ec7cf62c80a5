import { validateRolloutPolicyEntity } from '../entities/RolloutPolicyEntityV1alpha1';
import { DistributionPolicy } from '../entities/types';
import { jobDistribution, siteJobCaps } from './distribution';

const policy = (distribution: unknown) => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'RolloutPolicy',
  metadata: { name: 'standard' },
  spec: {
    owner: 'group:default/ops',
    rings: [
      {
        name: 'all',
        soakMinutes: 0,
        successThreshold: 0.9,
        failureLimit: 0.1,
        promotion: 'auto',
      },
    ],
    distribution,
  },
});

const berlinMirror = {
  origin: 'http://archive.example.invalid/debian',
  repo: 'baseos',
  url: 'http://mirror.berlin.example.invalid/debian',
};

describe('distribution policy validation', () => {
  it('accepts a throttle, budgets, a proxy and mirrors', () => {
    expect(
      validateRolloutPolicyEntity(
        policy({
          throttleKiBps: 512,
          siteLabel: 'site',
          sites: [
            { site: 'berlin', budgetKiBps: 2048, mirrors: [berlinMirror] },
            { site: 'paris', proxy: 'http://cache.paris.example.invalid:3142' },
          ],
        }),
      ),
    ).toEqual({ valid: true, errors: [] });
  });

  it.each([
    [
      'a budget without a throttle',
      { sites: [{ site: 'berlin', budgetKiBps: 2048 }] },
      'spec.distribution.sites[0].budgetKiBps needs spec.distribution.throttleKiBps (the budget is shared out in throttles)',
    ],
    [
      'a budget below one throttle',
      { throttleKiBps: 512, sites: [{ site: 'berlin', budgetKiBps: 100 }] },
      "spec.distribution.sites[0].budgetKiBps is 100 KiB/s, less than one endpoint's throttle of 512 KiB/s: no job could run",
    ],
    [
      'a site named twice',
      { sites: [{ site: 'berlin' }, { site: 'berlin' }] },
      'spec.distribution.sites[1].site repeats site "berlin"',
    ],
    [
      'a mirror that says nothing of what it mirrors',
      { sites: [{ site: 'berlin', mirrors: [{ url: 'http://m.invalid/' }] }] },
      'spec.distribution.sites[0].mirrors[0] needs origin (the apt source URI it mirrors) or repo (the dnf repository id)',
    ],
    [
      'a mirror URL that is not http(s)',
      {
        sites: [
          {
            site: 'berlin',
            mirrors: [{ origin: 'http://a/', url: 'ftp://m/' }],
          },
        ],
      },
      'spec.distribution.sites[0].mirrors[0].url must match pattern',
    ],
    [
      // A newline would add a line to the temporary sources list.
      'a mirror URL with a line break',
      {
        sites: [
          {
            site: 'berlin',
            mirrors: [
              { origin: 'http://a/', url: 'http://m/\ndeb http://x/ ./' },
            ],
          },
        ],
      },
      'spec.distribution.sites[0].mirrors[0].url must match pattern',
    ],
    [
      'a zero throttle',
      { throttleKiBps: 0 },
      'spec.distribution.throttleKiBps must be >= 1',
    ],
    [
      'an unknown field',
      { throttle: 5 },
      'spec.distribution.throttle is not an allowed field',
    ],
  ])('refuses %s, naming the field', (_what, distribution, message) => {
    const result = validateRolloutPolicyEntity(policy(distribution));
    expect(result.valid).toBe(false);
    const said = result.errors.map(e => `${e.field} ${e.message}`);
    expect(said.join('\n')).toContain(message);
  });
});

describe('jobDistribution', () => {
  const distribution: DistributionPolicy = {
    throttleKiBps: 256,
    sites: [
      { site: 'berlin', mirrors: [berlinMirror] },
      { site: 'paris', proxy: 'http://cache.paris.example.invalid:3142' },
      { site: 'rome', budgetKiBps: 1024 },
    ],
  };

  it('gives each endpoint the throttle and its own site’s mirror or proxy', () => {
    expect(jobDistribution(distribution, { location: 'berlin' })).toEqual({
      throttleKiBps: 256,
      site: 'berlin',
      mirrors: [berlinMirror],
    });
    expect(jobDistribution(distribution, { location: 'paris' })).toEqual({
      throttleKiBps: 256,
      site: 'paris',
      proxy: 'http://cache.paris.example.invalid:3142',
    });
    // A site with a budget only, or none: the throttle alone.
    expect(jobDistribution(distribution, { location: 'rome' })).toEqual({
      throttleKiBps: 256,
    });
    expect(jobDistribution(distribution, {})).toEqual({ throttleKiBps: 256 });
  });

  it('reads the site from the label the policy names', () => {
    const bySite = { ...distribution, siteLabel: 'site' };
    expect(
      jobDistribution(bySite, { location: 'paris', site: 'berlin' })?.mirrors,
    ).toEqual([berlinMirror]);
  });

  it('carries nothing when the policy says nothing that applies', () => {
    expect(jobDistribution(undefined, { location: 'berlin' })).toBeUndefined();
    expect(
      jobDistribution({ sites: [{ site: 'rome', budgetKiBps: 5 }] }, {}),
    ).toBeUndefined();
  });
});

describe('siteJobCaps', () => {
  it('lets a site run budget / throttle jobs at once, rounded down', () => {
    expect(
      siteJobCaps({
        throttleKiBps: 300,
        siteLabel: 'site',
        sites: [
          { site: 'berlin', budgetKiBps: 1000 },
          { site: 'paris', budgetKiBps: 300 },
          { site: 'rome' },
        ],
      }),
    ).toEqual({ label: 'site', caps: { berlin: 3, paris: 1 } });
  });

  it('has no caps without budgets or a throttle', () => {
    expect(siteJobCaps({ throttleKiBps: 300 })).toBeUndefined();
    expect(siteJobCaps(undefined)).toBeUndefined();
  });
});
