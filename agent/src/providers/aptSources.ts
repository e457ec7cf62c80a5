/*
 * Site mirrors for apt, for one run only: the endpoint's sources (the main
 * list and every `.list` / `.sources` file of the parts folder) are copied
 * into a temporary folder with the URIs that start with a mirror's origin
 * rewritten to the mirror, and apt is pointed at that folder and at a
 * temporary lists folder (seeded with hard links to the current lists, so
 * sources that are not mirrored are not fetched anew) by `-o` options. The
 * endpoint's own sources and lists are never written; the folder is
 * removed when the run ends.
 */
import {
  copyFile,
  link,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
  chmod,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { JobDistribution } from './types';

/** A mirror as apt uses it: the source URI prefix it stands for, and where it serves. */
export type AptMirror = { origin: string; url: string };

/** The apt mirrors among a job's mirrors (those with an `origin`). */
export function aptMirrors(distribution?: JobDistribution): AptMirror[] {
  return (distribution?.mirrors ?? [])
    .filter(m => !!m.origin)
    .map(m => ({ origin: m.origin!, url: m.url }));
}

const trimSlash = (s: string) => s.replace(/\/+$/, '');

/**
 * The URI served by a mirror instead, or undefined: a URI matches an origin
 * when it is the origin or continues it after a `/` (so an origin of
 * `.../debian` takes `.../debian/` but not `.../debian-security`).
 */
export function mirroredUri(
  uri: string,
  mirrors: AptMirror[],
): string | undefined {
  for (const m of mirrors) {
    const origin = trimSlash(m.origin);
    if (uri !== origin && !uri.startsWith(`${origin}/`)) continue;
    return trimSlash(m.url) + uri.slice(origin.length);
  }
  return undefined;
}

/** A sources file rewritten, and how many of its URIs changed. */
export interface Rewritten {
  text: string;
  changed: number;
}

/** One-line format (`deb [ options ] uri suite [components]`). */
export function rewriteSourcesList(
  text: string,
  mirrors: AptMirror[],
): Rewritten {
  let changed = 0;
  const lines = text.split('\n').map(line => {
    const m = /^(\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?)(\S+)(.*)$/.exec(line);
    if (!m) return line;
    const to = mirroredUri(m[2], mirrors);
    if (to === undefined) return line;
    changed++;
    return `${m[1]}${to}${m[3]}`;
  });
  return { text: lines.join('\n'), changed };
}

/** deb822 format (`URIs:` fields, continuation lines included). */
export function rewriteDeb822(text: string, mirrors: AptMirror[]): Rewritten {
  let changed = 0;
  let inUris = false;
  const rewriteUris = (value: string) =>
    value.replace(/\S+/g, uri => {
      const to = mirroredUri(uri, mirrors);
      if (to === undefined) return uri;
      changed++;
      return to;
    });
  const lines = text.split('\n').map(line => {
    const field = /^([A-Za-z0-9-]+):(.*)$/.exec(line);
    if (field) {
      inUris = field[1].toLowerCase() === 'uris';
      return inUris ? `${field[1]}:${rewriteUris(field[2])}` : line;
    }
    // A continuation line (leading space, not a comment) belongs to the field above.
    if (inUris && /^\s+\S/.test(line) && !/^\s*#/.test(line))
      return rewriteUris(line);
    if (!/^\s/.test(line)) inUris = false;
    return line;
  });
  return { text: lines.join('\n'), changed };
}

/** Where apt reads its sources and lists, as `apt-config shell` resolves them. */
export interface AptPaths {
  sourceList: string;
  sourceParts: string;
  lists: string;
}

/** Parses `apt-config shell SL Dir::Etc::SourceList/f SP ... LI ...`. */
export function parseAptConfigShell(stdout: string): Partial<AptPaths> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+)='(.*)'$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/'"'"'/g, "'");
  }
  return {
    ...(out.SL ? { sourceList: out.SL } : {}),
    ...(out.SP ? { sourceParts: out.SP } : {}),
    ...(out.LI ? { lists: out.LI } : {}),
  };
}

/** The `apt-config shell` arguments for {@link parseAptConfigShell}. */
export const APT_CONFIG_SHELL_ARGS = [
  'shell',
  'SL',
  'Dir::Etc::SourceList/f',
  'SP',
  'Dir::Etc::SourceParts/d',
  'LI',
  'Dir::State::Lists/d',
];

/** A run's temporary sources: the apt options that use them, and their clean-up. */
export interface MirrorRun {
  /** `-o` values (without the `-o`). */
  options: string[];
  /** URIs rewritten, over every file. */
  changed: number;
  dispose(): Promise<void>;
}

async function readOrEmpty(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error: any) {
    if (error?.code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Writes the mirrored copy of the endpoint's sources into a fresh temporary
 * folder. Unreadable sources throw (the job fails): a mirror that cannot be
 * applied as asked is not silently skipped.
 */
export async function prepareMirrorRun(
  paths: AptPaths,
  mirrors: AptMirror[],
  parent: string = tmpdir(),
): Promise<MirrorRun> {
  const dir = await mkdtemp(join(parent, 'patch-agent-apt-mirror-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    // apt fetches as the unprivileged _apt user, which must reach the lists.
    await chmod(dir, 0o755);
    const parts = join(dir, 'sources.list.d');
    const lists = join(dir, 'lists');
    await mkdir(parts);
    await mkdir(join(lists, 'partial'), { recursive: true });
    let changed = 0;
    const main = await readOrEmpty(paths.sourceList);
    const mainOut = rewriteSourcesList(main ?? '', mirrors);
    changed += mainOut.changed;
    await writeFile(join(dir, 'sources.list'), mainOut.text);
    const names = await readdir(paths.sourceParts).catch((error: any) => {
      if (error?.code === 'ENOENT') return [] as string[];
      throw error;
    });
    for (const name of names.sort()) {
      // apt reads only these two kinds from the parts folder.
      const deb822 = name.endsWith('.sources');
      if (!deb822 && !name.endsWith('.list')) continue;
      const text = await readFile(join(paths.sourceParts, name), 'utf8');
      const out = deb822
        ? rewriteDeb822(text, mirrors)
        : rewriteSourcesList(text, mirrors);
      changed += out.changed;
      await writeFile(join(parts, basename(name)), out.text);
    }
    await seedLists(paths.lists, lists);
    return {
      options: [
        `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
        `Dir::Etc::SourceParts=${parts}`,
        `Dir::State::Lists=${lists}`,
      ],
      changed,
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Links (or, across file systems, copies) the current index files into the
 * run's lists folder, so the sources that are not mirrored keep theirs;
 * apt replaces a file by renaming a new one over it, so the originals stay
 * as they were.
 */
async function seedLists(from: string, to: string): Promise<void> {
  const names = await readdir(from).catch(() => [] as string[]);
  for (const name of names) {
    if (name === 'lock' || name === 'partial' || name === 'auxfiles') continue;
    const source = join(from, name);
    if (!(await stat(source)).isFile()) continue;
    await link(source, join(to, name)).catch(() =>
      copyFile(source, join(to, name)),
    );
  }
}
