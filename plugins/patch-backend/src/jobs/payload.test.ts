import { buildJobPayload, rollbackPayload } from './payload';

describe('job payloads', () => {
  it('lists every package the endpoint needs, the first one in the old fields', () => {
    const payload = buildJobPayload({
      kind: 'install',
      patchRef: 'patch:default/p',
      rolloutId: 'r1',
      needs: [
        {
          package: 'openssl',
          ecosystem: 'deb',
          installedVersion: '1',
          fixedVersion: '2',
        },
        {
          package: 'libssl3',
          ecosystem: 'deb',
          installedVersion: '1',
          fixedVersion: '2',
        },
      ],
      extra: { bandwidthKbps: 5 },
    });
    expect(payload).toEqual({
      patchRef: 'patch:default/p',
      rolloutId: 'r1',
      ecosystem: 'deb',
      package: 'libssl3',
      version: '2',
      previousVersion: '1',
      packages: [
        { name: 'libssl3', version: '2', previousVersion: '1' },
        { name: 'openssl', version: '2', previousVersion: '1' },
      ],
      bandwidthKbps: 5,
    });
  });

  it('expands a source target into every installed binary of that source', () => {
    const payload = buildJobPayload({
      kind: 'install',
      patchRef: 'patch:default/p',
      needs: [
        {
          package: 'openssl',
          ecosystem: 'deb',
          installedVersion: '3.0.11-1',
          fixedVersion: '3.0.13-1',
        },
      ],
      targets: [
        {
          ecosystem: 'deb',
          package: 'openssl',
          fixedVersion: '3.0.13-1',
          packageType: 'source',
        },
      ],
      installed: [
        {
          ecosystem: 'deb',
          name: 'libssl3',
          version: '3.0.11-1+b1',
          source: 'openssl',
          sourceVersion: '3.0.11-1',
          arch: 'amd64',
        },
        {
          ecosystem: 'deb',
          name: 'openssl',
          version: '3.0.11-1',
          source: 'openssl',
        },
        { ecosystem: 'deb', name: 'curl', version: '8', source: 'curl' },
      ],
    });
    expect(payload.packages).toEqual([
      {
        name: 'libssl3',
        version: '3.0.13-1',
        source: 'openssl',
        previousVersion: '3.0.11-1+b1',
        arch: 'amd64',
      },
      {
        name: 'openssl',
        version: '3.0.13-1',
        source: 'openssl',
        previousVersion: '3.0.11-1',
      },
    ]);
    expect(payload.package).toBe('libssl3');
  });

  it('rolls every package back to the version it had before', () => {
    const install = buildJobPayload({
      kind: 'install',
      patchRef: 'patch:default/p',
      needs: [
        {
          package: 'a',
          ecosystem: 'deb',
          installedVersion: '1',
          fixedVersion: '2',
        },
        {
          package: 'b',
          ecosystem: 'deb',
          installedVersion: '5',
          fixedVersion: '6',
        },
      ],
    });
    const payload = rollbackPayload({
      patchRef: 'patch:default/p',
      install,
      resultPackages: [{ name: 'b', before: '5.1' }],
    });
    expect(payload).toMatchObject({
      package: 'a',
      version: '1',
      previousVersion: '2',
      packages: [
        { name: 'a', version: '2', previousVersion: '1' },
        { name: 'b', version: '6', previousVersion: '5.1' },
      ],
    });
  });

  it("carries the install's distribution (throttle, site mirror) into its rollback", () => {
    const distribution = {
      throttleKiBps: 640,
      site: 'berlin',
      mirrors: [
        { origin: 'http://deb.example/debian', url: 'http://m/debian' },
      ],
    };
    const install = buildJobPayload({
      kind: 'install',
      patchRef: 'patch:default/p',
      needs: [
        {
          package: 'a',
          ecosystem: 'deb',
          installedVersion: '1',
          fixedVersion: '2',
        },
      ],
      extra: { distribution },
    });
    expect(
      rollbackPayload({ patchRef: 'patch:default/p', install }).distribution,
    ).toEqual(distribution);
    const plain = buildJobPayload({
      kind: 'install',
      patchRef: 'patch:default/p',
      needs: [
        {
          package: 'a',
          ecosystem: 'deb',
          installedVersion: '1',
          fixedVersion: '2',
        },
      ],
    });
    expect(
      rollbackPayload({ patchRef: 'patch:default/p', install: plain }),
    ).not.toHaveProperty('distribution');
  });
});
