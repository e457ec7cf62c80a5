import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  mirroredUri,
  parseAptConfigShell,
  prepareMirrorRun,
  rewriteDeb822,
  rewriteSourcesList,
} from './aptSources';

const mirrors = [
  {
    origin: 'http://archive.example.invalid/debian/',
    url: 'http://mirror.site.example.invalid/debian',
  },
];

describe('apt site mirrors', () => {
  it('maps a URI under the origin, and nothing that merely shares its prefix', () => {
    expect(mirroredUri('http://archive.example.invalid/debian', mirrors)).toBe(
      'http://mirror.site.example.invalid/debian',
    );
    expect(
      mirroredUri('http://archive.example.invalid/debian/pool/x.deb', mirrors),
    ).toBe('http://mirror.site.example.invalid/debian/pool/x.deb');
    expect(
      mirroredUri('http://archive.example.invalid/debian-security', mirrors),
    ).toBeUndefined();
  });

  it('rewrites one-line sources, options and deb-src included, and leaves the rest', () => {
    const text = [
      '# deb http://archive.example.invalid/debian bookworm main',
      'deb [arch=amd64 signed-by=/k.gpg] http://archive.example.invalid/debian bookworm main',
      'deb-src http://archive.example.invalid/debian/ bookworm main',
      'deb http://other.example.invalid/debian bookworm main',
      '',
    ].join('\n');
    expect(rewriteSourcesList(text, mirrors)).toEqual({
      changed: 2,
      text: [
        '# deb http://archive.example.invalid/debian bookworm main',
        'deb [arch=amd64 signed-by=/k.gpg] http://mirror.site.example.invalid/debian bookworm main',
        'deb-src http://mirror.site.example.invalid/debian/ bookworm main',
        'deb http://other.example.invalid/debian bookworm main',
        '',
      ].join('\n'),
    });
  });

  it('rewrites deb822 URIs, continuation lines included', () => {
    const text = [
      'Types: deb',
      'URIs: http://archive.example.invalid/debian http://other.example.invalid/x',
      ' http://archive.example.invalid/debian/extra',
      'Suites: bookworm',
      'Components: main',
      '',
    ].join('\n');
    const out = rewriteDeb822(text, mirrors);
    expect(out.changed).toBe(2);
    expect(out.text.split('\n').slice(1, 4)).toEqual([
      'URIs: http://mirror.site.example.invalid/debian http://other.example.invalid/x',
      ' http://mirror.site.example.invalid/debian/extra',
      'Suites: bookworm',
    ]);
  });

  it('reads where apt-config says the sources and lists are', () => {
    expect(
      parseAptConfigShell(
        "SL='/etc/apt/sources.list'\nSP='/etc/apt/sources.list.d/'\nLI='/var/lib/apt/lists/'\n",
      ),
    ).toEqual({
      sourceList: '/etc/apt/sources.list',
      sourceParts: '/etc/apt/sources.list.d/',
      lists: '/var/lib/apt/lists/',
    });
  });

  describe('a run', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'apt-sources-test-'));
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('writes mirrored copies and seeded lists elsewhere, never the originals, and removes them', async () => {
      const main = 'deb http://archive.example.invalid/debian bookworm main\n';
      const deb822 =
        'Types: deb\nURIs: http://archive.example.invalid/debian\nSuites: x\n';
      await mkdir(join(dir, 'parts'));
      await mkdir(join(dir, 'lists/partial'), { recursive: true });
      await writeFile(join(dir, 'sources.list'), main);
      await writeFile(join(dir, 'parts/a.sources'), deb822);
      await writeFile(
        join(dir, 'parts/ignored.txt'),
        'deb http://archive.example.invalid/debian x y',
      );
      await writeFile(join(dir, 'lists/other_Packages'), 'Package: kept\n');
      await writeFile(join(dir, 'lists/lock'), '');

      const run = await prepareMirrorRun(
        {
          sourceList: join(dir, 'sources.list'),
          sourceParts: join(dir, 'parts'),
          lists: join(dir, 'lists'),
        },
        mirrors,
      );
      expect(run.changed).toBe(2);
      const opt = (key: string) =>
        run.options.find(o => o.startsWith(`${key}=`))!.slice(key.length + 1);
      expect(await readFile(opt('Dir::Etc::SourceList'), 'utf8')).toBe(
        'deb http://mirror.site.example.invalid/debian bookworm main\n',
      );
      const parts = opt('Dir::Etc::SourceParts');
      expect(await readdir(parts)).toEqual(['a.sources']);
      expect(await readFile(join(parts, 'a.sources'), 'utf8')).toContain(
        'URIs: http://mirror.site.example.invalid/debian',
      );
      const lists = opt('Dir::State::Lists');
      expect((await readdir(lists)).sort()).toEqual([
        'other_Packages',
        'partial',
      ]);
      // The endpoint's own files are as they were.
      expect(await readFile(join(dir, 'sources.list'), 'utf8')).toBe(main);
      expect(await readFile(join(dir, 'parts/a.sources'), 'utf8')).toBe(deb822);

      await run.dispose();
      expect(existsSync(parts)).toBe(false);
      expect(existsSync(lists)).toBe(false);
      expect(await readFile(join(dir, 'lists/other_Packages'), 'utf8')).toBe(
        'Package: kept\n',
      );
    });
  });
});
