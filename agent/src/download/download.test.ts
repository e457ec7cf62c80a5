import { createHash, randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChecksumError, downloadArtifact } from './download';

const body = randomBytes(256 * 1024);
const sha256 = createHash('sha256').update(body).digest('hex');
let server: Server;
let base: string;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/pkg/tiny_1.1-1_all.deb') {
      res.writeHead(200, { 'content-length': String(body.length) });
      // Written in small pieces, as a network would deliver it.
      let offset = 0;
      const push = () => {
        while (offset < body.length) {
          const ok = res.write(body.subarray(offset, offset + 16 * 1024));
          offset += 16 * 1024;
          if (!ok) return res.once('drain', push);
        }
        return res.end();
      };
      push();
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>(r => server.close(() => r())));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dl-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('downloadArtifact', () => {
  it('fetches from an HTTP mirror and verifies the sha256', async () => {
    const file = await downloadArtifact(
      { url: `${base}/pkg/tiny_1.1-1_all.deb`, sha256 },
      { dir: join(dir, 'dl') },
    );
    expect(file).toMatch(/tiny_1\.1-1_all\.deb$/);
    expect((await readFile(file)).equals(body)).toBe(true);
  });

  it('deletes the file and throws on a checksum mismatch', async () => {
    const wrong = 'a'.repeat(64);
    await expect(
      downloadArtifact(
        { url: `${base}/pkg/tiny_1.1-1_all.deb`, sha256: wrong },
        { dir: join(dir, 'dl') },
      ),
    ).rejects.toBeInstanceOf(ChecksumError);
    expect(await readdir(join(dir, 'dl'))).toEqual([]);
  });

  it('copies from a path on a mounted share', async () => {
    const share = join(dir, 'share.deb');
    await writeFile(share, body);
    const file = await downloadArtifact(
      { url: share, sha256 },
      { dir: join(dir, 'dl') },
    );
    expect((await readFile(file)).equals(body)).toBe(true);
    const viaUrl = await downloadArtifact(
      { url: `file://${share}`, sha256 },
      { dir: join(dir, 'dl2') },
    );
    expect((await readFile(viaUrl)).equals(body)).toBe(true);
  });

  it('throttles to the bandwidth limit', async () => {
    // 256 KiB at 1024 kbit/s (128 kB/s) cannot take less than about two seconds.
    const started = Date.now();
    await downloadArtifact(
      { url: `${base}/pkg/tiny_1.1-1_all.deb`, sha256 },
      { dir: join(dir, 'dl'), bandwidthKbps: 1024 },
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(1800);
  });

  it('refuses a relative path, a bad checksum and an HTTP error', async () => {
    await expect(
      downloadArtifact({ url: 'share/x.deb', sha256 }, { dir }),
    ).rejects.toThrow(/neither a URL nor an absolute path/);
    await expect(
      downloadArtifact({ url: `${base}/x`, sha256: 'abc' }, { dir }),
    ).rejects.toThrow(/not a sha256/);
    await expect(
      downloadArtifact({ url: `${base}/missing`, sha256 }, { dir }),
    ).rejects.toThrow(/HTTP 404/);
  });
});
