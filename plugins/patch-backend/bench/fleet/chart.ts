/*
 * The chart of a fleet run: check-in latency (p50 and p99 per time bucket,
 * log scale) above, rollout progress (verified endpoints over the needing
 * ones) below, on one time axis, with the rollout's and the broad ring's
 * start marked. Drawn once as a list of shapes, then written both as SVG
 * and as PNG by a small rasterizer of its own (lines, rectangles, a 5×7
 * font; PNG through node:zlib), since neither rsvg-convert, ImageMagick nor
 * a browser is installed on the benchmark machine.
 */
import zlib from 'node:zlib';
import { glyph } from './font';
import { FleetResult } from './types';

type Shape =
  | { k: 'line'; pts: Array<[number, number]>; color: string; w: number }
  | { k: 'rect'; x: number; y: number; w: number; h: number; color: string }
  | {
      k: 'text';
      x: number;
      y: number;
      s: string;
      color: string;
      scale: number;
    };

const W = 960;
const H = 600;

function shapes(r: FleetResult): Shape[] {
  const out: Shape[] = [
    { k: 'rect', x: 0, y: 0, w: W, h: H, color: '#ffffff' },
  ];
  const left = 70;
  const right = W - 20;
  const end = Math.max(
    1,
    ...r.buckets.map(b => b.t + r.bucketSeconds),
    ...r.progress.map(p => p.t),
  );
  const x = (t: number) => left + ((right - left) * t) / end;
  const text = (
    xx: number,
    y: number,
    s: string,
    color = '#333333',
    scale = 1,
  ) => out.push({ k: 'text', x: xx, y, s, color, scale });
  const hline = (y: number, color = '#dddddd') =>
    out.push({
      k: 'line',
      pts: [
        [left, y],
        [right, y],
      ],
      color,
      w: 1,
    });
  text(left, 12, `FLEET BENCHMARK: ${r.agents} AGENTS`, '#000000', 2);
  // Latency panel: 1 ms to 10 s, log scale.
  const lTop = 50;
  const lBottom = 290;
  const ly = (ms: number) => {
    const v = Math.log10(Math.min(Math.max(ms, 1), 10000));
    return lBottom - ((lBottom - lTop) * v) / 4;
  };
  for (const ms of [1, 10, 100, 1000, 10000]) {
    hline(ly(ms));
    text(8, ly(ms) - 3, `${ms} MS`);
  }
  hline(ly(100), '#f0a0a0'); // the 100 ms target
  text(
    left + 4,
    lTop - 14,
    'CHECK-IN LATENCY: P50 (BLUE), P99 (RED), LOG SCALE',
    '#333333',
  );
  const series = (key: 'p50' | 'p99', color: string) => {
    const pts = r.buckets
      .filter(b => b.n > 0 && !Number.isNaN(b[key]))
      .map(b => [x(b.t + r.bucketSeconds / 2), ly(b[key])] as [number, number]);
    if (pts.length > 1) out.push({ k: 'line', pts, color, w: 2 });
  };
  series('p50', '#1f5fbf');
  series('p99', '#c62828');
  // Progress panel: 0 to 100 % of the needing endpoints.
  const pTop = 340;
  const pBottom = 540;
  const py = (pct: number) => pBottom - ((pBottom - pTop) * pct) / 100;
  for (const pct of [0, 25, 50, 75, 100]) {
    hline(py(pct));
    text(24, py(pct) - 3, `${pct}%`);
  }
  text(
    left + 4,
    pTop - 14,
    `ROLLOUT: VERIFIED ENDPOINTS OF THE ${r.needing} NEEDING THE PATCH`,
    '#333333',
  );
  const prog = r.progress.map(
    p =>
      [x(p.t), py((100 * p.verified) / Math.max(1, r.needing))] as [
        number,
        number,
      ],
  );
  if (prog.length > 1)
    out.push({ k: 'line', pts: prog, color: '#2e7d32', w: 2 });
  // Markers and the time axis.
  let marks = 0;
  const mark = (t: number | undefined, label: string) => {
    if (t === undefined) return;
    out.push({
      k: 'line',
      pts: [
        [x(t), lTop],
        [x(t), pBottom],
      ],
      color: '#888888',
      w: 1,
    });
    text(x(t) + 3, lTop + 4 + 12 * marks++, label, '#555555');
  };
  mark(r.inventoriesS, 'INVENTORIES STORED');
  mark(r.rolloutStartT, 'ROLLOUT');
  mark(r.broadStartT, 'BROAD');
  const step = Math.max(1, Math.ceil(end / 10 / 10) * 10);
  for (let t = 0; t <= end; t += step) text(x(t) - 4, pBottom + 8, `${t}`);
  text(right - 140, pBottom + 22, 'SECONDS SINCE START');
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function toSvg(list: Shape[]): string {
  const body = list.map(s => {
    if (s.k === 'rect')
      return `<rect x="${s.x}" y="${s.y}" width="${s.w}" height="${s.h}" fill="${s.color}"/>`;
    if (s.k === 'line')
      return `<polyline fill="none" stroke="${s.color}" stroke-width="${
        s.w
      }" points="${s.pts
        .map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`)
        .join(' ')}"/>`;
    return `<text x="${s.x}" y="${
      s.y + 7 * s.scale
    }" font-family="monospace" font-size="${9 * s.scale}" fill="${
      s.color
    }">${esc(s.s)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">\n${body.join(
    '\n',
  )}\n</svg>\n`;
}

function toPng(list: Shape[]): Buffer {
  const px = Buffer.alloc(W * H * 3, 255);
  const rgb = (c: string) =>
    [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16));
  const set = (x: number, y: number, c: number[]) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= W || yi >= H) return;
    const o = (yi * W + xi) * 3;
    px[o] = c[0];
    px[o + 1] = c[1];
    px[o + 2] = c[2];
  };
  for (const s of list) {
    if (s.k === 'rect') {
      const c = rgb(s.color);
      for (let yy = s.y; yy < s.y + s.h; yy++)
        for (let xx = s.x; xx < s.x + s.w; xx++) set(xx, yy, c);
    } else if (s.k === 'line') {
      const c = rgb(s.color);
      for (let i = 1; i < s.pts.length; i++) {
        const [x0, y0] = s.pts[i - 1];
        const [x1, y1] = s.pts[i];
        const n = Math.max(
          1,
          Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))),
        );
        for (let k = 0; k <= n; k++) {
          const xx = x0 + ((x1 - x0) * k) / n;
          const yy = y0 + ((y1 - y0) * k) / n;
          for (let d = 0; d < s.w; d++) set(xx, yy + d, c);
        }
      }
    } else {
      const c = rgb(s.color);
      [...s.s].forEach((ch, i) => {
        glyph(ch).forEach((row, ry) => {
          for (let rx = 0; rx < 5; rx++) {
            if (row[rx] !== '1') continue;
            for (let a = 0; a < s.scale; a++)
              for (let b = 0; b < s.scale; b++)
                set(
                  s.x + (i * 6 + rx) * s.scale + a,
                  s.y + ry * s.scale + b,
                  c,
                );
          }
        });
      });
    }
  }
  const raw = Buffer.alloc((W * 3 + 1) * H);
  for (let y = 0; y < H; y++) {
    raw[y * (W * 3 + 1)] = 0;
    px.copy(raw, y * (W * 3 + 1) + 1, y * W * 3, (y + 1) * W * 3);
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let table: Uint32Array | undefined;
function crc32(buf: Buffer): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The chart as SVG text and PNG bytes. */
export function renderChart(r: FleetResult): { svg: string; png: Buffer } {
  const list = shapes(r);
  return { svg: toSvg(list), png: toPng(list) };
}
