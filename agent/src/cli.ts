import { Command, Option } from 'commander';
import { createAgent, AGENT_VERSION } from './Agent';
import {
  AgentConfig,
  AgentConfigInput,
  ConfigError,
  loadConfig,
} from './config';
import { enroll, EnrollError } from './enroll';
import { createLogger } from './logger';
import { createProvider } from './providers';
import { Outbox } from './state/Outbox';
import { StateDir, StateError } from './state/StateDir';

/** Errors whose message is already the one sentence a person should read. */
const USER_ERRORS = [ConfigError, EnrollError, StateError];

function fail(error: unknown): never {
  const known = USER_ERRORS.some(E => error instanceof E);
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `patch-agent: ${known ? message : `unexpected error: ${message}`}\n`,
  );
  if (!known && process.env.PATCH_AGENT_DEBUG && error instanceof Error) {
    process.stderr.write(`${error.stack}\n`);
  }
  process.exit(1);
}

function configFrom(
  opts: { config?: string; stateDir?: string },
  more: AgentConfigInput = {},
): AgentConfig {
  return loadConfig({
    file: opts.config,
    overrides: {
      ...more,
      ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    },
  });
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) =>
    Math.max(...rows.map(r => (r[i] ?? '').length)),
  );
  return rows
    .map(r =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  '),
    )
    .join('\n');
}

/**
 * Runs the `patch-agent` command line.
 * @public
 */
export async function runCli(argv: string[] = process.argv): Promise<void> {
  const program = new Command('patch-agent')
    .description('The Patchbay endpoint agent')
    .version(AGENT_VERSION)
    .option(
      '-c, --config <file>',
      'configuration file (JSON); default /etc/patch-agent/config.json or $PATCH_AGENT_CONFIG',
    )
    .option('--state-dir <dir>', 'state folder (credentials, outbox, lock)');

  program
    .command('enroll')
    .description("exchange an enrollment token for this machine's credentials")
    .requiredOption(
      '--url <url>',
      'backend URL, e.g. https://portal.example.com/api/patch',
    )
    .requiredOption('--token <token>', 'enrollment token from the portal')
    .option('--label <key=value...>', 'labels for the endpoint (repeatable)')
    .action(async (opts: { url: string; token: string; label?: string[] }) => {
      try {
        const labels = Object.fromEntries(
          (opts.label ?? []).map(l => {
            const [k, ...v] = l.split('=');
            return [k, v.join('=')];
          }),
        );
        const base = configFrom(program.opts());
        const config = { ...base, labels: { ...base.labels, ...labels } };
        const provider = await createProvider(config).catch(() => undefined);
        const creds = await enroll({
          url: opts.url,
          token: opts.token,
          config,
          provider,
        });
        process.stdout.write(
          `Enrolled as ${creds.agentId} (${creds.endpointRef}) at ${creds.backendUrl}; credentials saved in ${config.stateDir}/credentials.json.\n`,
        );
      } catch (error) {
        fail(error);
      }
    });

  program
    .command('run')
    .description(
      'check in, report inventory and run jobs until stopped (SIGTERM drains the job in flight)',
    )
    .option('--once', 'one check-in cycle, then exit')
    .action(async (opts: { once?: boolean }) => {
      try {
        const config = configFrom(program.opts());
        const logger = createLogger({
          level: config.log.level,
          format: config.log.format,
        });
        const provider = await createProvider(config);
        const agent = await createAgent({
          config,
          provider,
          logger,
          once: opts.once,
        });
        if (opts.once) {
          await agent.start();
          await agent.done;
          const status = agent.status();
          if (status.lastError) throw new Error(status.lastError);
          return;
        }
        let signals = 0;
        const onSignal = (name: string) => {
          signals++;
          logger.info(
            `${name} received; ${
              signals > 1 ? 'aborting the job in flight' : 'draining'
            }`,
          );
          void agent.stop({ abort: signals > 1 });
        };
        process.on('SIGTERM', () => onSignal('SIGTERM'));
        process.on('SIGINT', () => onSignal('SIGINT'));
        await agent.start();
        await agent.done;
        process.exit(0);
      } catch (error) {
        fail(error);
      }
    });

  program
    .command('status')
    .description('show enrollment, the last check-in and the outbox')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      try {
        const config = configFrom(program.opts());
        const state = await StateDir.open(config.stateDir);
        const creds = await state.readCredentials();
        const last = await state.readStatus();
        const outbox = new Outbox(
          state.outboxDir,
          state.file('acknowledged.json'),
        );
        const pid = await state.lockHolder();
        const status = {
          enrolled: Boolean(creds),
          agentId: creds?.agentId,
          endpointRef: creds?.endpointRef,
          backendUrl: config.backendUrl ?? creds?.backendUrl,
          running: pid !== undefined,
          pid,
          lastCheckInAt: last?.lastCheckInAt,
          nextCheckInAt: last?.nextCheckInAt,
          consecutiveErrors: last?.consecutiveErrors ?? 0,
          lastError: last?.lastError,
          outbox: await outbox.size(),
          stateDir: config.stateDir,
        };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        } else {
          const rows = [
            [
              'Enrolled',
              status.enrolled
                ? `yes, as ${status.agentId} (${status.endpointRef})`
                : 'no',
            ],
            ['Backend', status.backendUrl ?? '-'],
            ['Running', status.running ? `yes, pid ${status.pid}` : 'no'],
            ['Last check-in', String(status.lastCheckInAt ?? 'never')],
            ['Next check-in', String(status.nextCheckInAt ?? '-')],
            ['Errors in a row', String(status.consecutiveErrors)],
            ...(status.lastError
              ? [['Last error', String(status.lastError)]]
              : []),
            ['Outbox', `${status.outbox} result(s) waiting`],
            ['State folder', status.stateDir],
          ];
          process.stdout.write(
            `${table(rows.map(([k, v]) => [`${k}:`, v]))}\n`,
          );
        }
        if (!creds) process.exitCode = 3;
      } catch (error) {
        fail(error);
      }
    });

  program
    .command('scan')
    .description('list installed packages and pending updates')
    .option('--json', 'machine-readable output')
    .addOption(
      new Option('--only <what>', 'show only one list').choices([
        'installed',
        'pending',
      ]),
    )
    .action(
      async (opts: { json?: boolean; only?: 'installed' | 'pending' }) => {
        try {
          const config = configFrom(program.opts());
          const provider = await createProvider(config);
          const [packages, pending] = await Promise.all([
            provider.inventory(),
            provider.pendingUpdates(),
          ]);
          if (opts.json) {
            process.stdout.write(
              `${JSON.stringify(
                {
                  provider: provider.name,
                  ecosystem: provider.ecosystem,
                  packages,
                  pending,
                },
                null,
                2,
              )}\n`,
            );
            return;
          }
          const out: string[] = [];
          if (opts.only !== 'pending') {
            out.push(
              `Installed packages (${packages.length}, ${provider.name}):`,
            );
            if (packages.length) {
              out.push(
                table([
                  ['NAME', 'VERSION', 'ARCH'],
                  ...packages.map(p => [p.name, p.version, p.arch ?? '']),
                ]),
              );
            }
          }
          if (opts.only !== 'installed') {
            if (out.length) out.push('');
            out.push(`Pending updates (${pending.length}):`);
            if (pending.length) {
              out.push(
                table([
                  ['NAME', 'INSTALLED', 'AVAILABLE', 'SOURCE'],
                  ...pending.map(p => [
                    p.name,
                    p.currentVersion,
                    p.availableVersion,
                    p.source ?? '',
                  ]),
                ]),
              );
            }
          }
          process.stdout.write(`${out.join('\n')}\n`);
        } catch (error) {
          fail(error);
        }
      },
    );

  await program.parseAsync(argv);
}

if (require.main === module) {
  runCli().catch(fail);
}
