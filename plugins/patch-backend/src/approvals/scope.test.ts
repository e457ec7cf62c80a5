import { ConflictError, InputError } from '@backstage/errors';
import type { ApprovalRequest } from './ApprovalStore';
import { decisionOutcome, ResolvedScope } from './decisionOutcome';
import { parseScope, scopeLabel } from './scope';

const NOW = new Date('2026-12-05T10:00:00Z');

function request(
  state: ApprovalRequest['state'],
  endpoints: Array<[string, boolean]>,
  stage = 'owners',
): ApprovalRequest {
  return {
    id: 'r1',
    patchRef: 'patch:default/p',
    groupRef: 'group:default/team-a',
    stage,
    state,
    knownExploited: false,
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
    services: [],
    endpoints: endpoints.map(([endpointId, approved]) => ({
      endpointId,
      entityRefs: [],
      approved,
    })),
    approvedEndpoints: endpoints.filter(([, a]) => a).length,
    scopes: [],
    delegates: [],
  };
}

const tier1: ResolvedScope = {
  scope: { kind: 'tier', tiers: [1] },
  label: 'tier 1',
  selected: new Set(['a', 'x']),
};

describe('parseScope', () => {
  it('normalises the three kinds and labels them', () => {
    const pilot = parseScope({ kind: 'pilotGroup', pilotGroup: 'Canaries' });
    expect(pilot).toEqual({
      kind: 'pilotGroup',
      pilotGroup: 'pilotgroup:default/canaries',
    });
    expect(scopeLabel(pilot!)).toBe('pilot group canaries');
    const tier = parseScope({ kind: 'tier', tiers: [2, 1, 2] });
    expect(tier).toEqual({ kind: 'tier', tiers: [1, 2] });
    expect(scopeLabel(tier!)).toBe('tier 1 or 2');
    const selector = parseScope({
      kind: 'selector',
      selector: { labels: { deviceType: 'kiosk', site: '' }, os: ['debian'] },
    });
    expect(selector).toEqual({
      kind: 'selector',
      selector: { labels: { deviceType: 'kiosk' }, os: ['debian'] },
    });
    expect(scopeLabel(selector!)).toBe('selector deviceType=kiosk, os debian');
    expect(parseScope(undefined)).toBeUndefined();
  });

  it.each([
    [{ kind: 'everything' }, /scope.kind/],
    [{ kind: 'tier', tiers: [] }, /non-empty list of tiers/],
    [{ kind: 'tier', tiers: [0] }, /from 1/],
    [{ kind: 'tier', tiers: [1], pilotGroup: 'x' }, /takes tiers only/],
    [{ kind: 'selector', selector: {} }, /names no criterion/],
    [{ kind: 'selector', selector: { labels: { a: '' } } }, /no criterion/],
    [{ kind: 'selector', selector: { color: ['red'] } }, /unknown fields/],
    [{ kind: 'pilotGroup' }, /names its pilot group/],
    [{ kind: 'pilotGroup', pilotGroup: 'group:default/a' }, /not a group/],
    ['tier', /object/],
  ])('refuses %j', (raw, message) => {
    expect(() => parseScope(raw)).toThrow(InputError);
    expect(() => parseScope(raw)).toThrow(message);
  });
});

describe('decisionOutcome', () => {
  const approve = (scope?: ResolvedScope) => ({
    action: 'approve' as const,
    ...(scope ? { scope: scope.scope } : {}),
  });

  it('a scoped approval covers what it selects of the listed endpoints; the rest wait', () => {
    const out = decisionOutcome(
      request('pending', [
        ['a', false],
        ['b', false],
      ]),
      approve(tier1),
      tier1,
      undefined,
      'user:default/alice',
      NOW,
    );
    expect(out).toMatchObject({
      to: 'pending',
      coverage: { kind: 'add', endpointIds: ['a'] },
      approvedAfter: 1,
      newly: ['a'],
      words: 'for 1 of 2 endpoint(s) (tier 1); 1 still wait',
    });
    expect(out.scopes).toEqual([
      {
        scope: tier1.scope,
        label: 'tier 1',
        approved: 1,
        of: 2,
        decidedBy: 'user:default/alice',
        decidedAt: NOW.toISOString(),
      },
    ]);
  });

  it('a scope completing the request approves it', () => {
    const out = decisionOutcome(
      request('pending', [
        ['a', false],
        ['b', true],
      ]),
      approve(tier1),
      tier1,
      undefined,
      'u',
      NOW,
    );
    expect(out.to).toBe('approved');
    expect(out.approvedAfter).toBe(2);
  });

  it('refuses a scope that selects none, or only approved endpoints', () => {
    expect(() =>
      decisionOutcome(
        request('pending', [['b', false]]),
        approve(tier1),
        tier1,
        undefined,
        'u',
        NOW,
      ),
    ).toThrow(/selects none of the 1 endpoint/);
    expect(() =>
      decisionOutcome(
        request('pending', [
          ['a', true],
          ['b', false],
        ]),
        approve(tier1),
        tier1,
        undefined,
        'u',
        NOW,
      ),
    ).toThrow(/approved already/);
  });

  it('rejecting a partly approved request rejects the rest, unless revokeApproved', () => {
    const partly = request('pending', [
      ['a', true],
      ['b', false],
    ]);
    const rest = decisionOutcome(
      partly,
      { action: 'reject', comment: 'no' },
      undefined,
      undefined,
      'u',
      NOW,
    );
    expect(rest).toMatchObject({
      to: 'rejected',
      coverage: { kind: 'keep' },
      approvedAfter: 1,
      revoked: 0,
    });
    const all = decisionOutcome(
      partly,
      { action: 'reject', comment: 'no', revokeApproved: true },
      undefined,
      undefined,
      'u',
      NOW,
    );
    expect(all).toMatchObject({
      coverage: { kind: 'clear' },
      approvedAfter: 0,
      revoked: 1,
      scopes: null,
    });
    // An approved request rejected: revoked, as before scoped approvals.
    expect(
      decisionOutcome(
        request('approved', [['a', true]]),
        { action: 'reject', comment: 'no' },
        undefined,
        undefined,
        'u',
        NOW,
      ).coverage,
    ).toEqual({ kind: 'clear' });
    // A rejected request keeps its approved part until revoked explicitly.
    const rejected = request('rejected', [
      ['a', true],
      ['b', false],
    ]);
    expect(() =>
      decisionOutcome(
        rejected,
        { action: 'reject', comment: 'no' },
        undefined,
        undefined,
        'u',
        NOW,
      ),
    ).toThrow(ConflictError);
    expect(
      decisionOutcome(
        rejected,
        { action: 'reject', comment: 'no', revokeApproved: true },
        undefined,
        undefined,
        'u',
        NOW,
      ).revoked,
    ).toBe(1);
  });

  it('a later stage approves only what the earlier stages approved', () => {
    const out = decisionOutcome(
      request(
        'pending',
        [
          ['a', false],
          ['b', false],
        ],
        'security',
      ),
      approve(),
      undefined,
      new Set(['b']),
      'u',
      NOW,
    );
    expect(out).toMatchObject({
      to: 'pending',
      coverage: { kind: 'add', endpointIds: ['b'] },
      words: expect.stringContaining('those the earlier stages approved'),
    });
  });
});
