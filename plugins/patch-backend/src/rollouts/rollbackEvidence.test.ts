import { rollbackPayload } from '../jobs/payload';
import { rollbackEvidence } from './rollbackEvidence';

describe('rollback evidence', () => {
  const payload = rollbackPayload({
    patchRef: 'patch:default/p',
    install: {
      ecosystem: 'deb',
      packages: [
        { name: 'libssl3', version: '3.0.13-1', previousVersion: '3.0.11-1' },
        { name: 'openssl', version: '3.0.13-1', previousVersion: '3.0.11-1' },
        { name: 'openssl-provider-legacy', version: '3.0.13-1' },
      ],
    },
    // The install's own evidence: libssl3 was at 3.0.9-1, the provider was not there.
    resultPackages: [
      { name: 'libssl3', before: '3.0.9-1' },
      { name: 'openssl', before: '3.0.11-1' },
      { name: 'openssl-provider-legacy' },
    ],
  });

  it('marks what the install added, and only that, as to be removed', () => {
    expect(payload.packages).toEqual([
      { name: 'libssl3', version: '3.0.13-1', previousVersion: '3.0.9-1' },
      { name: 'openssl', version: '3.0.13-1', previousVersion: '3.0.11-1' },
      {
        name: 'openssl-provider-legacy',
        version: '3.0.13-1',
        absentBefore: true,
      },
    ]);
  });

  it('is verified only when every package is back, and the added one gone', () => {
    expect(
      rollbackEvidence(payload, [
        { name: 'libssl3', version: '3.0.9-1' },
        { name: 'openssl', version: '0:3.0.11-1' },
        { name: 'zlib1g', version: '1.2.13' },
      ]),
    ).toEqual({ ok: true, wrong: [] });
    expect(
      rollbackEvidence(payload, [
        { name: 'libssl3', version: '3.0.13-1' },
        { name: 'openssl', version: '3.0.11-1' },
        { name: 'openssl-provider-legacy', version: '3.0.13-1' },
      ]),
    ).toEqual({
      ok: false,
      wrong: [
        'libssl3 3.0.13-1, wanted 3.0.9-1',
        'openssl-provider-legacy 3.0.13-1, wanted absent (the install added it)',
      ],
    });
    expect(
      rollbackEvidence(payload, [{ name: 'libssl3', version: '3.0.9-1' }]),
    ).toEqual({ ok: false, wrong: ['openssl absent, wanted 3.0.11-1'] });
  });

  it('fails closed: a package with no version from before, or no package at all', () => {
    expect(
      rollbackEvidence(
        { packages: [{ name: 'openssl', version: '3.0.13-1' }] },
        [],
      ),
    ).toEqual({
      ok: false,
      wrong: ['openssl: no version from before the install is known'],
    });
    expect(rollbackEvidence({}, []).ok).toBe(false);
  });

  it('reads the single fields of old payloads: package back to version', () => {
    const old = {
      package: 'openssl',
      version: '3.0.11-1',
      previousVersion: '3.0.13-1',
    };
    expect(
      rollbackEvidence(old, [{ name: 'openssl', version: '3.0.11-1' }]).ok,
    ).toBe(true);
    expect(
      rollbackEvidence(old, [{ name: 'openssl', version: '3.0.13-1' }]).ok,
    ).toBe(false);
  });

  it('checks every architecture of a multi-arch package', () => {
    const multi = {
      packages: [
        {
          name: 'libc6',
          version: '2.36-9+deb12u4',
          previousVersion: '2.36-9+deb12u3',
        },
      ],
    };
    expect(
      rollbackEvidence(multi, [
        { name: 'libc6', version: '2.36-9+deb12u3', arch: 'amd64' },
        { name: 'libc6', version: '2.36-9+deb12u4', arch: 'i386' },
      ]),
    ).toEqual({
      ok: false,
      wrong: ['libc6 2.36-9+deb12u4, wanted 2.36-9+deb12u3'],
    });
  });
});
