export interface Config {
  /** Configuration of the Patchbay backend plugin. */
  patch?: {
    /**
     * The root HTTP router's access log, when the backend uses
     * `applyPatchAgentDefaults` (the demo backend does).
     */
    accessLog?: {
      /**
       * Whether the access log lists the agent routes
       * (`/api/patch/agent/v1/*`: check-ins, enrollments, uploads). Default
       * false: with a fleet they drown every other request.
       */
      agentRoutes?: boolean;
    };
    /**
     * Name of the catalog group whose members operate rollouts and enrollment,
     * as an entity ref, e.g. `group:default/it-operations`.
     */
    operationsGroup?: string;
    /**
     * Entity ref of the security group: reads the audit trail, creates
     * exceptions for critical patches. Default `group:default/security`.
     */
    securityGroup?: string;
    /** Approval requests. */
    approvals?: {
      /**
       * Who must approve: the owners of the endpoint and of everything that
       * depends on it (`owners-of-dependents`, default), or the endpoint's
       * owner alone (`endpoint-owner`).
       */
      approvers?: 'owners-of-dependents' | 'endpoint-owner';
      /** Entity ref of the RolloutPolicy whose approval rules apply; default the only one in the catalog. */
      policy?: string;
      /** Days before the due date at which groups are reminded. Default 3. */
      dueSoonDays?: number;
      /** Schedules of the background tasks (SchedulerService schedule definitions). */
      schedules?: {
        /** Catalog sync of patches and reconcile of requests. Default every 5 minutes. */
        sync?: {
          frequency: { [unit: string]: number } | string;
          timeout: { [unit: string]: number } | string;
          initialDelay?: { [unit: string]: number } | string;
        };
        /** Full applicability recompute, the safety net. Default every 6 hours. */
        fullRecompute?: {
          frequency: { [unit: string]: number } | string;
          timeout: { [unit: string]: number } | string;
          initialDelay?: { [unit: string]: number } | string;
        };
        /** Due-date notices, expired exceptions, ended deferrals. Default hourly. */
        due?: {
          frequency: { [unit: string]: number } | string;
          timeout: { [unit: string]: number } | string;
          initialDelay?: { [unit: string]: number } | string;
        };
      };
    };
    /** Risk exceptions. */
    exceptions?: {
      /** The longest exception, in days from its creation; positive. Default 365. */
      maxDays?: number;
    };
    /** The OpenVEX export of risk exceptions. */
    vex?: {
      /** The document's author. Default `Patchbay`. */
      author?: string;
    };
    /** Agent API settings. */
    agent?: {
      /** Base check-in interval in seconds, before jitter. Default 60. */
      checkInIntervalSeconds?: number;
      /** Largest accepted request body for the agent API, e.g. `2mb`. */
      maxBodySize?: string;
      /**
       * How long agent credentials are cached in memory, in seconds. Default
       * 300; keep it longer than the check-in interval, or every check-in
       * reads its credentials. Revocations and rotated secrets take effect at
       * once whatever it is (see AgentAuth).
       */
      authCacheSeconds?: number;
      /**
       * @deprecated No longer read: concurrent check-ins are always coalesced
       * into one heartbeat statement and one lease per batch, on both databases.
       */
      batchCheckIns?: boolean;
      /** Most check-ins in one batch (one heartbeat statement, one lease). Default 500. */
      maxCheckInBatch?: number;
      /** Check-ins in flight per process before the server sheds with 429. Default 256. */
      maxConcurrentCheckIns?: number;
      /** Inventory uploads in flight per process before the server sheds with 429. Default 16. */
      maxConcurrentUploads?: number;
      /**
       * Inventory changes (a PATCH of at most 64 KiB: the few records a job
       * changed, which verify it) in flight per process, apart from whole
       * uploads; at least half of them whatever the check-ins' latency.
       * Default 32.
       */
      maxConcurrentChangeUploads?: number;
      /** An endpoint not seen for this many seconds is `stale`. Default 180. */
      staleAfterSeconds?: number;
      /** Whether enrollment claims a Resource already in the catalog (by `patchbay.dev/machine-id`). Default true. */
      claimCatalogEntities?: boolean;
      /** How long an operator's one-time re-enroll grant lasts, in seconds. Default 900. */
      reenrollGrantSeconds?: number;
      /**
       * Authentication failures of the agent API, per source address: more
       * than `limit` in a window of `windowSeconds` get 429 with Retry-After
       * until the window ends; each source's failures of a window are one
       * audit row. Defaults 60 and 60.
       */
      authFailures?: {
        limit?: number;
        windowSeconds?: number;
      };
    };
    /** The job queue. */
    jobs?: {
      /** How long a leased job may wait for its start before it goes back to the queue. Default 300. */
      leaseSeconds?: number;
      /** Default time-to-live of a job, in seconds. Default 604800 (7 days). */
      defaultTtlSeconds?: number;
      /** Default run time limit of a job, in seconds. Default 3600. */
      defaultTimeoutSeconds?: number;
      /** How often the reaper runs, in seconds. Default 30. */
      reaperIntervalSeconds?: number;
      /**
       * How long a job the agent reported done (an install, a rollback) may
       * wait for the endpoint's next inventory to verify it, in seconds;
       * past it, the job fails as unverified. Default 86400 (a day).
       */
      verificationDeadlineSeconds?: number;
      /** Whether hand-made jobs may carry an arbitrary artifact (a URL and a checksum). Default false. */
      allowArtifacts?: boolean;
    };
    /** Enrolled endpoints. */
    endpoints?: {
      /**
       * Label keys an enrolling agent may not set (e.g. the keys pilot groups
       * select on). The keys of the token's labels and of the rules below
       * are always protected.
       */
      protectedLabels?: string[];
      /** Label rules giving newly enrolled endpoints an owner and a system, matched on the enrollment token's labels (never the agent's); the first match wins over the token's defaults. */
      rules?: Array<{
        /** Labels that must all match. */
        labels: { [key: string]: string };
        /** Entity ref of the owning group. */
        owner?: string;
        /** Entity ref of the system. */
        system?: string;
      }>;
    };
    /** Compliance reports. */
    reports?: {
      /**
       * When the figures are recomputed (and today's snapshot rewritten),
       * a SchedulerService schedule. Default: every minute.
       */
      schedule?: {
        frequency: { [unit: string]: number } | string;
        timeout: { [unit: string]: number } | string;
        initialDelay?: { [unit: string]: number } | string;
      };
      /** Entity ref of the RolloutPolicy whose SLA days apply; default the strictest of all. */
      slaPolicy?: string;
      /** Days of daily snapshots kept. Default 400. */
      retentionDays?: number;
    };
    /** Rollouts: gates, the driver and the deadline enforcer. */
    rollouts?: {
      /** Confidence of the gate intervals: 0.8, 0.9, 0.95 (default), 0.98 or 0.99. */
      confidence?: number;
      /** Time limit of one health probe of a Component, ms. Default 5000. */
      healthTimeoutMs?: number;
      /** Health probes of Components (`patchbay.dev/health-url`). */
      health?: {
        /**
         * Host names (or `host:port`) the backend may probe. Default none:
         * every probe is refused and the health signal reads unknown, so
         * that a catalog author cannot make the backend call internal URLs.
         */
        allowedHosts?: string[];
      };
      /** Run time limit of an install or rollback job, seconds. Default 3600. */
      jobTimeoutSeconds?: number;
      /** The rollout driver's schedule (SchedulerService). Default every 15 s. */
      driver?: {
        schedule?: {
          frequency: { [unit: string]: number } | string;
          timeout: { [unit: string]: number } | string;
          initialDelay?: { [unit: string]: number } | string;
        };
      };
      /** The deadline enforcer's schedule. Default every 5 minutes. */
      deadlines?: {
        schedule?: {
          frequency: { [unit: string]: number } | string;
          timeout: { [unit: string]: number } | string;
          initialDelay?: { [unit: string]: number } | string;
        };
      };
    };
    /** ITSM tickets opened when a rollout's gate is breached. */
    itsm?: {
      /** The generic webhook connector. */
      webhook?: {
        /** URL the incident is POSTed to as JSON. */
        url?: string;
        /**
         * Static headers, e.g. an Authorization header.
         * @visibility secret
         */
        headers?: { [name: string]: string };
        /** Time limit of one call, ms. Default 10000. */
        timeoutMs?: number;
      };
      /** Retries of a failed connector call (the incident waits in an outbox table). */
      retry?: {
        /** Calls per incident and connector before giving up. Default 10. */
        maxAttempts?: number;
        /** Wait after the first failure, seconds; doubles after each. Default 30. */
        initialDelaySeconds?: number;
        /** Longest wait between calls, seconds. Default 1800. */
        maxDelaySeconds?: number;
        /** Longest wait for one connector call, seconds (the driver waits for it). Default 60. */
        callTimeoutSeconds?: number;
      };
    };
  };
}
