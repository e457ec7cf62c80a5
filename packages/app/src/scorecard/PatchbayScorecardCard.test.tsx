import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { configure, screen } from '@testing-library/react';
import type { Entity } from '@backstage/catalog-model';
import {
  discoveryApiRef,
  identityApiRef,
} from '@backstage/frontend-plugin-api';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/frontend-test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import {
  PATCHBAY_FACT_RETRIEVER_ID,
  PatchbayScorecardCard,
} from './PatchbayScorecardCard';

// The first answer can take a few seconds on a loaded machine (2 cores
// shared with other test runs), beyond findBy's default second.
configure({ asyncUtilTimeout: 15_000 });
jest.setTimeout(30_000);

const checks = [
  {
    id: 'patchbayNoOverdueCriticalPatches',
    type: 'json-rules-engine',
    name: 'No overdue critical patches',
    description: 'No critical patch is missing past its SLA due date.',
    factIds: [PATCHBAY_FACT_RETRIEVER_ID],
    rule: {
      conditions: {
        all: [{ fact: 'overdueCriticalPatches', operator: 'equal', value: 0 }],
      },
    },
  },
  {
    id: 'patchbayCompliance90',
    type: 'json-rules-engine',
    name: 'At least 90 % of endpoints compliant',
    description: 'At least 90 % of the endpoints miss no patch.',
    factIds: [PATCHBAY_FACT_RETRIEVER_ID],
    rule: {
      conditions: {
        all: [
          {
            fact: 'compliancePercent',
            operator: 'greaterThanInclusive',
            value: 90,
          },
        ],
      },
    },
  },
  // Another retriever's check: not Patchbay's, so not on this card.
  {
    id: 'groupOwnerCheck',
    type: 'json-rules-engine',
    name: 'Group owner',
    description: 'A group owns it.',
    factIds: ['entityOwnershipFactRetriever'],
    rule: { conditions: { all: [] } },
  },
];

const fact = (id: string, value: number) => ({
  id,
  type: 'integer',
  description: id,
  value,
});

/** What the stand-in tech-insights backend answers, per test. */
let answer: {
  checks: unknown[];
  status?: number;
  results?: (requested: string[]) => unknown[];
};
const calls: {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}[] = [];
let server: Server;
let baseUrl: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', c => (body += c));
    req.on('end', () => {
      calls.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body,
      });
      res.setHeader('content-type', 'application/json');
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('access-control-allow-headers', '*');
      if (req.method === 'OPTIONS') return void res.end();
      if (answer.status) {
        res.statusCode = answer.status;
        return void res.end(
          JSON.stringify({ error: { name: 'Error', message: 'store down' } }),
        );
      }
      if (req.url === '/api/tech-insights/checks') {
        return void res.end(JSON.stringify(answer.checks));
      }
      if (req.url?.startsWith('/api/tech-insights/checks/run/')) {
        const requested: string[] = JSON.parse(body).checks;
        return void res.end(JSON.stringify(answer.results!(requested)));
      }
      res.statusCode = 404;
      return void res.end('{}');
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise(r => server.close(r)));
beforeEach(() => {
  calls.length = 0;
});

const component: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'checkout-api', namespace: 'default' },
  spec: { type: 'service', owner: 'team-payments' },
};

async function renderCard() {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [discoveryApiRef, mockApis.discovery({ baseUrl })],
        [
          identityApiRef,
          mockApis.identity({
            userEntityRef: 'user:default/alice',
            token: 'alice-token',
          }),
        ],
      ]}
    >
      <EntityProvider entity={component}>
        <PatchbayScorecardCard />
      </EntityProvider>
    </TestApiProvider>,
  );
}

describe('PatchbayScorecardCard', () => {
  it('runs the Patchbay checks for the entity and shows each outcome with the facts it read', async () => {
    answer = {
      checks,
      // As the JSON rules fact checker answers: compliance is unknown (no
      // endpoints), so its check is left out of the results.
      results: requested =>
        checks
          .filter(c => requested.includes(c.id))
          .filter(c => c.id === 'patchbayNoOverdueCriticalPatches')
          .map(c => ({
            check: c,
            facts: {
              overdueCriticalPatches: fact('overdueCriticalPatches', 1),
            },
            result: false,
          })),
    };
    await renderCard();

    expect(
      await screen.findByText('No overdue critical patches'),
    ).toBeVisible();
    expect(screen.getByText('Patchbay scorecard')).toBeVisible();
    expect(
      screen.getByText('No critical patch is missing past its SLA due date.'),
    ).toBeVisible();
    expect(screen.getByText('overdueCriticalPatches: 1')).toBeVisible();
    expect(screen.getByTitle('Failed')).toBeInTheDocument();
    // Unknown is not passed: listed, not evaluated.
    expect(
      screen.getByText('At least 90 % of endpoints compliant'),
    ).toBeVisible();
    expect(
      screen.getByText(/^Not evaluated: a fact it reads is unknown here/),
    ).toBeVisible();
    expect(screen.getByTitle('Not evaluated')).toBeInTheDocument();
    expect(screen.queryByTitle('Passed')).toBeNull();
    expect(screen.queryByText('Group owner')).toBeNull();

    // Only Patchbay's checks are run, for this entity as the catalog spells
    // it, with the signed-in user's token.
    const run = calls.find(c => c.method === 'POST')!;
    expect(run.url).toBe(
      '/api/tech-insights/checks/run/default/Component/checkout-api',
    );
    expect(JSON.parse(run.body)).toEqual({
      checks: ['patchbayNoOverdueCriticalPatches', 'patchbayCompliance90'],
    });
    expect(run.headers.authorization).toBe('Bearer alice-token');
  });

  it('marks a passed check', async () => {
    answer = {
      checks,
      results: requested =>
        checks
          .filter(c => requested.includes(c.id))
          .map(c => ({
            check: c,
            facts: {},
            result: c.id === 'patchbayCompliance90',
          })),
    };
    await renderCard();
    expect(await screen.findByTitle('Passed')).toBeInTheDocument();
    expect(screen.getByTitle('Failed')).toBeInTheDocument();
  });

  it('says how to add checks when none is on Patchbay facts', async () => {
    answer = { checks: checks.filter(c => c.id === 'groupOwnerCheck') };
    await renderCard();
    expect(
      await screen.findByText(/No check on Patchbay's facts is configured/),
    ).toBeVisible();
    expect(calls.some(c => c.method === 'POST')).toBe(false);
  });

  it('shows the error when the tech-insights backend fails', async () => {
    answer = { checks, status: 500 };
    await renderCard();
    // The panel's title says the status; the backend's message is in it.
    expect(
      await screen.findByText(
        'Error: Request failed with 500 Internal Server Error',
      ),
    ).toBeVisible();
    expect(screen.getAllByText(/store down/).length).toBeGreaterThan(0);
  });
});
