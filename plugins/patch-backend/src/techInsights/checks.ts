/*
 * Example scorecard checks on Patchbay's facts, in the form of Tech
 * Insights' JSON rules engine fact checker
 * (@backstage-community/plugin-tech-insights-backend-module-jsonfc): hand
 * them to its `createFactCheckerFactory({ checks })`, or copy the ones you
 * want. A missing fact (no endpoints, no verified install) never passes.
 */
import { PATCH_FACT_RETRIEVER_ID } from './factRetriever';

/**
 * Example checks: no overdue critical patches; nothing overdue more than
 * 30 days; compliance of at least 90 %; mean time to patch within 7 days.
 * @public
 */
export const PATCH_FACT_CHECKS = [
  {
    id: 'patchbayNoOverdueCriticalPatches',
    type: 'json-rules-engine',
    name: 'No overdue critical patches',
    description:
      'No critical patch is missing past its SLA due date on the endpoints this entity runs on or owns.',
    factIds: [PATCH_FACT_RETRIEVER_ID],
    rule: {
      conditions: {
        all: [{ fact: 'overdueCriticalPatches', operator: 'equal', value: 0 }],
      },
    },
  },
  {
    id: 'patchbayNothingOverdueOver30Days',
    type: 'json-rules-engine',
    name: 'Nothing overdue for more than 30 days',
    description:
      'The longest-overdue missing patch is at most 30 days past its due date.',
    factIds: [PATCH_FACT_RETRIEVER_ID],
    rule: {
      conditions: {
        all: [
          {
            fact: 'oldestOverdueDays',
            operator: 'lessThanInclusive',
            value: 30,
          },
        ],
      },
    },
  },
  {
    id: 'patchbayCompliance90',
    type: 'json-rules-engine',
    name: 'At least 90 % of endpoints compliant',
    description: 'At least 90 % of the endpoints miss no patch.',
    factIds: [PATCH_FACT_RETRIEVER_ID],
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
  {
    id: 'patchbayTimeToPatch7Days',
    type: 'json-rules-engine',
    name: 'Patched within 7 days on average',
    description:
      'The mean time from publication to verified install is at most 168 hours.',
    factIds: [PATCH_FACT_RETRIEVER_ID],
    rule: {
      conditions: {
        all: [
          {
            fact: 'meanTimeToPatchHours',
            operator: 'lessThanInclusive',
            value: 168,
          },
        ],
      },
    },
  },
] as const;
