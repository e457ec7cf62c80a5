import {
  applyInventoryChange,
  canonicalInventory,
  inventoryChange,
} from './canonical';

const curl = {
  ecosystem: 'deb',
  name: 'curl',
  version: '7.88.1-10+deb12u14',
  arch: 'amd64',
  source: 'curl',
  sourceVersion: '7.88.1-10+deb12u14',
};
const libc = {
  ecosystem: 'deb',
  name: 'libc6',
  version: '2.36-9',
  arch: 'amd64',
};
const pending = {
  ecosystem: 'deb',
  name: 'curl',
  currentVersion: '7.88.1-10+deb12u14',
  availableVersion: '7.88.1-10+deb12u15',
  source: 'curl',
};

describe('canonicalInventory', () => {
  it('reads the same content the same way whatever the order and duplicates', () => {
    expect(canonicalInventory([curl, libc], [pending])).toBe(
      canonicalInventory([libc, curl, { ...curl }], [pending, pending]),
    );
  });

  it('treats an absent field as the empty one the backend stores', () => {
    expect(canonicalInventory([libc], [])).toBe(
      canonicalInventory([{ ...libc, source: '', sourceVersion: '' }], []),
    );
  });

  it('changes with every stored field, and keeps packages and pending apart', () => {
    const base = canonicalInventory([curl, libc], [pending]);
    for (const field of ['name', 'version', 'arch', 'source', 'sourceVersion'])
      expect(
        canonicalInventory([{ ...curl, [field]: 'x' }, libc], [pending]),
      ).not.toBe(base);
    expect(canonicalInventory([curl, libc], [])).not.toBe(base);
    expect(
      canonicalInventory([curl, libc], [{ ...pending, source: undefined }]),
    ).not.toBe(base);
    // A field's value cannot pass for a neighbour's.
    expect(
      canonicalInventory([{ ...libc, name: 'a', version: 'b\u0001c' }], []),
    ).not.toBe(
      canonicalInventory([{ ...libc, name: 'a\u0001b', version: 'c' }], []),
    );
    expect(
      canonicalInventory([], [{ ...pending, availableVersion: 'x' }]),
    ).not.toBe(canonicalInventory([], [pending]));
  });

  it('sorts by code unit, not by locale', () => {
    // Same length, so the order is the names': 'Z' (U+005A) before 'a'.
    const upper = { ...libc, name: 'Zlib' };
    const lower = { ...libc, name: 'alib' };
    const text = canonicalInventory([lower, upper], []);
    expect(text.indexOf('Zlib')).toBeLessThan(text.indexOf('alib'));
    expect(['alib', 'Zlib'].sort((a, b) => a.localeCompare(b))).toEqual([
      'alib',
      'Zlib',
    ]);
  });
});

describe('inventoryChange', () => {
  it('is the records that came and left; an upgrade is both', () => {
    const fixed = { ...curl, version: '7.88.1-10+deb12u15' };
    expect(inventoryChange([curl, libc], [libc, fixed])).toEqual({
      added: [fixed],
      removed: [curl],
    });
    expect(inventoryChange([curl, libc], [libc, curl])).toEqual({
      added: [],
      removed: [],
    });
  });

  it('applied to its base gives the new inventory, and to another none', () => {
    const fixed = { ...curl, version: '7.88.1-10+deb12u15' };
    const change = inventoryChange([curl, libc], [libc, fixed]);
    const applied = applyInventoryChange([libc, curl], change);
    expect(canonicalInventory(applied!, [])).toBe(
      canonicalInventory([libc, fixed], []),
    );
    expect(applyInventoryChange([libc], change)).toBeUndefined();
  });
});
