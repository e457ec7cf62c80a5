import {
  mergeRiskContexts,
  riskContextOf,
  riskScore,
  tierFromEntities,
  RISK_WEIGHTS,
} from './riskScore';
import type { Entity } from '@backstage/catalog-model';
import type { PatchEntity } from '../entities';

const patch = (spec: Partial<PatchEntity['spec']> = {}): PatchEntity => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'p' },
  spec: {
    type: 'security',
    severity: 'medium',
    targets: [
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'curl',
        fixedVersion: '7.88.1-10+deb12u15',
      },
    ],
    owner: 'group:default/it-operations',
    ...spec,
  },
});

describe('riskScore', () => {
  it('weights sum to one', () => {
    expect(Object.values(RISK_WEIGHTS).reduce((a, b) => a + b, 0)).toBeCloseTo(
      1,
      10,
    );
  });

  it('explains itself: the score is the sum of the contributions', () => {
    const r = riskScore(
      patch({
        cvss: { score: 9.8, version: '3.1' },
        knownExploited: true,
        kevDueDate: '2026-09-01',
        epss: { score: 0.9, percentile: 0.99, cve: 'CVE-2024-3094' },
      }),
      { exposure: 'internet', tier: 1 },
    );
    expect(r.factors.map(f => f.name)).toEqual([
      'cvss',
      'knownExploited',
      'epss',
      'exposure',
      'tier',
    ]);
    const sum = r.factors.reduce((s, f) => s + f.contribution, 0);
    expect(r.score).toBeCloseTo(sum, 1);
    expect(r.score).toBeCloseTo(
      100 * (0.35 * 0.98 + 0.25 + 0.15 * 0.99 + 0.15 + 0.1),
      1,
    );
    expect(r.factors[1].explanation).toContain('due 2026-09-01');
    for (const f of r.factors) {
      expect(f.contribution).toBeCloseTo(f.weight * f.value * 100, 2);
    }
  });

  it('ranks known exploitation, exposure and tier above their absence', () => {
    const base = riskScore(patch({ cvss: { score: 7.5 } })).score;
    expect(
      riskScore(patch({ cvss: { score: 7.5 }, knownExploited: true })).score,
    ).toBeGreaterThan(base);
    expect(
      riskScore(patch({ cvss: { score: 7.5 } }), { exposure: 'internet' })
        .score,
    ).toBeGreaterThan(base);
    expect(
      riskScore(patch({ cvss: { score: 7.5 } }), { exposure: 'isolated' })
        .score,
    ).toBeLessThan(base);
    expect(
      riskScore(patch({ cvss: { score: 7.5 } }), { tier: 1 }).score,
    ).toBeGreaterThan(
      riskScore(patch({ cvss: { score: 7.5 } }), { tier: 3 }).score,
    );
  });

  it('falls back to the severity when there is no CVSS score', () => {
    const r = riskScore(patch({ severity: 'critical' }));
    expect(r.factors[0]).toMatchObject({ name: 'cvss', value: 0.95 });
    expect(r.factors[0].explanation).toMatch(/severity critical/);
  });
});

describe('tierFromEntities', () => {
  const e = (kind: string, tier?: string): Entity => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind,
    metadata: {
      name: 'x',
      annotations: tier ? { 'patchbay.dev/tier': tier } : {},
    },
  });

  it('takes the most critical tier of Systems and Components', () => {
    expect(
      tierFromEntities([
        e('Component', '3'),
        e('System', '1'),
        e('Resource', '0'),
      ]),
    ).toBe(1);
    expect(
      tierFromEntities([e('Component', 'gold'), e('Component')]),
    ).toBeUndefined();
  });
});

describe('riskContextOf', () => {
  const e = (
    kind: string,
    name: string,
    annotations: Record<string, string> = {},
  ): Entity => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind,
    metadata: { name, annotations },
  });

  it('takes the most exposed annotation, an API counting as its provider', () => {
    const ctx = riskContextOf([
      e('Resource', 'ep-1', { 'patchbay.dev/exposure': 'isolated' }),
      e('Component', 'web', { 'patchbay.dev/tier': '2' }),
      e('API', 'public-api', { 'patchbay.dev/exposure': 'internet' }),
      e('System', 'shop', {
        'patchbay.dev/exposure': 'internal',
        'patchbay.dev/tier': '1',
      }),
    ]);
    expect(ctx).toEqual({
      exposure: 'internet',
      exposureFrom: 'api:default/public-api',
      tier: 1,
      tierFrom: 'system:default/shop',
    });
    const r = riskScore(
      {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Patch',
        metadata: { name: 'p' },
        spec: { type: 'security', severity: 'low', targets: [], owner: 'x' },
      },
      ctx,
    );
    expect(r.factors.find(f => f.name === 'exposure')).toMatchObject({
      value: 1,
      explanation:
        'Most exposed endpoint is internet (api:default/public-api).',
    });
  });

  it('ignores what it cannot read: unknown values and other kinds', () => {
    expect(
      riskContextOf([
        e('Resource', 'ep', { 'patchbay.dev/exposure': 'public' }),
        e('Group', 'g', { 'patchbay.dev/exposure': 'internet' }),
      ]),
    ).toEqual({});
  });

  it('merges landing places: most exposed, most critical', () => {
    expect(
      mergeRiskContexts([
        { exposure: 'internal', tier: 3 },
        { exposure: 'internet', exposureFrom: 'resource:default/a' },
        { tier: 2, tierFrom: 'system:default/s' },
        {},
      ]),
    ).toEqual({
      exposure: 'internet',
      exposureFrom: 'resource:default/a',
      tier: 2,
      tierFrom: 'system:default/s',
    });
  });
});
