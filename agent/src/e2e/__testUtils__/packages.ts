/*
 * Builds tiny packages and local repositories for the real apt and dnf
 * end-to-end tests. Everything lives under the test's own folder.
 */
import { execFile as execFileCb } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);

/** Runs a command; output is returned for assertions and error messages. */
export async function sh(command: string, args: string[], cwd?: string) {
  return execFile(command, args, {
    cwd,
    env: {
      ...process.env,
      LANG: 'C',
      LC_ALL: 'C',
      DEBIAN_FRONTEND: 'noninteractive',
    },
    maxBuffer: 16 * 1024 * 1024,
  });
}

/** Whether a program is on the PATH. */
export function have(program: string): boolean {
  return (process.env.PATH ?? '')
    .split(':')
    .some(dir => existsSync(join(dir, program)));
}

/** Why the real package-manager tests cannot run here, or undefined when they can. */
export function rootSkipReason(programs: string[]): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (CI runs these as root)';
  const missing = programs.filter(p => !have(p));
  return missing.length ? `missing ${missing.join(', ')}` : undefined;
}

let aptUpdated = false;

/** Installs Debian packages the test needs when they are missing (apt-get update once). */
export async function ensureDebPackages(programs: Record<string, string>) {
  const missing = Object.entries(programs).filter(
    ([program]) => !have(program),
  );
  if (missing.length === 0) return;
  if (!aptUpdated) {
    await sh('apt-get', ['update', '-q']);
    aptUpdated = true;
  }
  await sh('apt-get', [
    'install',
    '-y',
    '-q',
    ...new Set(missing.map(([, pkg]) => pkg)),
  ]);
}

/** What else a test package's control data says. */
export interface DebExtras {
  /** `Source:` as dpkg writes it: `name` or `name (version)` for a binNMU. */
  source?: string;
  depends?: string;
  /** The body of a `postinst` shell script (e.g. `exit 1` to break configuring). */
  postinst?: string;
  /** Random bytes shipped in the package (stored uncompressed), for download-rate tests. */
  payloadBytes?: number;
}

/** Builds `<name>_<version>_all.deb` into `repoDir` with dpkg-deb. */
export async function buildDeb(
  workDir: string,
  repoDir: string,
  name: string,
  version: string,
  extras: DebExtras = {},
) {
  const root = join(workDir, `build-${name}-${version}`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'usr/share', name), { recursive: true });
  await writeFile(
    join(root, 'DEBIAN/control'),
    [
      `Package: ${name}`,
      ...(extras.source ? [`Source: ${extras.source}`] : []),
      `Version: ${version}`,
      'Architecture: all',
      ...(extras.depends ? [`Depends: ${extras.depends}`] : []),
      'Maintainer: Patchbay tests <tests@patchbay.invalid>',
      'Description: tiny package for the Patchbay agent tests',
      '',
    ].join('\n'),
  );
  if (extras.postinst !== undefined) {
    await writeFile(
      join(root, 'DEBIAN/postinst'),
      `#!/bin/sh\n${extras.postinst}\n`,
      { mode: 0o755 },
    );
  }
  await writeFile(join(root, 'usr/share', name, 'version'), `${version}\n`);
  if (extras.payloadBytes) {
    await writeFile(
      join(root, 'usr/share', name, 'payload'),
      randomBytes(extras.payloadBytes),
    );
  }
  await mkdir(repoDir, { recursive: true });
  const file = join(repoDir, `${name}_${version}_all.deb`);
  await sh('dpkg-deb', [
    '--build',
    '--root-owner-group',
    // Random bytes do not compress; xz would only spend seconds trying.
    ...(extras.payloadBytes ? ['-Znone'] : []),
    root,
    file,
  ]);
  return file;
}

/**
 * A flat apt repository (`Packages` from dpkg-scanpackages --multiversion) and
 * apt options that make apt read ONLY this repository and keep its lists and
 * caches in the test's folder: the host's sources and lists stay untouched.
 */
export async function makeAptRepo(workDir: string, repoDir: string) {
  const { stdout } = await sh(
    'dpkg-scanpackages',
    ['--multiversion', '.', '/dev/null'],
    repoDir,
  );
  await writeFile(join(repoDir, 'Packages'), stdout);
  // apt looks for a compressed index first; offering one keeps its output quiet.
  await sh('gzip', ['-kf', join(repoDir, 'Packages')]);
  for (const d of [
    'lists/partial',
    'cache/archives/partial',
    'sources.list.d',
  ]) {
    await mkdir(join(workDir, d), { recursive: true });
  }
  const sourcesList = join(workDir, 'sources.list');
  await writeFile(sourcesList, `deb [trusted=yes] file:${repoDir} ./\n`);
  return [
    `Dir::Etc::sourcelist=${sourcesList}`,
    `Dir::Etc::sourceparts=${join(workDir, 'sources.list.d')}`,
    `Dir::State::Lists=${join(workDir, 'lists')}`,
    `Dir::Cache=${join(workDir, 'cache')}`,
  ];
}

/**
 * A fresh folder under the system's temporary folder for a test's apt
 * repository and apt state, with dpkg-scanpackages (for
 * {@link makeAptRepo}) installed when missing.
 */
export async function makeAptWorkDir(prefix: string): Promise<string> {
  await ensureDebPackages({ 'dpkg-scanpackages': 'dpkg-dev' });
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Pass or fail: `packages` leave the machine (dpkg --purge), and the folder
 * from {@link makeAptWorkDir} with its repositories and config.
 */
export async function removeAptWorkDir(
  dir: string | undefined,
  packages: string[],
) {
  await sh('dpkg', ['--purge', ...packages]).catch(() => {});
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** The version of `name` dpkg has installed (status `ii`), or undefined. */
export async function dpkgVersion(name: string): Promise<string | undefined> {
  try {
    const { stdout } = await sh('dpkg-query', [
      '-W',
      '-f=${db:Status-Abbrev}|${Version}',
      name,
    ]);
    const [status, version] = stdout.split('|');
    return status.startsWith('ii') ? version : undefined;
  } catch {
    return undefined;
  }
}

/** Builds a noarch rpm with rpmbuild into `repoDir`. */
export async function buildRpm(
  workDir: string,
  repoDir: string,
  name: string,
  version: string,
  release = '1',
) {
  const top = join(workDir, `rpmbuild-${name}-${version}`);
  await mkdir(join(top, 'SPECS'), { recursive: true });
  const spec = join(top, 'SPECS', `${name}.spec`);
  await writeFile(
    spec,
    [
      `Name: ${name}`,
      `Version: ${version}`,
      `Release: ${release}`,
      'Summary: tiny package for the Patchbay agent tests',
      'License: Apache-2.0',
      'BuildArch: noarch',
      '%description',
      'A tiny package for the Patchbay agent tests.',
      '%install',
      `mkdir -p %{buildroot}/usr/share/${name}`,
      `echo ${version}-${release} > %{buildroot}/usr/share/${name}/version`,
      '%files',
      `/usr/share/${name}/version`,
      '',
    ].join('\n'),
  );
  await sh('rpmbuild', ['--quiet', '-bb', '--define', `_topdir ${top}`, spec]);
  await mkdir(repoDir, { recursive: true });
  const file = `${name}-${version}-${release}.noarch.rpm`;
  await sh('cp', [join(top, 'RPMS/noarch', file), join(repoDir, file)]);
  return join(repoDir, file);
}

/** What else the `-libs` subpackage of {@link buildRpmSource} says. */
export interface RpmLibsExtras {
  requires?: string;
  /** A lua `%pretrans` body for the libs package (e.g. `error("broken")`). */
  pretransLua?: string;
}

/**
 * Builds one source package `name` with two noarch binaries, `name` and
 * `name-libs` (so both carry SOURCERPM `name-version-release.src.rpm`), into `repoDir`.
 */
export async function buildRpmSource(
  workDir: string,
  repoDir: string,
  name: string,
  version: string,
  libs: RpmLibsExtras = {},
  release = '1',
) {
  const top = join(workDir, `rpmbuild-${name}-${version}-${release}`);
  await mkdir(join(top, 'SPECS'), { recursive: true });
  const spec = join(top, 'SPECS', `${name}.spec`);
  await writeFile(
    spec,
    [
      `Name: ${name}`,
      `Version: ${version}`,
      `Release: ${release}`,
      'Summary: tiny package for the Patchbay agent tests',
      'License: Apache-2.0',
      'BuildArch: noarch',
      '%description',
      'A tiny package for the Patchbay agent tests.',
      '%package libs',
      'Summary: the libs of the tiny package',
      ...(libs.requires ? [`Requires: ${libs.requires}`] : []),
      '%description libs',
      'The libs of the tiny package.',
      ...(libs.pretransLua
        ? ['%pretrans libs -p <lua>', libs.pretransLua]
        : []),
      '%install',
      `mkdir -p %{buildroot}/usr/share/${name} %{buildroot}/usr/share/${name}-libs`,
      `echo ${version}-${release} > %{buildroot}/usr/share/${name}/version`,
      `echo ${version}-${release} > %{buildroot}/usr/share/${name}-libs/version`,
      '%files',
      `/usr/share/${name}/version`,
      '%files libs',
      `/usr/share/${name}-libs/version`,
      '',
    ].join('\n'),
  );
  await sh('rpmbuild', ['--quiet', '-bb', '--define', `_topdir ${top}`, spec]);
  await mkdir(repoDir, { recursive: true });
  for (const file of [
    `${name}-${version}-${release}.noarch.rpm`,
    `${name}-libs-${version}-${release}.noarch.rpm`,
  ]) {
    await sh('cp', [join(top, 'RPMS/noarch', file), join(repoDir, file)]);
  }
}
