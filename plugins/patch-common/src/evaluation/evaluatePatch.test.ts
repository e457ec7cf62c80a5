import fs from 'fs';
import path from 'path';
import type { PatchTarget } from '../entities/types';
import {
  ANY_RELEASE,
  evaluatePatch,
  InstalledPackage,
  isValidInstalledVersion,
  releaseAccepts,
} from './index';
import * as root from '../index';

const deb = (
  name: string,
  version: string,
  extra: Partial<InstalledPackage> = {},
): InstalledPackage => ({ ecosystem: 'deb', name, version, ...extra });

const source = (
  pkg: string,
  fixedVersion: string,
  extra: Partial<PatchTarget> = {},
): PatchTarget => ({
  ecosystem: 'deb',
  release: 'debian:12',
  package: pkg,
  fixedVersion,
  packageType: 'source',
  ...extra,
});

const binary = (
  pkg: string,
  fixedVersion: string,
  extra: Partial<PatchTarget> = {},
): PatchTarget => ({
  ecosystem: 'deb',
  release: 'debian:12',
  package: pkg,
  fixedVersion,
  ...extra,
});

const on = (packages: InstalledPackage[], release = 'debian:12') => ({
  release,
  packages,
});

describe('evaluatePatch', () => {
  it('is exported from the package root', () => {
    expect(root.evaluatePatch).toBe(evaluatePatch);
    expect(root.isValidInstalledVersion).toBe(isValidInstalledVersion);
    expect(root.releaseAccepts).toBe(releaseAccepts);
    expect(root.ANY_RELEASE).toBe('*');
  });

  it('decides a binary target by the binary version', () => {
    const t = [binary('libssl3', '3.0.15-1~deb12u1')];
    expect(evaluatePatch(t, on([deb('libssl3', '3.0.14-1~deb12u2')]))).toEqual({
      state: 'needed',
      packages: [
        {
          name: 'libssl3',
          installedVersion: '3.0.14-1~deb12u2',
          fixedVersion: '3.0.15-1~deb12u1',
          state: 'needed',
        },
      ],
    });
    expect(
      evaluatePatch(t, on([deb('libssl3', '3.0.15-1~deb12u1')])).state,
    ).toBe('installed');
    // A binary target does not match by source name.
    expect(
      evaluatePatch(
        [binary('openssl', '3.0.15-1~deb12u1')],
        on([deb('libssl3', '3.0.14-1', { source: 'openssl' })]),
      ).state,
    ).toBe('not-applicable');
  });

  it('applies a source target to every binary of that source', () => {
    const r = evaluatePatch(
      [source('openssl', '3.0.15-1~deb12u1')],
      on([
        deb('libssl3', '3.0.14-1~deb12u2', {
          arch: 'amd64',
          source: 'openssl',
          sourceVersion: '3.0.14-1~deb12u2',
        }),
        deb('openssl', '3.0.14-1~deb12u2', {
          arch: 'amd64',
          source: 'openssl',
          sourceVersion: '3.0.14-1~deb12u2',
        }),
        deb('curl', '7.88.1-10+deb12u8', { source: 'curl' }),
      ]),
    );
    expect(r.state).toBe('needed');
    expect(r.packages).toEqual([
      {
        name: 'libssl3',
        installedVersion: '3.0.14-1~deb12u2',
        fixedVersion: '3.0.15-1~deb12u1',
        state: 'needed',
        arch: 'amd64',
        source: 'openssl',
        binaryVersion: '3.0.14-1~deb12u2',
      },
      {
        name: 'openssl',
        installedVersion: '3.0.14-1~deb12u2',
        fixedVersion: '3.0.15-1~deb12u1',
        state: 'needed',
        arch: 'amd64',
        source: 'openssl',
        binaryVersion: '3.0.14-1~deb12u2',
      },
    ]);
  });

  it('matches a package that reports no source by its own name', () => {
    expect(
      evaluatePatch(
        [source('openssl', '3.0.15-1~deb12u1')],
        on([deb('openssl', '3.0.14-1~deb12u2')]),
      ).state,
    ).toBe('needed');
  });

  it('compares the source version of a binNMU', () => {
    const bash = deb('bash', '5.2.15-2+b8', {
      source: 'bash',
      sourceVersion: '5.2.15-2',
    });
    expect(evaluatePatch([source('bash', '5.2.15-2')], on([bash])).state).toBe(
      'installed',
    );
    const libfoo = deb('libfoo1', '1.2-3+b1', {
      source: 'foo',
      sourceVersion: '1.2-3',
    });
    expect(evaluatePatch([source('foo', '1.2-3')], on([libfoo])).state).toBe(
      'installed',
    );
    const r = evaluatePatch([source('foo', '1.2-4')], on([libfoo]));
    expect(r.state).toBe('needed');
    expect(r.packages[0]).toMatchObject({
      installedVersion: '1.2-3',
      binaryVersion: '1.2-3+b1',
    });
    // Without a source version, the binary version is compared.
    expect(
      evaluatePatch(
        [source('foo', '1.2-3+b2')],
        on([deb('libfoo1', '1.2-3+b1', { source: 'foo' })]),
      ).state,
    ).toBe('needed');
  });

  it('compares source versions when the binary has its own epoch (util-linux on this machine)', () => {
    // Real: bsdutils 1:2.38.1-5+deb12u3 from source util-linux 2.38.1-5+deb12u3.
    const bsdutils = deb('bsdutils', '1:2.38.1-5+deb12u3', {
      source: 'util-linux',
      sourceVersion: '2.38.1-5+deb12u3',
    });
    expect(
      evaluatePatch([source('util-linux', '2.38.1-5+deb12u4')], on([bsdutils]))
        .state,
    ).toBe('needed');
    expect(
      evaluatePatch([source('util-linux', '2.38.1-5+deb12u3')], on([bsdutils]))
        .state,
    ).toBe('installed');
  });

  it('orders epochs', () => {
    const t = [binary('libcap2', '1:2.66-4+deb12u1')];
    expect(evaluatePatch(t, on([deb('libcap2', '2.70-1')])).state).toBe(
      'needed',
    );
    expect(
      evaluatePatch(t, on([deb('libcap2', '1:2.66-4+deb12u2+b2')])).state,
    ).toBe('installed');
  });

  it.each(['zzz', 'garbage-version', '', '1.0-', ':1.0', '1:'])(
    'an unreadable installed version %p is unknown, never installed',
    version => {
      const r = evaluatePatch(
        [binary('libssl3', '3.0.15-1~deb12u1')],
        on([deb('libssl3', version)]),
      );
      expect(r.state).toBe('unknown');
      expect(r.packages).toEqual([
        expect.objectContaining({
          state: 'unknown',
          installedVersion: version,
        }),
      ]);
    },
  );

  it('an unreadable source version is unknown, not a fallback to the binary version', () => {
    expect(
      evaluatePatch(
        [source('openssl', '3.0.15-1~deb12u1')],
        on([
          deb('libssl3', '3.0.15-1~deb12u1', {
            source: 'openssl',
            sourceVersion: 'zzz',
          }),
        ]),
      ).state,
    ).toBe('unknown');
  });

  it('an unreadable fixed version is unknown', () => {
    const r = evaluatePatch(
      [binary('libssl3', 'not a version')],
      on([deb('libssl3', '3.0.15-1~deb12u1')]),
    );
    expect(r.state).toBe('unknown');
    expect(r.packages[0].state).toBe('unknown');
  });

  it('needed wins over unknown, unknown over installed', () => {
    const targets = [
      binary('libssl3', '3.0.15-1~deb12u1'),
      binary('curl', '7.88.1-10+deb12u9'),
    ];
    expect(
      evaluatePatch(
        targets,
        on([deb('libssl3', 'zzz'), deb('curl', '7.88.1-10+deb12u8')]),
      ).state,
    ).toBe('needed');
    expect(
      evaluatePatch(
        targets,
        on([deb('libssl3', 'zzz'), deb('curl', '7.88.1-10+deb12u9')]),
      ).state,
    ).toBe('unknown');
  });

  it('a multi-package patch with one package installed and another needed is needed', () => {
    const r = evaluatePatch(
      [source('curl', '7.88.1-10+deb12u9')],
      on([
        deb('curl', '7.88.1-10+deb12u9', { source: 'curl' }),
        deb('libcurl4', '7.88.1-10+deb12u8', { source: 'curl' }),
      ]),
    );
    expect(r.state).toBe('needed');
    expect(r.packages.map(p => [p.name, p.state])).toEqual([
      ['curl', 'installed'],
      ['libcurl4', 'needed'],
    ]);
  });

  it('counts every arch instance of one package', () => {
    const r = evaluatePatch(
      [source('glibc', '2.36-9+deb12u10')],
      on([
        deb('libc6', '2.36-9+deb12u10', { arch: 'amd64', source: 'glibc' }),
        deb('libc6', '2.36-9+deb12u9', { arch: 'i386', source: 'glibc' }),
      ]),
    );
    expect(r.state).toBe('needed');
    expect(r.packages.map(p => [p.arch, p.state])).toEqual([
      ['amd64', 'installed'],
      ['i386', 'needed'],
    ]);
  });

  it("matches Ubuntu's binary names of a source target", () => {
    const t = [
      source('openssl', '3.0.2-0ubuntu1.18', {
        release: 'ubuntu:22.04',
        binaries: ['libssl3', 'openssl'],
      }),
    ];
    // The endpoint reports no source: the binary list decides.
    const r = evaluatePatch(
      t,
      on(
        [
          deb('libssl3', '3.0.2-0ubuntu1.15'),
          deb('libssl-doc', '3.0.2-0ubuntu1.15'),
        ],
        'ubuntu:22.04',
      ),
    );
    expect(r.state).toBe('needed');
    expect(r.packages.map(p => p.name)).toEqual(['libssl3']);
  });

  it('is not applicable on another release, ecosystem, or without the package', () => {
    const t = [source('openssl', '3.0.15-1~deb12u1')];
    const pkgs = [deb('libssl3', '3.0.14-1', { source: 'openssl' })];
    expect(evaluatePatch(t, on(pkgs, 'debian:11')).state).toBe(
      'not-applicable',
    );
    expect(evaluatePatch(t, on(pkgs, 'ubuntu:22.04')).state).toBe(
      'not-applicable',
    );
    expect(
      evaluatePatch(t, on([{ ...pkgs[0], ecosystem: 'rpm' }], 'debian:12'))
        .state,
    ).toBe('not-applicable');
    expect(evaluatePatch(t, on([], 'debian:12'))).toEqual({
      state: 'not-applicable',
      packages: [],
    });
    expect(evaluatePatch([], on(pkgs))).toEqual({
      state: 'not-applicable',
      packages: [],
    });
  });

  it('applies every release to an endpoint of unknown release, and a bare os target to every release', () => {
    const pkgs = [deb('libssl3', '3.0.14-1', { source: 'openssl' })];
    expect(
      evaluatePatch(
        [source('openssl', '3.0.15-1~deb12u1')],
        on(pkgs, ANY_RELEASE),
      ).state,
    ).toBe('needed');
    expect(
      evaluatePatch(
        [source('openssl', '3.0.15-1', { release: 'debian' })],
        on(pkgs, 'debian:11'),
      ).state,
    ).toBe('needed');
    expect(
      evaluatePatch([source('openssl', '3.0.15-1~deb12u1')], on(pkgs, 'debian'))
        .state,
    ).toBe('needed');
  });

  it('decides Windows KBs by presence and pending', () => {
    const t: PatchTarget[] = [
      {
        ecosystem: 'windows-kb',
        release: 'windows',
        package: 'KB5034441',
        fixedVersion: 'KB5034441',
      },
    ];
    const kb = { ecosystem: 'windows-kb', name: 'KB5034441', version: '1' };
    expect(evaluatePatch(t, { release: 'windows', packages: [kb] })).toEqual({
      state: 'installed',
      packages: [
        {
          name: 'KB5034441',
          installedVersion: '1',
          fixedVersion: 'KB5034441',
          state: 'installed',
        },
      ],
    });
    expect(
      evaluatePatch(t, {
        release: 'windows',
        packages: [],
        pending: [{ ecosystem: 'windows-kb', name: 'KB5034441' }],
      }).state,
    ).toBe('needed');
    // Present beats pending (the agent saw it installed).
    expect(
      evaluatePatch(t, {
        release: 'windows',
        packages: [kb],
        pending: [{ ecosystem: 'windows-kb', name: 'KB5034441' }],
      }).state,
    ).toBe('installed');
    expect(
      evaluatePatch(t, {
        release: 'windows',
        packages: [{ ...kb, name: 'KB5000000' }],
        pending: [{ ecosystem: 'deb', name: 'KB5034441' }],
      }).state,
    ).toBe('not-applicable');
  });

  it('an ecosystem without an ordering makes the package unknown', () => {
    const t = [
      { ...binary('tool', '1.0'), ecosystem: 'pip' as any } as PatchTarget,
    ];
    expect(
      evaluatePatch(t, on([{ ecosystem: 'pip', name: 'tool', version: '0.9' }]))
        .state,
    ).toBe('unknown');
  });
});

describe('releaseAccepts', () => {
  it.each([
    ['debian:12', 'debian:12', true],
    ['debian:12', 'debian:11', false],
    ['debian:12', 'debian', true],
    ['debian:12', '*', true],
    ['debian', 'debian:11', true],
    ['debian', 'ubuntu:22.04', false],
    ['', 'ubuntu:22.04', true],
    ['Ubuntu:22.04', 'ubuntu:22.04', true],
    ['ubuntu:22.04', 'ubuntu:24.04', false],
    ['debian:12', 'ubuntu', false],
  ])('target %p, endpoint %p → %p', (target, key, expected) => {
    expect(releaseAccepts(target, key)).toBe(expected);
  });
});

describe('isValidInstalledVersion', () => {
  it('names the part and reason of a bad version', () => {
    expect(isValidInstalledVersion('deb', '3.0.15-1~deb12u1')).toEqual({
      ok: true,
    });
    const bad = isValidInstalledVersion('deb', '1:');
    expect(bad).toMatchObject({ ok: false });
    if (bad.ok) throw new Error('unreachable');
    expect(bad.part).toMatch(/version/);
    expect(bad.reason.length).toBeGreaterThan(0);
    expect(isValidInstalledVersion('deb', '')).toEqual({
      ok: false,
      part: expect.any(String),
      reason: expect.any(String),
    });
    expect(isValidInstalledVersion('rpm', 'garbage version')).toMatchObject({
      ok: false,
    });
    expect(isValidInstalledVersion('windows-kb', 'KB5034441')).toEqual({
      ok: true,
    });
    expect(isValidInstalledVersion('windows-kb', '')).toMatchObject({
      ok: false,
    });
  });

  // Strict parsing must accept what real package databases say.
  const fixture = (name: string) =>
    fs
      .readFileSync(path.join(__dirname, '__fixtures__', name), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(l => l.split('\t'));

  it.each([
    ['dpkg-query_installed.tsv', [1]],
    ['dpkg-query_source.tsv', [1, 3]],
    ['Packages_bookworm-security_main_amd64.sample.tsv', [2, 4]],
    ['Packages_bookworm-updates_main_amd64.tsv', [2, 4]],
  ])('accepts every version in %s', (name, columns) => {
    const rows = fixture(name);
    expect(rows.length).toBeGreaterThan(25);
    const refused = rows
      .flatMap(r => columns.map(c => r[c]))
      .filter(v => !isValidInstalledVersion('deb', v).ok);
    expect(refused).toEqual([]);
  });
});
