import { artifactRefusal } from './artifactPolicy';

describe('artifactRefusal', () => {
  const artifact = {
    url: 'https://packages.internal/patchbay/tiny_1.1-1_all.deb',
    sha256: 'a'.repeat(64),
  };
  const on = (allowedSources: string[]) => ({ enabled: true, allowedSources });

  it('refuses every artifact unless the agent enabled them', () => {
    expect(artifactRefusal(artifact, undefined, 1)).toMatch(
      /Artifact installs are disabled on this agent \(artifacts\.enabled is false/,
    );
    expect(
      artifactRefusal(artifact, { enabled: false, allowedSources: [] }, 1),
    ).toMatch(/disabled/);
  });

  it('allows only URLs under a listed prefix, compared on the parsed URL', () => {
    expect(artifactRefusal(artifact, on([]), 1)).toMatch(
      /not under any of this agent's artifacts\.allowedSources/,
    );
    expect(
      artifactRefusal(artifact, on(['https://packages.internal/patchbay/']), 1),
    ).toBeUndefined();
    expect(
      artifactRefusal(artifact, on(['https://packages.internal/patchbay']), 1),
    ).toBeUndefined();
    for (const url of [
      'https://packages.internal.evil/patchbay/x.deb',
      'http://packages.internal/patchbay/x.deb',
      'https://packages.internal/patchbay-other/x.deb',
      'https://packages.internal/patchbay/../etc/x.deb',
      'https://user:pw@packages.internal/patchbay/x.deb',
      'not a url',
    ]) {
      expect(
        artifactRefusal(
          { ...artifact, url },
          on(['https://packages.internal/patchbay/']),
          1,
        ),
      ).toBeDefined();
    }
  });

  it('compares a path on a mounted share as a file: URL', () => {
    const policy = on(['file:///mnt/packages/']);
    expect(
      artifactRefusal({ ...artifact, url: '/mnt/packages/x.deb' }, policy, 1),
    ).toBeUndefined();
    expect(
      artifactRefusal({ ...artifact, url: '/mnt/other/x.deb' }, policy, 1),
    ).toMatch(/not under/);
  });

  it('takes one package per artifact job, with a checksum', () => {
    const policy = on(['https://packages.internal/']);
    expect(artifactRefusal(artifact, policy, 2)).toMatch(/exactly one package/);
    expect(artifactRefusal({ url: artifact.url }, policy, 1)).toMatch(
      /without a url and sha256/,
    );
  });
});
