import {
  LoggerService,
  readSchedulerServiceTaskScheduleDefinitionFromConfig,
  SchedulerService,
  SchedulerServiceTaskRunner,
  SchedulerServiceTaskScheduleDefinition,
} from '@backstage/backend-plugin-api';
import {
  ANNOTATION_LOCATION,
  ANNOTATION_ORIGIN_LOCATION,
} from '@backstage/catalog-model';
import { Config } from '@backstage/config';
import {
  EntityProvider,
  EntityProviderConnection,
} from '@backstage/plugin-catalog-node';
import {
  AdvisoryError,
  EpssIndex,
  enrichWithEpss,
  enrichWithKev,
  KevIndex,
  parseEpssCsv,
  parseKev,
  PatchEntity,
  patchEntitiesFromOsv,
} from '@patchbay/plugin-patch-common';
import {
  AdvisorySource,
  describeSource,
  RawAdvisory,
  readOsvSource,
  readSourceText,
} from './advisorySources';

/*
 * The advisory provider: reads OSV advisories from each configured source,
 * maps them to Patch entities with patchEntitiesFromOsv, enriches them from
 * the KEV catalog and EPSS scores, and hands the catalog the WHOLE set in one
 * full mutation, only after every source was read and every advisory mapped.
 * A malformed advisory is skipped with a warning that names it; an
 * unreachable source contributes its last good read (KEV and EPSS likewise),
 * so one outage never empties the catalog.
 */

/**
 * Options of the advisory provider, usually read from
 * `catalog.providers.patch.advisories`.
 * @public
 */
export interface AdvisoryProviderOptions {
  /** OSV sources: URLs (JSON file, JSON list, zip) or local files / folders. */
  osv: AdvisorySource[];
  /** The CISA KEV catalog (JSON or CSV). */
  kev?: AdvisorySource;
  /** EPSS scores (CSV). */
  epss?: AdvisorySource;
  /** Owner of the emitted patches. */
  owner?: string;
  /** Where relative paths start; default the working directory. */
  baseDir?: string;
}

/**
 * What one refresh did, for logs and tests.
 * @public
 */
export interface AdvisoryRefreshSummary {
  ingested: number;
  skipped: number;
  failedSources: string[];
  kevEntries: number;
  epssScores: number;
}

function readSource(config: Config | undefined): AdvisorySource | undefined {
  if (!config) return undefined;
  const url = config.getOptionalString('url');
  const p = config.getOptionalString('path');
  if (url && p)
    throw new Error('an advisory source takes either url or path, not both');
  if (url) return { url };
  if (p) return { path: p };
  throw new Error('an advisory source needs url or path');
}

/**
 * Entity provider of Patch entities from OSV advisories, enriched with CISA
 * KEV and FIRST EPSS.
 * @public
 */
export class AdvisoryEntityProvider implements EntityProvider {
  private connection?: EntityProviderConnection;
  private readonly lastGoodOsv = new Map<string, RawAdvisory[]>();
  private lastGoodKev?: KevIndex;
  private lastGoodEpss?: EpssIndex;

  /**
   * Reads `catalog.providers.patch.advisories`; returns undefined when it is
   * not configured.
   */
  static fromConfig(
    config: Config,
    deps: {
      logger: LoggerService;
      scheduler: SchedulerService;
      baseDir?: string;
    },
  ): AdvisoryEntityProvider | undefined {
    const c = config.getOptionalConfig('catalog.providers.patch.advisories');
    if (!c) return undefined;
    const osv = (c.getOptionalConfigArray('osv') ?? []).map(
      s => readSource(s)!,
    );
    const schedule: SchedulerServiceTaskScheduleDefinition = c.has('schedule')
      ? readSchedulerServiceTaskScheduleDefinitionFromConfig(
          c.getConfig('schedule'),
        )
      : {
          frequency: { hours: 6 },
          timeout: { minutes: 15 },
          initialDelay: { seconds: 10 },
        };
    return new AdvisoryEntityProvider(
      {
        osv,
        kev: readSource(c.getOptionalConfig('kev')),
        epss: readSource(c.getOptionalConfig('epss')),
        owner: c.getOptionalString('owner'),
        baseDir: deps.baseDir,
      },
      deps.logger,
      deps.scheduler.createScheduledTaskRunner(schedule),
    );
  }

  constructor(
    private readonly options: AdvisoryProviderOptions,
    private readonly logger: LoggerService,
    private readonly taskRunner?: SchedulerServiceTaskRunner,
  ) {}

  getProviderName(): string {
    return 'PatchAdvisoryEntityProvider';
  }

  async connect(connection: EntityProviderConnection): Promise<void> {
    this.connection = connection;
    if (!this.taskRunner) return;
    await this.taskRunner.run({
      id: `${this.getProviderName()}:refresh`,
      fn: async () => {
        try {
          await this.refresh();
        } catch (e) {
          // Never let one bad run stop the schedule.
          this.logger.error(`Advisory sync failed: ${(e as Error).message}`);
        }
      },
    });
  }

  /** Reads every source and replaces the provider's entities in the catalog. */
  async refresh(): Promise<AdvisoryRefreshSummary> {
    if (!this.connection) {
      throw new Error('AdvisoryEntityProvider is not connected');
    }
    const baseDir = this.options.baseDir ?? process.cwd();
    const failedSources: string[] = [];

    const raws: RawAdvisory[] = [];
    for (const source of this.options.osv) {
      const key = describeSource(source);
      try {
        const read = await readOsvSource(source, baseDir);
        this.lastGoodOsv.set(key, read);
        raws.push(...read);
      } catch (e) {
        failedSources.push(key);
        const kept = this.lastGoodOsv.get(key);
        this.logger.error(
          `Advisory source ${key} is unreachable (${(e as Error).message}); ${
            kept
              ? `keeping its last good ${kept.length} advisories`
              : 'it has no earlier data'
          }`,
        );
        if (kept) raws.push(...kept);
      }
    }

    const kev = await this.readIndex(
      'KEV',
      this.options.kev,
      baseDir,
      parseKev,
      failedSources,
    );
    if (kev) this.lastGoodKev = kev;
    const epss = await this.readIndex(
      'EPSS',
      this.options.epss,
      baseDir,
      parseEpssCsv,
      failedSources,
    );
    if (epss) this.lastGoodEpss = epss;

    const byName = new Map<string, PatchEntity>();
    let skipped = 0;
    for (const raw of raws) {
      if (raw.parseError) {
        skipped++;
        this.logger.warn(
          `Skipping advisory in ${raw.origin}: ${raw.parseError}`,
        );
        continue;
      }
      try {
        for (let patch of patchEntitiesFromOsv(raw.document, {
          owner: this.options.owner,
        })) {
          if (this.lastGoodKev) patch = enrichWithKev(patch, this.lastGoodKev);
          if (this.lastGoodEpss)
            patch = enrichWithEpss(patch, this.lastGoodEpss);
          byName.set(patch.metadata.name, patch);
        }
      } catch (e) {
        skipped++;
        const reason =
          e instanceof AdvisoryError && !e.advisoryId
            ? `${e.message} (in ${raw.origin})`
            : (e as Error).message;
        this.logger.warn(`Skipping advisory: ${reason}`);
      }
    }

    const location = `patch-advisories:${this.getProviderName()}`;
    const entities = [...byName.values()].map(entity => ({
      locationKey: location,
      entity: {
        ...entity,
        metadata: {
          ...entity.metadata,
          annotations: {
            ...entity.metadata.annotations,
            [ANNOTATION_LOCATION]: location,
            [ANNOTATION_ORIGIN_LOCATION]: location,
          },
        },
      },
    }));
    await this.connection.applyMutation({ type: 'full', entities });

    const summary: AdvisoryRefreshSummary = {
      ingested: entities.length,
      skipped,
      failedSources,
      kevEntries: this.lastGoodKev?.size ?? 0,
      epssScores: this.lastGoodEpss?.size ?? 0,
    };
    this.logger.info(
      `Advisory sync: ingested ${summary.ingested} patches, skipped ${summary.skipped} advisories, ` +
        `${summary.kevEntries} KEV entries, ${summary.epssScores} EPSS scores, ` +
        `${failedSources.length} unreachable sources`,
    );
    return summary;
  }

  private async readIndex<T extends Map<string, unknown>>(
    label: string,
    source: AdvisorySource | undefined,
    baseDir: string,
    parse: (text: string) => T,
    failedSources: string[],
  ): Promise<T | undefined> {
    if (!source) return undefined;
    try {
      return parse(await readSourceText(source, baseDir));
    } catch (e) {
      failedSources.push(describeSource(source));
      this.logger.error(
        `${label} source ${describeSource(
          source,
        )} is unreachable or unreadable (${
          (e as Error).message
        }); keeping the last good ${label} data`,
      );
      return undefined;
    }
  }
}
