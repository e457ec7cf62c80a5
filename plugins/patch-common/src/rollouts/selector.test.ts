import { isListedMember, matchesSelector, PlanEndpoint } from './selector';

const ep: PlanEndpoint = {
  id: 'a1',
  entityRef: 'resource:default/web-1',
  ownerRef: 'group:default/web',
  systemRef: 'system:default/shop',
  labels: { location: 'berlin', site: 'b1' },
  osFamily: 'debian',
  osName: 'debian',
  osVersion: '12.5',
};

describe('matchesSelector', () => {
  it('matches an empty selector', () => {
    expect(matchesSelector(ep, undefined)).toBe(true);
    expect(matchesSelector(ep, {})).toBe(true);
  });

  it('ANDs criteria and ORs values', () => {
    expect(matchesSelector(ep, { labels: { location: 'berlin' } })).toBe(true);
    expect(matchesSelector(ep, { labels: { location: 'paris' } })).toBe(false);
    expect(
      matchesSelector(ep, {
        owners: ['group:default/db', 'web'],
        systems: ['shop'],
      }),
    ).toBe(true);
    expect(matchesSelector(ep, { owners: ['web'], systems: ['other'] })).toBe(
      false,
    );
    expect(matchesSelector(ep, { os: ['debian:12'] })).toBe(true);
    expect(matchesSelector(ep, { os: ['debian:11', 'windows'] })).toBe(false);
    expect(matchesSelector(ep, { os: ['DEBIAN'] })).toBe(true);
  });

  it('recognises listed members by ref or id', () => {
    expect(isListedMember(ep, ['resource:default/web-1'])).toBe(true);
    expect(isListedMember(ep, ['resource:web-1'])).toBe(true);
    expect(isListedMember(ep, ['a1'])).toBe(true);
    expect(isListedMember(ep, ['resource:default/web-2'])).toBe(false);
  });
});

describe('matchesSelector tiers', () => {
  it('matches the listed tiers and never an endpoint of unknown tier', () => {
    expect(matchesSelector({ id: 'a', tier: 3 }, { tiers: [2, 3] })).toBe(true);
    expect(matchesSelector({ id: 'a', tier: 1 }, { tiers: [2, 3] })).toBe(
      false,
    );
    expect(matchesSelector({ id: 'a' }, { tiers: [1] })).toBe(false);
  });
});
