import {
  ANY_RELEASE,
  endpointMatchKey,
  releaseAccepts,
  targetMatchKeys,
} from './release';

describe('release matching', () => {
  it('derives match keys from reported OS', () => {
    expect(
      endpointMatchKey({ family: 'rhel', name: 'AlmaLinux', version: '9.6' }),
    ).toBe('almalinux:9');
    expect(
      endpointMatchKey({
        family: 'debian',
        name: 'Debian GNU/Linux',
        version: '12',
      }),
    ).toBe('debian:12');
    expect(
      endpointMatchKey({
        family: 'debian',
        name: 'Ubuntu',
        version: '22.04.4 LTS',
      }),
    ).toBe('ubuntu:22.04');
    expect(endpointMatchKey({ name: 'Alpine Linux', version: 'v3.20.1' })).toBe(
      'alpine:3.20',
    );
    expect(endpointMatchKey({ family: 'windows', version: '10.0.19045' })).toBe(
      'windows',
    );
    expect(endpointMatchKey({ name: 'AlmaLinux' })).toBe('almalinux');
    expect(endpointMatchKey({})).toBe(ANY_RELEASE);
  });

  it('accepts the same release, the bare os id, and unknown releases', () => {
    expect(releaseAccepts('almalinux:9', 'almalinux:9')).toBe(true);
    expect(releaseAccepts('almalinux:9', 'almalinux:8')).toBe(false);
    expect(releaseAccepts('almalinux:9', 'almalinux')).toBe(true);
    expect(releaseAccepts('alpine', 'alpine:3.20')).toBe(true);
    expect(releaseAccepts('alpine', 'debian:12')).toBe(false);
    expect(releaseAccepts('debian:12', ANY_RELEASE)).toBe(true);
    expect(releaseAccepts('', 'debian:12')).toBe(true);
  });

  it('expands a target to exactly the keys releaseAccepts accepts', () => {
    const known = [
      'almalinux:8',
      'almalinux:9',
      'alpine:3.20',
      'alpine:3.19',
      'debian:12',
      'almalinux',
      ANY_RELEASE,
    ];
    for (const release of [
      'almalinux:9',
      'alpine',
      'debian:12',
      'debian:11',
      '',
    ]) {
      const keys = new Set(
        targetMatchKeys(release, known).filter(k => known.includes(k)),
      );
      for (const key of known)
        expect([release, key, keys.has(key)]).toEqual([
          release,
          key,
          releaseAccepts(release, key),
        ]);
    }
  });
});
