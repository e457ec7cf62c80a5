import fc from 'fast-check';
import { compareVersions, formatVersion, parseVersion } from './index';
import type { VersionEcosystem } from '../entities/types';

// Generators of well-formed versions, one per ecosystem, with the parts that
// make ordering hard: '~', '^', epochs, leading zeros, letters, suffixes.
const digits = fc.stringMatching(/^[0-9]{1,3}$/);
const debVersion = fc
  .record({
    epoch: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
    upstream: fc.stringMatching(/^[0-9][0-9a-z.+~]{0,8}$/),
    revision: fc.option(fc.stringMatching(/^[0-9a-z.+~]{1,6}$/), {
      nil: undefined,
    }),
  })
  .map(
    ({ epoch, upstream, revision }) =>
      `${epoch ? `${epoch}:` : ''}${upstream}${revision ? `-${revision}` : ''}`,
  );
const rpmVersion = fc
  .record({
    epoch: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
    version: fc.stringMatching(/^[0-9a-zA-Z._+~^]{1,8}$/),
    release: fc.option(fc.stringMatching(/^[0-9a-z._+~^]{1,8}$/), {
      nil: undefined,
    }),
  })
  .map(
    ({ epoch, version, release }) =>
      `${epoch ? `${epoch}:` : ''}${version}${release ? `-${release}` : ''}`,
  );
const apkVersion = fc
  .record({
    numbers: fc.array(digits, { minLength: 1, maxLength: 4 }),
    letter: fc.constantFrom('', 'a', 'b', 'z'),
    suffixes: fc.array(
      fc.record({
        name: fc.constantFrom(
          'alpha',
          'beta',
          'pre',
          'rc',
          'cvs',
          'svn',
          'git',
          'hg',
          'p',
        ),
        number: fc.constantFrom('', '0', '1', '2', '10'),
      }),
      { maxLength: 2 },
    ),
    hash: fc.constantFrom('', '~0ab1', '~ff'),
    revision: fc.option(digits, { nil: undefined }),
  })
  .map(
    v =>
      `${v.numbers.join('.')}${v.letter}${v.suffixes
        .map(s => `_${s.name}${s.number}`)
        .join('')}${v.hash}${
        v.revision !== undefined ? `-r${v.revision}` : ''
      }`,
  );

const generators: Array<[VersionEcosystem, fc.Arbitrary<string>]> = [
  ['deb', debVersion],
  ['rpm', rpmVersion],
  ['apk', apkVersion],
];

describe.each(generators)('%s ordering laws', (ecosystem, version) => {
  const cmp = (a: string, b: string) => compareVersions(ecosystem, a, b);

  it('is reflexive and antisymmetric', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        expect(cmp(a, a)).toBe(0);
        expect(cmp(b, a)).toBe(0 - cmp(a, b));
      }),
      { numRuns: 2000 },
    );
  });

  it('is transitive', () => {
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        // a <= b <= c implies a <= c; a == b == c implies a == c.
        const ab = cmp(a, b);
        const bc = cmp(b, c);
        const ac = cmp(a, c);
        expect(ab <= 0 && bc <= 0 && ac > 0).toBe(false);
        expect(ab === 0 && bc === 0 && ac !== 0).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts consistently (every later element is not older)', () => {
    fc.assert(
      fc.property(fc.array(version, { minLength: 2, maxLength: 12 }), list => {
        const sorted = [...list].sort(cmp);
        for (let i = 0; i < sorted.length; i++) {
          for (let j = i + 1; j < sorted.length; j++) {
            expect(cmp(sorted[i], sorted[j])).toBeLessThanOrEqual(0);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('survives a parse and format round trip', () => {
    fc.assert(
      fc.property(version, s => {
        const parsed = parseVersion(ecosystem, s);
        expect(formatVersion(parsed)).toBe(s);
        expect(parseVersion(ecosystem, formatVersion(parsed))).toEqual(parsed);
        expect(cmp(formatVersion(parsed), s)).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('compareVersions input checks', () => {
  it('refuses an unknown ecosystem and non-strings', () => {
    expect(() => compareVersions('msi' as any, '1', '2')).toThrow(
      /ecosystem is not one of deb, rpm, apk/,
    );
    expect(() => compareVersions('deb', 1 as any, '2')).toThrow(
      /version is not a string/,
    );
  });
});
