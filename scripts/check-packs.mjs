#!/usr/bin/env node
/**
 * Packs every workspace package with `yarn pack` (which runs the packages'
 * prepack / postpack scripts, i.e. `backstage-cli package prepack`) and checks
 * each tarball the way an adopter's `yarn add ./package.tgz` would meet it:
 *
 * - it is not private, and names a license and a repository;
 * - no dependency range is a `workspace:` range;
 * - every entry point the manifest names (main, module, types, bin, exports,
 *   typesVersions, configSchema) is a file inside the tarball;
 * - nothing from src/ is in it, no entry point points into src/, no build
 *   artifact of another kind (.deb, .tgz) is in it, and it stays under 5 MB;
 * - every package that its built files (.js and .d.ts under dist/) import by
 *   name is declared in dependencies or peerDependencies (an import that
 *   only resolves through hoisting in this repository fails for an adopter);
 * - a command (`bin`) runs from the unpacked tarball alone, without src/;
 * - a frontend or backend plugin declares `backstage.features` (what
 *   `app.packages: all` and feature discovery read).
 *
 * The demo app and backend under packages/ must stay private and are not
 * packed. Packages must be built first (`--build` runs `tsc` and each
 * package's build script).
 *
 * Usage: node scripts/check-packs.mjs [--build [--no-tsc]] [--keep] [--out=DIR] [package-dir ...]
 * --out=DIR: the tarballs that passed are copied to DIR (emptied of .tgz
 * files first) under yarn's `%s-%v.tgz` names (`@patchbay-plugin-patch-0.1.0.tgz`),
 * for scripts/adopter/run.sh.
 * Prints one line per check failure and closes with "N passed, N failed".
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const yarn = path.join(root, '.yarn/releases/yarn-4.18.1.cjs');
const args = process.argv.slice(2);
const build = args.includes('--build');
const keep = args.includes('--keep');
// --no-tsc: the declarations in dist-types/ are already fresh (test.sh's full type check wrote them).
const tsc = !args.includes('--no-tsc');
const only = args.filter(a => !a.startsWith('--'));
const copyTo = args.find(a => a.startsWith('--out='))?.slice('--out='.length);

const builtins = new Set(builtinModules);
// The largest tarball today is under 0.5 MB; anything near this is a packaging mistake.
const MAX_TARBALL_BYTES = 5e6;
const rootPkg = JSON.parse(
  fs.readFileSync(path.join(root, 'package.json'), 'utf8'),
);

/** The workspace folders (globs of the form `dir/*` or plain folders). */
function workspaceDirs() {
  const dirs = [];
  for (const ws of rootPkg.workspaces) {
    if (ws.endsWith('/*')) {
      const parent = path.join(root, ws.slice(0, -2));
      for (const name of fs.readdirSync(parent).sort()) {
        if (fs.existsSync(path.join(parent, name, 'package.json'))) {
          dirs.push(path.join(ws.slice(0, -2), name));
        }
      }
    } else {
      dirs.push(ws);
    }
  }
  return dirs;
}

function run(cmd, cmdArgs, cwd) {
  return execFileSync(cmd, cmdArgs, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * Every file path of an exports / typesVersions value. The `backstage`
 * condition that prepack adds names a feature type, not a file.
 */
function leaves(value) {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(leaves);
  if (value && typeof value === 'object') {
    return Object.entries(value)
      .filter(([key]) => key !== 'backstage')
      .flatMap(([, v]) => leaves(v));
  }
  return [];
}

/** The package name of a bare import specifier, or undefined. */
function packageOf(spec) {
  if (
    spec.startsWith('.') ||
    spec.startsWith('/') ||
    spec.startsWith('node:')
  ) {
    return undefined;
  }
  const parts = spec.split('/');
  const name = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return builtins.has(name) ? undefined : name;
}

const IMPORT_RE =
  /(?:^|[\s;,(])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^.\w])(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** Names of the packages that the tarball's built files import. */
function importedPackages(extractDir) {
  const found = new Map();
  const walk = dir => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(p);
      } else if (/\.(c|m)?js$|\.d\.ts$/.test(entry.name)) {
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(IMPORT_RE)) {
          const name = packageOf(m[1] ?? m[2] ?? m[3]);
          if (name && !found.has(name)) {
            found.set(name, path.relative(extractDir, p));
          }
        }
      }
    }
  };
  const dist = path.join(extractDir, 'dist');
  if (fs.existsSync(dist)) walk(dist);
  return found;
}

function checkPackage(dir, outDir) {
  const problems = [];
  const pkgDir = path.join(root, dir);
  const source = JSON.parse(
    fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'),
  );
  if (dir.startsWith('packages/')) {
    if (!source.private)
      problems.push('a demo package under packages/ must stay private');
    return { name: source.name, skipped: true, problems };
  }
  if (build) {
    run('node', [yarn, 'run', 'build'], pkgDir);
  }
  const tgz = path.join(outDir, `${source.name.replace(/[@/]/g, '_')}.tgz`);
  try {
    run('node', [yarn, 'pack', '--out', tgz], pkgDir);
  } catch (error) {
    problems.push(
      `yarn pack failed: ${(error.stdout || '') + (error.stderr || '')}`.trim(),
    );
    return { name: source.name, problems };
  }
  const extractDir = path.join(outDir, source.name.replace(/[@/]/g, '_'));
  fs.mkdirSync(extractDir, { recursive: true });
  run('tar', ['xzf', tgz, '-C', extractDir, '--strip-components=1'], root);
  const files = new Set(
    run('tar', ['tzf', tgz], root)
      .split('\n')
      .filter(Boolean)
      .map(f => f.replace(/^package\//, '')),
  );
  const pkg = JSON.parse(
    fs.readFileSync(path.join(extractDir, 'package.json'), 'utf8'),
  );

  if (pkg.private) problems.push('"private": true');
  if (!pkg.license) problems.push('no license');
  if (!pkg.repository || !pkg.repository.url) problems.push('no repository');
  if (fs.existsSync(path.join(pkgDir, 'package.json-prepack'))) {
    problems.push('package.json-prepack left behind: postpack did not run');
  }
  for (const field of [
    'dependencies',
    'peerDependencies',
    'optionalDependencies',
    'devDependencies',
  ]) {
    for (const [name, range] of Object.entries(pkg[field] ?? {})) {
      if (/^(workspace|link|portal|file):/.test(range)) {
        problems.push(`${field}.${name} is "${range}"`);
      }
    }
  }
  for (const f of files) {
    if (f.startsWith('src/')) problems.push(`the tarball contains ${f}`);
    // Build artifacts of other kinds (the agent's .deb is built into dist/deb).
    if (/\.(deb|tgz|tar\.gz|blob)$/.test(f))
      problems.push(`the tarball contains ${f}`);
  }
  const size = fs.statSync(tgz).size;
  if (size > MAX_TARBALL_BYTES) {
    problems.push(
      `the tarball is ${(size / 1e6).toFixed(1)} MB (over ${
        MAX_TARBALL_BYTES / 1e6
      } MB)`,
    );
  }

  const entryPoints = [];
  for (const field of ['main', 'module', 'types', 'typings', 'browser']) {
    if (typeof pkg[field] === 'string') entryPoints.push([field, pkg[field]]);
  }
  if (typeof pkg.bin === 'string') entryPoints.push(['bin', pkg.bin]);
  for (const [k, v] of Object.entries(
    typeof pkg.bin === 'object' ? pkg.bin : {},
  )) {
    entryPoints.push([`bin.${k}`, v]);
  }
  for (const v of leaves(pkg.exports)) entryPoints.push(['exports', v]);
  for (const v of leaves(pkg.typesVersions))
    entryPoints.push(['typesVersions', v]);
  if (typeof pkg.configSchema === 'string')
    entryPoints.push(['configSchema', pkg.configSchema]);
  for (const [field, target] of entryPoints) {
    const rel = path.posix.normalize(target.replace(/^\.\//, ''));
    if (rel.startsWith('src/'))
      problems.push(`${field} points into src/: ${target}`);
    else if (!files.has(rel))
      problems.push(`${field} names ${target}, which is not in the tarball`);
  }

  const declared = new Set([
    pkg.name,
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ]);
  for (const [name, file] of importedPackages(extractDir)) {
    // Type-only helpers of the TypeScript toolchain are not runtime imports.
    if (name === 'typescript' || name.startsWith('@types/')) continue;
    if (!declared.has(name)) {
      problems.push(
        `${file} imports ${name}, which is not in dependencies or peerDependencies`,
      );
    }
  }

  // An installed command must run from the tarball alone: its launcher never
  // turns to src/ (a stray src/ that throws is planted to prove it) nor to
  // the repository's dev tooling. The agent's bundle has no dependencies.
  const bins =
    typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
  for (const bin of bins) {
    fs.mkdirSync(path.join(extractDir, 'src'), { recursive: true });
    for (const f of ['index.ts', 'index.js']) {
      fs.writeFileSync(
        path.join(extractDir, 'src', f),
        'throw new Error("src/ was loaded");\n',
      );
    }
    try {
      const out = run(
        'node',
        [path.join(extractDir, bin), '--version'],
        os.tmpdir(),
      ).trim();
      if (out !== pkg.version)
        problems.push(`${bin} --version printed "${out}", not ${pkg.version}`);
    } catch (error) {
      problems.push(
        `${bin} --version failed from the tarball: ${(
          error.stderr || error.message
        ).trim()}`,
      );
    }
  }

  const role = pkg.backstage?.role;
  if (
    ['frontend-plugin', 'backend-plugin', 'backend-plugin-module'].includes(
      role,
    )
  ) {
    if (
      !pkg.backstage.features ||
      Object.keys(pkg.backstage.features).length === 0
    ) {
      problems.push(
        `a ${role} without backstage.features (prepack did not detect its features)`,
      );
    }
  }
  return { name: pkg.name, version: pkg.version, tgz, problems };
}

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-packs-'));
if (build && tsc) {
  console.log('==> tsc (declarations for the packages builds)');
  run('node', [yarn, 'tsc'], root);
}
let passed = 0;
let failed = 0;
if (copyTo) {
  fs.mkdirSync(copyTo, { recursive: true });
  for (const f of fs.readdirSync(copyTo).filter(n => n.endsWith('.tgz'))) {
    fs.rmSync(path.join(copyTo, f));
  }
}
for (const dir of workspaceDirs()) {
  if (only.length > 0 && !only.includes(dir)) continue;
  const t0 = Date.now();
  const result = checkPackage(dir, outDir);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  if (result.problems.length === 0) {
    passed += 1;
    if (copyTo && !result.skipped) {
      fs.copyFileSync(
        result.tgz,
        path.join(
          copyTo,
          `${result.name.replace('/', '-')}-${result.version}.tgz`,
        ),
      );
    }
    console.log(
      `ok   ${result.name} ${
        result.skipped ? '(private demo package, not packed)' : `(${secs}s)`
      }`,
    );
  } else {
    failed += 1;
    console.log(`FAIL ${result.name}`);
    for (const p of result.problems) console.log(`     - ${p}`);
  }
}
if (keep) {
  console.log(`tarballs kept in ${outDir}`);
} else {
  fs.rmSync(outDir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
