/*
 * Inventories of the simulated fleet, from real package sets.
 *
 * The pool: the packages of a real Debian 12 machine (agent/fixtures/apt:
 * `dpkg-query` with source names and versions, the pending updates of
 * `apt list --upgradable`), the binaries of the bookworm-security and
 * bookworm-updates `Packages` samples (installed at their listed version),
 * and, because a real pool of ~1,050 names cannot fill a 1,500-package
 * workstation, synthetic third-party packages (`local-<k>`, 10 % with a
 * pending update) after them. The agent's `simulated` provider catalog is
 * generated from the same fixtures, so both sources are covered.
 *
 * Base images: IMAGES (1,000) images of 600 to 1,500 packages, each the real
 * pool in a seeded order and then synthetic ones. Nine images in ten carry
 * the curl binaries at 7.88.1-10+deb12u14 (the patch the rollout installs,
 * source `curl`, fixed in deb12u15); the tenth carries none, so ~90 % of the
 * fleet needs the patch. Each endpoint drifts from its image by 0 to 30
 * packages (added or removed), and each inventory change (a generation)
 * toggles 1 to 5 more. Agents keep only (image, seed, generation, patched):
 * the JSON body is built on demand from precomputed fragments, so 100,000
 * agents fit in one process. The hash is the real agent's (the canonical
 * form's): two endpoints with the same packages send the same hash.
 */
import { canonicalInventory } from '@patchbay/plugin-patch-common';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** The rolled-out patch: source package, vulnerable and fixed versions. */
export const PATCH_SOURCE = 'curl';
export const PATCH_FROM = '7.88.1-10+deb12u14';
export const PATCH_FIXED = '7.88.1-10+deb12u15';

interface PoolEntry {
  name: string;
  /** JSON fragment of the installed package. */
  pkg: string;
  /** JSON fragment of its pending update, if any. */
  pending?: string;
  /** Fragment once the patch is installed (curl binaries only). */
  patched?: string;
}

/**
 * A body's JSON fragments as bytes, each encoded once: a whole upload's body
 * (~150 KB) is then one copy of its records' bytes. Joined as a string it
 * cost the simulator ~2.7 ms per body (the join, then the UTF-8 length and
 * encoding of the result), which during a fleet's first uploads took
 * about as much CPU as the backend under test.
 */
const bytesOf = new Map<string, Buffer>();
function bytes(fragment: string): Buffer {
  let b = bytesOf.get(fragment);
  if (!b) {
    b = Buffer.from(fragment, 'utf8');
    bytesOf.set(fragment, b);
  }
  return b;
}
const COMMA = Buffer.from(',');

/** `[a,b,...]` of fragments, appended to `out` as bytes. */
function pushArray(out: Buffer[], fragments: readonly string[]) {
  out.push(bytes('['));
  fragments.forEach((f, i) => {
    if (i > 0) out.push(COMMA);
    out.push(bytes(f));
  });
  out.push(bytes(']'));
}

/** A small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// eslint-disable-next-line no-restricted-syntax -- a benchmark run from the sources
const FIXTURES = path.resolve(__dirname, '../../../../agent/fixtures/apt');

const read = (file: string) =>
  fs.readFileSync(path.join(FIXTURES, file), 'utf8');

const pkgJson = (
  name: string,
  version: string,
  arch: string,
  source: string,
  sourceVersion: string,
) =>
  JSON.stringify({
    ecosystem: 'deb',
    name,
    version,
    arch,
    source,
    sourceVersion,
  });

const pendingJson = (
  name: string,
  currentVersion: string,
  availableVersion: string,
  source: string,
) =>
  JSON.stringify({
    ecosystem: 'deb',
    name,
    currentVersion,
    availableVersion,
    source,
  });

/** The package pool, image definitions and body builder. */
export class FleetInventories {
  readonly pool: PoolEntry[] = [];
  /** Indices of the curl binaries in the pool. */
  readonly patchIdx: number[] = [];
  /** Number of real (not synthetic) entries. */
  readonly realCount: number;
  /** Membership of each image, one byte per pool entry. */
  private readonly images: Uint8Array[] = [];

  constructor(readonly imageCount = 1000, readonly maxPackages = 1500) {
    const arch = new Map<string, string>();
    for (const line of read('dpkg-query_installed.tsv').split('\n')) {
      const [name, , a] = line.split('\t');
      if (name) arch.set(name.replace(/:.*/, ''), a);
    }
    const upgradable = new Map<string, string>();
    for (const line of read('apt_list_upgradable.stdout.txt').split('\n')) {
      const m = /^([^/\s]+)\/\S+ (\S+) \S+ \[upgradable from: (\S+)\]/.exec(
        line,
      );
      if (m) upgradable.set(m[1], m[2]);
    }
    const seen = new Set<string>();
    for (const line of read('dpkg-query_source.tsv').split('\n')) {
      const [full, version, source, sourceVersion] = line.split('\t');
      if (!full || !version) continue;
      const name = full.replace(/:.*/, '');
      if (seen.has(name)) continue;
      seen.add(name);
      const a = full.includes(':')
        ? full.slice(full.indexOf(':') + 1)
        : arch.get(name) ?? 'amd64';
      const src = source || name;
      const srcVersion = sourceVersion || version;
      const entry: PoolEntry = {
        name,
        pkg: pkgJson(name, version, a, src, srcVersion),
      };
      if (src === PATCH_SOURCE) {
        // The patch's binaries: vulnerable in the images, fixed once installed.
        entry.pkg = pkgJson(name, PATCH_FROM, a, src, PATCH_FROM);
        entry.pending = pendingJson(name, PATCH_FROM, PATCH_FIXED, src);
        entry.patched = pkgJson(name, PATCH_FIXED, a, src, PATCH_FIXED);
        this.patchIdx.push(this.pool.length);
      } else if (upgradable.has(name)) {
        entry.pending = pendingJson(name, version, upgradable.get(name)!, src);
      }
      this.pool.push(entry);
    }
    for (const file of [
      'Packages_bookworm-security_main_amd64.sample.txt',
      'Packages_bookworm-updates_main_amd64.txt',
    ]) {
      for (const stanza of read(file).split(/\n\n+/)) {
        const field = (f: string) =>
          new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1]?.trim();
        const name = field('Package');
        const version = field('Version');
        if (!name || !version || seen.has(name)) continue;
        const [src, srcVer] = (field('Source') ?? name).split(/\s+/);
        // The patch's source only through the machine's own curl binaries.
        if (src === PATCH_SOURCE) continue;
        seen.add(name);
        this.pool.push({
          name,
          pkg: pkgJson(
            name,
            version,
            field('Architecture') ?? 'amd64',
            src,
            srcVer ? srcVer.replace(/[()]/g, '') : version,
          ),
        });
      }
    }
    this.realCount = this.pool.length;
    // Synthetic third-party packages: enough for the largest image plus drift.
    const synthetic = Math.max(0, maxPackages + 100 - this.realCount);
    const r = rng(17);
    for (let k = 0; k < synthetic; k++) {
      const name = `local-${k}`;
      const version = `1.${k % 7}.${k % 13}-1`;
      this.pool.push({
        name,
        pkg: pkgJson(name, version, 'amd64', name, version),
        pending:
          r() < 0.1
            ? pendingJson(name, version, `1.${k % 7}.${(k % 13) + 1}-1`, name)
            : undefined,
      });
    }
    const patchSet = new Set(this.patchIdx);
    const realOthers = [...Array(this.realCount).keys()].filter(
      i => !patchSet.has(i),
    );
    const synth = [...Array(this.pool.length - this.realCount).keys()].map(
      k => k + this.realCount,
    );
    for (let img = 0; img < imageCount; img++) {
      const rand = rng(1000 + img);
      const size = 600 + Math.floor(rand() * (maxPackages - 600 + 1));
      const order = [...shuffle(realOthers, rand), ...shuffle(synth, rand)];
      const member = new Uint8Array(this.pool.length);
      const needs = img % 10 !== 0;
      let n = 0;
      if (needs) {
        for (const i of this.patchIdx) member[i] = 1;
        n = this.patchIdx.length;
      }
      for (const i of order) {
        if (n >= size) break;
        member[i] = 1;
        n++;
      }
      this.images.push(member);
    }
  }

  /** Whether agents on this image need the patch. */
  imageNeedsPatch(image: number): boolean {
    return image % 10 !== 0;
  }

  /** Pool indices toggled on an agent: its drift plus its generations' changes. */
  private toggles(seed: number, generation: number): number[] {
    const out: number[] = [];
    const pick = (r: () => number, count: number) => {
      for (let k = 0; k < count; k++) {
        const i = Math.floor(r() * this.pool.length);
        if (!this.patchIdx.includes(i)) out.push(i);
      }
    };
    const r = rng(seed);
    pick(r, Math.floor(r() * 31));
    for (let g = 1; g <= generation; g++) {
      const rg = rng(seed * 31 + g);
      pick(rg, 1 + Math.floor(rg() * 5));
    }
    return out;
  }

  /** The package and pending records (JSON) of one agent's inventory. */
  private records(state: InventoryState): {
    packages: string[];
    pending: string[];
  } {
    const member = this.images[state.image].slice();
    for (const i of this.toggles(state.seed, state.generation)) member[i] ^= 1;
    const packages: string[] = [];
    const pending: string[] = [];
    for (let i = 0; i < member.length; i++) {
      if (!member[i]) continue;
      const e = this.pool[i];
      if (state.patched && e.patched) {
        packages.push(e.patched);
        continue;
      }
      packages.push(e.pkg);
      if (e.pending) pending.push(e.pending);
    }
    return { packages, pending };
  }

  /**
   * The hash of one agent's inventory, as the agent computes it: SHA-256 of
   * the canonical form, which the backend recomputes.
   */
  hashOf(state: InventoryState): string {
    const { packages, pending } = this.records(state);
    return digest(packages, pending);
  }

  /** The JSON body of a whole upload of one agent's inventory (its hash given), as bytes. */
  body(state: InventoryState, hash: string): Buffer {
    const { packages, pending } = this.records(state);
    const out: Buffer[] = [Buffer.from(`{"hash":"${hash}","packages":`)];
    pushArray(out, packages);
    out.push(bytes(',"pending":'));
    pushArray(out, pending);
    out.push(bytes('}'));
    return Buffer.concat(out);
  }

  /**
   * The JSON body of a change from one inventory of an agent (`base`, what
   * the backend stored) to another (`hash`), as the agent sends it.
   */
  change(
    from: InventoryState,
    to: InventoryState,
    base: string,
    hash: string,
  ): string {
    const before = this.records(from);
    const after = this.records(to);
    const old = new Set(before.packages);
    const now = new Set(after.packages);
    const added = after.packages.filter(p => !old.has(p));
    const removed = before.packages.filter(p => !now.has(p));
    return `{"base":"${base}","hash":"${hash}","added":[${added.join(
      ',',
    )}],"removed":[${removed.join(',')}],"pending":[${after.pending.join(
      ',',
    )}]}`;
  }
}

/** What makes one agent's inventory. */
export interface InventoryState {
  image: number;
  seed: number;
  generation: number;
  patched: boolean;
}

/** Parsed records, by their JSON: the pool's few thousand, parsed once (frozen: their canonical text is then written once). */
const parsed = new Map<string, any>();
function parse(json: string): any {
  let value = parsed.get(json);
  if (!value) {
    value = Object.freeze(JSON.parse(json));
    parsed.set(json, value);
  }
  return value;
}

/** The inventory hash, as the agent computes it (patch-common's canonical form). */
function digest(packages: string[], pending: string[]): string {
  return createHash('sha256')
    .update(canonicalInventory(packages.map(parse), pending.map(parse)))
    .digest('hex');
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
