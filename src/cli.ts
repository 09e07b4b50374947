#!/usr/bin/env node
/**
 * The `device-builder` command line. Each subcommand is a thin shell over a
 * module that tests can call directly; this file only parses arguments,
 * prints, and maps failures to exit codes (2 for bad input).
 *
 * It starts like a tool: only commander and the settings are loaded up
 * front; each command imports its own module when it runs, so `--help` and
 * `sizes` never load the server stack (Fastify, prom-client, zod, ...).
 */
import { Command, CommanderError } from 'commander';
import { UsageError } from './commands/usage-error.js';
import type { ServeCliOptions } from './commands/settings.js';

/** `reclaim`'s options as commander parses them. */
interface ReclaimCliOptions {
  maxTotal?: string;
  olderThan?: string;
  unusedOlderThan?: string;
  minFree?: string;
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  esphome?: string;
}
import { PACKAGE_VERSION } from './util/package-root.js';

const program = new Command();

program
  .name('device-builder')
  .description('See and reclaim the disk ESPHome build folders use.')
  .version(PACKAGE_VERSION)
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(text) })
  .addHelpText(
    'afterAll',
    '\nEnvironment:\n' +
      '  ESPHOME_CONFIG_DIR        default config folder\n' +
      '  ESPHOME_IS_HA_ADDON       "1"/"true": the Home Assistant add-on, data dir /data\n' +
      '  ESPHOME_DATA_DIR          ESPHome data dir otherwise (default: <config_dir>/.esphome)\n' +
      "  DEVICE_BUILDER_ADDON_DATA_DIR  where the add-on's /data is, if mounted elsewhere\n" +
      '  DEVICE_BUILDER_LOG_LEVEL  debug, info, warn, error or silent (logs go to stderr)\n' +
      '  DEVICE_BUILDER_LOG_FORMAT auto (default: short lines on a terminal, else JSON lines), json or pretty\n' +
      '  DEVICE_BUILDER_WALKER     auto (default), native or js: which walker sizes build folders\n' +
      '  DEVICE_BUILDER_PASSWORD   serve: the password (preferred over --password, which `ps` shows)\n' +
      '  DEVICE_BUILDER_ALLOWED_HOSTS  serve: more Host names to answer, comma separated (like --allowed-host)',
  )
  .hook('preAction', async () => {
    // Bad settings are bad input: refuse before touching anything.
    const { readSettings } = await import('./commands/settings.js');
    readSettings(undefined, process.env, { logLevel: 'info' });
  });

program
  .command('sizes')
  .summary("measure every device's build folder, largest first")
  .description(
    "Measure every device's build folder and print them largest first.\n\n" +
      'Only folders whose freshness pair (folder mtime, build_info.json mtime) moved\n' +
      'since the last run are walked; sizes are cached where the ESPHome Device Builder reads\n' +
      'them (<data_dir>/.device-builder-devices.json; <config_dir>/.device-builder.json before\n' +
      'its migration). States: walked (measured now), cached (unchanged since measured), not\n' +
      'compiled. Exit code 2 when the config dir cannot be read; 1 when the sizes were\n' +
      'measured and printed but could not be saved (e.g. the sidecar lock stayed busy).',
  )
  .argument('[config_dir]', 'ESPHome config folder (default: $ESPHOME_CONFIG_DIR, else ./config)')
  .option('--json', 'print one JSON object instead of a table')
  .action(async (configDirArg: string | undefined, options: { json?: boolean }) => {
    const { readSettings } = await import('./commands/settings.js');
    const settings = readSettings(configDirArg, process.env, { logLevel: 'warn' });
    const [{ renderSizesTable, runSizesPass, sizesReportJson }, { startProgress }, { createLogger }] = await Promise.all([
      import('./commands/sizes.js'),
      import('./commands/progress.js'),
      import('./util/log.js'),
    ]);
    const logger = createLogger(settings.logLevel, settings.logFormat);
    const progress = startProgress(process.stderr);
    try {
      const report = await runSizesPass(settings.configDir, {
        logger,
        env: settings.env,
        dataDir: settings.dataDir,
        walker: settings.walker,
        onProgress: progress.update,
      });
      progress.clear();
      for (const { device } of report.devices) {
        if (device.error) process.stderr.write(`warning: ${device.configuration}: ${device.error}\n`);
      }
      process.stdout.write(options.json ? `${JSON.stringify(sizesReportJson(report), null, 2)}\n` : renderSizesTable(report));
      if (report.saveError) {
        process.stderr.write(`device-builder: the sizes above were measured but not saved: ${report.saveError}\n`);
        process.exitCode = 1;
      }
    } finally {
      progress.clear();
    }
  });

program
  .command('reclaim')
  .summary('preview (and with --yes run) a clean-up of build folders by rules')
  .description(
    'Plan a clean-up of build folders and print it; run it only with --yes.\n\n' +
      'With rule options, exactly those rules are used (not saved); without any,\n' +
      'the policy saved in the dashboard. Sizes: 20GB, 500 MB, 1.5GiB; ages: 30d,\n' +
      '12h, 2w; --min-free also takes a share of the disk: 10%.\n\n' +
      'A device is cleaned by `esphome clean` as a firmware job (it shows in the\n' +
      "dashboard's Jobs later; sources and config stay, the next compile rebuilds).\n" +
      'An unused folder is deleted through the delete guard. Never touched: a device\n' +
      'compiled in the last hour, a folder that changed since the plan was made, a\n' +
      'path outside a build root. --yes is refused while `serve` runs on the same\n' +
      "data dir: use the dashboard's Reclaim panel then (the same plan, run by the\n" +
      "server's job queue).\n\n" +
      'Progress goes to stderr, the plan and results to stdout. Exit code 0 done\n' +
      '(or previewed), 1 some steps failed or were skipped, 2 bad input (the\n' +
      'message names the option).',
  )
  .argument('[config_dir]', 'ESPHome config folder (default: $ESPHOME_CONFIG_DIR, else ./config)')
  .option('--max-total <size>', "cap the devices' build folders' total")
  .option('--older-than <age>', 'clean devices last compiled longer ago than this')
  .option('--unused-older-than <age>', 'delete unused build folders untouched this long')
  .option('--min-free <size|pct>', 'clean until this much of the disk is free')
  .option('--dry-run', 'only preview (the default; refused with --yes)')
  .option('--yes', 'run the plan')
  .option('--json', 'print one JSON object instead of a table')
  .option('--esphome <command>', 'the esphome command for the clean jobs, e.g. "python3 -m esphome" (default: esphome on PATH)')
  .action(async (configDirArg: string | undefined, options: ReclaimCliOptions) => {
    if (options.dryRun && options.yes) throw new UsageError('--dry-run and --yes contradict each other: leave out --dry-run to run the plan');
    const [{ readSettings, parseEsphomeCommand }, reclaim, { createLogger }] = await Promise.all([
      import('./commands/settings.js'),
      import('./commands/reclaim.js'),
      import('./util/log.js'),
    ]);
    const settings = readSettings(configDirArg, process.env, { logLevel: 'warn' });
    // Bad rule values are refused before anything is read.
    const policy = reclaim.policyFromOptions(options);
    const logger = createLogger(settings.logLevel, settings.logFormat);
    const report = await reclaim.runReclaimCommand(settings.configDir, {
      logger,
      env: settings.env,
      dataDir: settings.dataDir,
      walker: settings.walker,
      esphomeCommand: parseEsphomeCommand(options.esphome),
      policy,
      execute: options.yes === true,
      onProgress: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(options.json ? `${JSON.stringify(reclaim.reclaimReportJson(report), null, 2)}\n` : reclaim.renderReclaimReport(report));
    process.exitCode = reclaim.reclaimExitCode(report);
  });

program
  .command('serve')
  .summary('serve the dashboard (web page, WebSocket API, metrics)')
  .description(
    'Serve the dashboard for an ESPHome config folder: the web page at /, the WebSocket API\n' +
      'at /ws and Prometheus metrics at /metrics. Build sizes are kept fresh in the background.\n\n' +
      'Without config_dir, $ESPHOME_CONFIG_DIR or ./config, a generated demo fleet is served\n' +
      '(with a fake esphome, so every button works). Binding to anything but loopback requires\n' +
      'a password: prefer DEVICE_BUILDER_PASSWORD or --password-file, since --password shows in the\n' +
      'process list. Requests whose Host header is not this machine (loopback, the listen address,\n' +
      'its host name) or an --allowed-host are refused with 403, so a web page cannot reach the\n' +
      'dashboard by DNS rebinding. SIGINT/SIGTERM stop it cleanly: the running job is cancelled,\n' +
      'the sidecar flushed.',
  )
  .argument('[config_dir]', 'ESPHome config folder (default: $ESPHOME_CONFIG_DIR, else ./config, else a demo fleet)')
  .option('--host <address>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0 picks a free one)', '6052')
  .option('--esphome <command>', 'the esphome command, e.g. "python3 -m esphome" (default: esphome on PATH)')
  .option('--password <password>', 'require this password (visible in the process list: prefer $DEVICE_BUILDER_PASSWORD or --password-file)')
  .option('--password-file <path>', 'require the password in the first line of this file (chmod 600)')
  .option('--trusted-origin <origin...>', 'extra browser origins allowed to use the API (scheme://host:port)')
  .option(
    '--allowed-host <host[:port]>',
    'also answer requests for this Host, e.g. a reverse proxy or Home Assistant ingress name; repeatable (also $DEVICE_BUILDER_ALLOWED_HOSTS)',
    (value: string, previous: string[] = []) => [...previous, value],
  )
  .option('--demo', 'serve the generated demo fleet even if a config folder exists')
  .option('--sweep-interval <seconds>', 'how often to check every build folder with two stats, to pick up compiles made from a terminal (0: never)', '30')
  .action(async (configDirArg: string | undefined, options: ServeCliOptions) => {
    const [{ createLogger }, { readServeSettings, readSettings }] = await Promise.all([import('./util/log.js'), import('./commands/settings.js')]);
    const { logLevel, logFormat } = readSettings(configDirArg, process.env, { logLevel: 'info' });
    const logger = createLogger(logLevel, logFormat);
    const settings = await readServeSettings(configDirArg, options, process.env, logger);
    const { runServe } = await import('./commands/serve.js');
    await runServe(settings, logger);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; argument errors were already printed by commander.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else if (err instanceof UsageError) {
    process.stderr.write(`device-builder: ${err.message}\n`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`device-builder: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
