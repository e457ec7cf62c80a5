import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { EntityProviderConnection } from '@backstage/plugin-catalog-node';
import archiver from 'archiver';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import { AdvisoryEntityProvider } from './AdvisoryEntityProvider';

const FIXTURES = path.join(__dirname, '__fixtures__');
const osvFiles = fs.readdirSync(path.join(FIXTURES, 'osv')).sort();
const readOsv = (f: string) =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, 'osv', f), 'utf8'));
const kevJson = fs.readFileSync(path.join(FIXTURES, 'kev.json'), 'utf8');
const firstKevCve: string = JSON.parse(kevJson).vulnerabilities[0].cveID;
const firstKevDue: string = JSON.parse(kevJson).vulnerabilities[0].dueDate;

/** A hand-made advisory fixing a CVE that is in the KEV fixture, so enrichment shows. */
const exploited = {
  id: 'TEST-2026-0001',
  summary: 'Important: git security update',
  related: [firstKevCve],
  affected: [
    {
      package: { ecosystem: 'Debian:12', name: 'git' },
      ranges: [
        {
          type: 'ECOSYSTEM',
          events: [{ introduced: '0' }, { fixed: '1:2.39.5-0+deb12u3' }],
        },
      ],
    },
  ],
};

/** Malformed advisories that must be skipped, each for a named reason. */
const malformed = [
  { id: 'BAD-NO-AFFECTED', summary: 'x' },
  {
    id: 'BAD-ECOSYSTEM',
    affected: [{ package: { ecosystem: 'Hackage', name: 'x' }, ranges: [] }],
  },
  {
    id: 'BAD-TYPES',
    affected: [{ package: { ecosystem: 'Debian:12', name: 42 } }],
  },
];

function zipOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const archive = archiver('zip');
    const chunks: Buffer[] = [];
    archive.on('data', c => chunks.push(c));
    archive.on('end', () => resolve(Buffer.concat(chunks)));
    archive.on('error', reject);
    for (const [name, data] of Object.entries(files))
      archive.append(data, { name });
    archive.finalize();
  });
}

describe('AdvisoryEntityProvider over real HTTP', () => {
  let server: http.Server;
  let base: string;
  let routes: Record<
    string,
    { status?: number; body: string | Buffer; type?: string }
  >;
  let tmp: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const route = routes[req.url ?? ''];
      if (!route) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(route.status ?? 200, {
        'content-type': route.type ?? 'application/json',
      });
      res.end(route.body);
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise(r => server.close(r));
  });

  beforeEach(async () => {
    const almalinux = osvFiles.filter(f => f.startsWith('AL'));
    const cleanstart = osvFiles.filter(f => f.startsWith('CLEANSTART'));
    routes = {
      // A JSON list of advisories, with the malformed ones in between.
      '/osv/list.json': {
        body: JSON.stringify([
          ...almalinux.slice(0, 3).map(readOsv),
          ...malformed,
          exploited,
        ]),
      },
      // A zip of advisory files, one of them garbage bytes.
      '/osv/all.zip': {
        type: 'application/zip',
        body: await zipOf({
          ...Object.fromEntries(
            almalinux
              .slice(3)
              .map(f => [
                `advisories/${f}`,
                fs.readFileSync(path.join(FIXTURES, 'osv', f)),
              ]),
          ),
          'advisories/garbage.json': Buffer.from([
            0xff, 0xfe, 0x00, 0x7b, 0x13,
          ]),
        }),
      },
      '/kev.json': { body: kevJson },
      '/epss.csv': {
        type: 'text/csv',
        body: fs.readFileSync(path.join(FIXTURES, 'epss.csv')),
      },
    };
    // A local folder source with the CleanStart advisories.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-advisories-'));
    for (const f of cleanstart)
      fs.copyFileSync(path.join(FIXTURES, 'osv', f), path.join(tmp, f));
    fs.writeFileSync(path.join(tmp, '_manifest.json'), '[]');
  });

  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function setup() {
    const logger = mockServices.logger.mock();
    const connection = {
      applyMutation: jest.fn(),
      refresh: jest.fn(),
    } satisfies EntityProviderConnection;
    const provider = new AdvisoryEntityProvider(
      {
        osv: [
          { url: `${base}/osv/list.json` },
          { url: `${base}/osv/all.zip` },
          { path: tmp },
        ],
        kev: { url: `${base}/kev.json` },
        epss: { url: `${base}/epss.csv` },
        owner: 'group:default/security',
      },
      logger,
    );
    return { logger, connection, provider };
  }

  const names = (mutation: any) =>
    mutation.entities.map((e: any) => e.entity.metadata.name).sort();

  it('ingests every source in one full mutation, skipping and naming the bad advisories', async () => {
    const { logger, connection, provider } = setup();
    await provider.connect(connection);
    const summary = await provider.refresh();

    expect(connection.applyMutation).toHaveBeenCalledTimes(1);
    const mutation = connection.applyMutation.mock.calls[0][0];
    expect(mutation.type).toBe('full');
    const expected = [...osvFiles.map(f => readOsv(f).id), exploited.id].map(
      id => id.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
    );
    expect(names(mutation)).toEqual(expected.sort());
    expect(summary).toMatchObject({
      ingested: expected.length,
      skipped: 4,
      failedSources: [],
    });

    // Every advisory's packages and fixed versions made it, with the owner and location.
    const byName = new Map(
      mutation.entities.map((e: any) => [e.entity.metadata.name, e.entity]),
    );
    for (const f of osvFiles) {
      const adv = readOsv(f);
      const entity: any = byName.get(
        adv.id.toLowerCase().replace(/[^a-z0-9]+/g, '-'),
      );
      const fixed = adv.affected.flatMap((a: any) =>
        a.ranges.flatMap((r: any) =>
          r.events
            .filter((e: any) => e.fixed)
            .map((e: any) => `${a.package.name}@${e.fixed}`),
        ),
      );
      expect(
        new Set(
          entity.spec.targets.map((t: any) => `${t.package}@${t.fixedVersion}`),
        ),
      ).toEqual(new Set(fixed));
      expect(entity.spec.owner).toBe('group:default/security');
      expect(
        entity.metadata.annotations['backstage.io/managed-by-location'],
      ).toMatch(/^patch-advisories:/);
    }

    // KEV and EPSS enrichment.
    const enriched: any = byName.get('test-2026-0001');
    expect(enriched.spec).toMatchObject({
      knownExploited: true,
      kevDueDate: firstKevDue,
    });

    // Warnings name the advisory and the reason; a summary line counts.
    const warnings = logger.warn.mock.calls.map(c => String(c[0]));
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/BAD-NO-AFFECTED: has no affected list/),
        expect.stringMatching(
          /BAD-ECOSYSTEM: no affected package in a supported ecosystem \(found Hackage\)/,
        ),
        expect.stringMatching(
          /BAD-TYPES: affected\[0\]\.package\.name is missing or not a string/,
        ),
        expect.stringMatching(/garbage\.json: not JSON/),
      ]),
    );
    expect(logger.info).toHaveBeenCalledWith(
      expect.stringMatching(
        new RegExp(
          `ingested ${expected.length} patches, skipped 4 advisories, 20 KEV entries, 59 EPSS scores, 0 unreachable`,
        ),
      ),
    );
  });

  it('keeps the last good entities of a source that becomes unreachable', async () => {
    const { logger, connection, provider } = setup();
    await provider.connect(connection);
    await provider.refresh();
    const first = names(connection.applyMutation.mock.calls[0][0]);

    routes['/osv/all.zip'] = { status: 503, body: 'down' };
    delete routes['/kev.json'];
    const summary = await provider.refresh();

    expect(connection.applyMutation).toHaveBeenCalledTimes(2);
    const second = connection.applyMutation.mock.calls[1][0];
    expect(names(second)).toEqual(first);
    expect(
      second.entities.find(
        (e: any) => e.entity.metadata.name === 'test-2026-0001',
      ).entity.spec.knownExploited,
    ).toBe(true);
    expect(summary.failedSources).toEqual([
      `${base}/osv/all.zip`,
      `${base}/kev.json`,
    ]);
    expect(logger.error).toHaveBeenCalledWith(
      expect.stringMatching(
        /all\.zip is unreachable \(GET .* answered 503.*keeping its last good/,
      ),
    );
  });

  it('sends nothing partial: a source that never worked adds nothing, the rest still lands', async () => {
    const { connection, provider } = setup();
    routes['/osv/list.json'] = { body: '{"this is": not json' };
    await provider.connect(connection);
    const summary = await provider.refresh();
    expect(summary.failedSources).toEqual([`${base}/osv/list.json`]);
    const mutation = connection.applyMutation.mock.calls[0][0];
    expect(names(mutation)).not.toContain('test-2026-0001');
    expect(mutation.entities.length).toBe(osvFiles.length - 3);
  });
});

describe('AdvisoryEntityProvider.fromConfig', () => {
  it('is off without config and schedules from config', async () => {
    const scheduler = mockServices.scheduler.mock();
    const logger = mockServices.logger.mock();
    expect(
      AdvisoryEntityProvider.fromConfig(new ConfigReader({}), {
        logger,
        scheduler,
      }),
    ).toBeUndefined();

    const provider = AdvisoryEntityProvider.fromConfig(
      new ConfigReader({
        catalog: {
          providers: {
            patch: {
              advisories: {
                osv: [{ path: 'advisories/osv' }],
                kev: { url: 'http://127.0.0.1:1/kev.json' },
                schedule: {
                  frequency: { minutes: 30 },
                  timeout: { minutes: 5 },
                },
              },
            },
          },
        },
      }),
      { logger, scheduler },
    );
    expect(provider).toBeDefined();
    expect(scheduler.createScheduledTaskRunner).toHaveBeenCalledWith({
      frequency: { minutes: 30 },
      timeout: { minutes: 5 },
    });
  });

  it('refuses a source with both url and path', () => {
    expect(() =>
      AdvisoryEntityProvider.fromConfig(
        new ConfigReader({
          catalog: {
            providers: {
              patch: { advisories: { osv: [{ url: 'http://x', path: 'y' }] } },
            },
          },
        }),
        {
          logger: mockServices.logger.mock(),
          scheduler: mockServices.scheduler.mock(),
        },
      ),
    ).toThrow(/either url or path/);
  });
});
