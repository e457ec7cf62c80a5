import { readFileSync } from 'node:fs';
// zod's v3 API (shipped inside zod 4): about 10 MB less resident memory in the daemon than v4's.
import { z } from 'zod/v3';
import type { MaintenanceWindow } from '@patchbay/plugin-patch-common';

const windowSchema = z.object({
  name: z.string().optional(),
  days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])),
  start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'start must be HH:mm'),
  durationMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60),
  timeZone: z.string().min(1),
});

/**
 * The agent's configuration schema (zod); every field has a default except
 * the backend URL, which can also come from enrollment.
 * @public
 */
export const agentConfigSchema = z
  .object({
    /** Base URL of the patch plugin, e.g. http://portal:7007/api/patch. */
    backendUrl: z.string().url().optional(),
    stateDir: z.string().default('/var/lib/patch-agent'),
    provider: z
      .enum(['auto', 'apt', 'dnf', 'windows', 'simulated'])
      .default('auto'),
    apt: z
      .object({
        options: z.array(z.string()).default([]),
        update: z.boolean().default(false),
        lockTimeoutSeconds: z.number().int().min(0).default(120),
      })
      .default({}),
    dnf: z
      .object({
        installRoot: z.string().optional(),
        reposDir: z.string().optional(),
        releaseVer: z.string().optional(),
        noGpgCheck: z.boolean().default(false),
        refresh: z.boolean().default(false),
        setopt: z.array(z.string()).default([]),
      })
      .default({}),
    windows: z
      .object({
        powershell: z.string().default('powershell.exe'),
        usePSWindowsUpdate: z.boolean().default(false),
      })
      .default({}),
    simulated: z
      .object({
        seed: z.number().int().default(1),
        packageCount: z.number().int().min(0).default(200),
        pendingProbability: z.number().min(0).max(1).default(0.5),
        failureRate: z.number().min(0).max(1).default(0),
        installDurationMs: z.number().min(0).default(2000),
        failPackages: z.array(z.string()).default([]),
        /** Keep installed versions in the state folder across restarts. */
        persist: z.boolean().default(true),
      })
      .default({}),
    /** Local windows; jobs start only inside them (and inside the server's, if it sends any). */
    maintenanceWindows: z.array(windowSchema).default([]),
    /**
     * Installs of `payload.artifact` (a package file from a URL, installed as
     * root): refused unless enabled here, and only from URLs under one of the
     * listed prefixes (e.g. "https://packages.internal/patchbay/").
     */
    artifacts: z
      .object({
        enabled: z.boolean().default(false),
        allowedSources: z.array(z.string().url()).default([]),
      })
      .strict()
      .default({}),
    /** Download limit in kilobits per second; 0 means unlimited. */
    bandwidthLimitKbps: z.number().min(0).default(0),
    labels: z.record(z.string(), z.string().max(128)).default({}),
    hostname: z.string().optional(),
    machineId: z.string().optional(),
    checkIn: z
      .object({
        /** Used until the server says otherwise. */
        defaultIntervalSeconds: z.number().positive().default(60),
        /** Floor on whatever the server says, so a misconfiguration cannot spin the agent. */
        minIntervalSeconds: z.number().positive().default(1),
        jitterRatio: z.number().min(0).max(1).default(0.1),
        initialBackoffSeconds: z.number().positive().default(2),
        maxBackoffSeconds: z.number().positive().default(300),
        requestTimeoutSeconds: z.number().positive().default(30),
      })
      .default({}),
    /** How often the inventory is re-read to notice changes made outside the agent. */
    inventoryRefreshSeconds: z.number().positive().default(900),
    log: z
      .object({
        level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
        format: z.enum(['text', 'json']).default('text'),
      })
      .default({}),
  })
  .strict();

/**
 * The validated configuration.
 * @public
 */
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/**
 * The configuration as written (defaults not applied yet).
 * @public
 */
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

// Keep the zod window type and the shared one in step.
const _windowCheck: MaintenanceWindow[] =
  [] as AgentConfig['maintenanceWindows'];
void _windowCheck;

/** The default configuration file. */
export const DEFAULT_CONFIG_FILE = '/etc/patch-agent/config.json';

/**
 * Environment variables read on top of the file (the environment wins).
 * @public
 */
export const CONFIG_ENV = {
  PATCH_AGENT_BACKEND_URL: 'backendUrl',
  PATCH_AGENT_STATE_DIR: 'stateDir',
  PATCH_AGENT_PROVIDER: 'provider',
  PATCH_AGENT_BANDWIDTH_LIMIT_KBPS: 'bandwidthLimitKbps',
  PATCH_AGENT_LABELS: 'labels',
  PATCH_AGENT_LOG_LEVEL: 'log.level',
  PATCH_AGENT_LOG_FORMAT: 'log.format',
} as const;

/**
 * A configuration problem, said in one sentence.
 * @public
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the configuration: the JSON file (if it exists, or must exist when
 * named explicitly), then the `PATCH_AGENT_*` environment, then validation.
 * @public
 */
export function loadConfig(options: {
  file?: string;
  env?: Record<string, string | undefined>;
  overrides?: AgentConfigInput;
}): AgentConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.PATCH_AGENT_CONFIG;
  let raw: Record<string, any> = {};
  const path = file ?? DEFAULT_CONFIG_FILE;
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error: any) {
    if (file || error.code !== 'ENOENT') {
      throw new ConfigError(
        `Cannot read the configuration file ${path}: ${
          error.code ?? error.message
        }.`,
      );
    }
  }
  if (text !== undefined) {
    try {
      raw = JSON.parse(text);
    } catch (error: any) {
      throw new ConfigError(
        `The configuration file ${path} is not valid JSON: ${error.message}.`,
      );
    }
  }
  for (const [name, key] of Object.entries(CONFIG_ENV)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let parsed: unknown = value;
    if (key === 'bandwidthLimitKbps') parsed = Number(value);
    if (key === 'labels') {
      parsed = Object.fromEntries(
        value.split(',').map(pair => {
          const [k, ...v] = pair.split('=');
          return [k.trim(), v.join('=').trim()];
        }),
      );
    }
    setPath(raw, key, parsed);
  }
  raw = deepMerge(raw, options.overrides ?? {});
  const result = agentConfigSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      `Invalid configuration${text !== undefined ? ` in ${path}` : ''}: ${
        issue.path.join('.') || '(root)'
      }: ${issue.message}.`,
    );
  }
  return result.data;
}

function setPath(target: Record<string, any>, key: string, value: unknown) {
  const parts = key.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] = node[part] ?? {};
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

function deepMerge(
  a: Record<string, any>,
  b: Record<string, any>,
): Record<string, any> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] =
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      a[k] &&
      typeof a[k] === 'object'
        ? deepMerge(a[k], v)
        : v;
  }
  return out;
}
