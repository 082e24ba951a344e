// Debian's Apache httpd as a child process of the test: a generated configuration in a temporary directory
// (its own ServerRoot, PidFile, ErrorLog, runtime directory and loopback Listen; no /etc/apache2), started
// in the foreground (-DFOREGROUND, so the process we spawn is the parent httpd and its PID is the one to
// signal), ready once it answers an HTTP request (polled; no fixed sleep), stopped with SIGTERM and its
// directory removed. Started as root, its children run as nobody (65534); as anyone else, as that user.
// Its environment is only PATH and LANG, so an http_proxy of the machine never reaches the modules' curl.
//
// Generic on purpose: the caller names the modules it needs (mod_auth_openidc, mod_oauth2, mod_proxy…)
// and writes the rest of the configuration; `config` may be a function of the port and directory for
// settings that must name them (a redirect URI on this server, a cache directory).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/free-port.ts';

export const APACHE_BIN = process.env.APACHE_BIN ?? '/usr/sbin/apache2';
export const APACHE_MODULES_DIR = process.env.APACHE_MODULES_DIR ?? '/usr/lib/apache2/modules';

export interface ApacheSite {
  /** http://127.0.0.1:<port>, no trailing slash. */
  url: string;
  port: number;
  /** The server's own temporary directory (ServerRoot): a place for files the configuration names. */
  root: string;
}

export interface ApacheOptions {
  /**
   * Modules to load, by short name as in the file name: 'auth_openidc' → mod_auth_openidc.so,
   * 'proxy_http' → mod_proxy_http.so. An MPM (mpm_event) and authz_core are always loaded.
   */
  modules: string[];
  /** The site's configuration (directives after the generated server set-up). */
  config: string | ((site: ApacheSite) => string);
  /** A port chosen beforehand (e.g. already in a client's redirect URI); a free one otherwise. */
  port?: number;
  /** LogLevel, e.g. 'warn auth_openidc:debug'. Default 'warn'. */
  logLevel?: string;
  /** How long to wait for the first answer. Default 10 s. */
  startTimeoutMs?: number;
}

export interface RunningApache extends ApacheSite {
  /** The error log so far (the server's, plus anything it wrote to stderr/stdout); the last one after stop(). */
  log(): string;
  /** The generated httpd.conf, for a failure message. */
  configText: string;
  /** SIGTERM to the parent httpd, wait for it to exit, remove the directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Module short name → the LoadModule line. Names follow Debian's file names (mod_<name>.so, <name>_module). */
function loadModuleLine(name: string): string {
  const file = join(APACHE_MODULES_DIR, `mod_${name}.so`);
  if (!existsSync(file)) throw new Error(`Apache module ${name} not found at ${file}`);
  return `LoadModule ${name}_module ${file}`;
}

function serverConfig(site: ApacheSite, modules: string[], logLevel: string, body: string): string {
  const wanted = [...new Set(['mpm_event', 'authz_core', ...modules])];
  const root = site.root;
  return [
    `ServerRoot "${root}"`,
    `DefaultRuntimeDir "${root}"`,
    `PidFile "${root}/httpd.pid"`,
    `ErrorLog "${root}/error.log"`,
    `LogLevel ${logLevel}`,
    `Listen 127.0.0.1:${site.port}`,
    `ServerName 127.0.0.1:${site.port}`,
    `DocumentRoot "${root}/htdocs"`,
    // Started as root, httpd must hand its children to another user (it refuses to serve as root);
    // 65534 is nobody/nogroup on Debian. As any other user the directives are ignored.
    ...(process.getuid?.() === 0 ? ['User #65534', 'Group #65534'] : []),
    // Small and predictable: one child process, enough threads for a test's parallel requests.
    'StartServers 1',
    'ServerLimit 1',
    'ThreadsPerChild 25',
    'MaxRequestWorkers 25',
    'MinSpareThreads 1',
    'MaxSpareThreads 25',
    'KeepAlive On',
    'Timeout 30',
    ...wanted.map(loadModuleLine),
    '<Directory />',
    '  Require all denied',
    '</Directory>',
    // Browsers ask for it on every page; a plain 404 keeps "client denied" lines out of the error log.
    '<Location "/favicon.ico">',
    '  Require all granted',
    '</Location>',
    '',
    body,
    '',
  ].join('\n');
}

/**
 * One request to the server: `OPTIONS *`, which the core answers itself (no location, no authorization,
 * nothing in the error log). Resolves with any status (it answers), rejects while nothing listens.
 */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '*', method: 'OPTIONS', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
    req.end();
  });
}

export async function startApache(options: ApacheOptions): Promise<RunningApache> {
  if (!existsSync(APACHE_BIN)) throw new Error(`Apache httpd not found at ${APACHE_BIN} (Debian package apache2)`);
  const port = options.port ?? (await freePort());
  const root = mkdtempSync(join(tmpdir(), 'tessera-apache-'));
  const site: ApacheSite = { url: `http://127.0.0.1:${port}`, port, root };
  let configText: string;
  try {
    // Readable by the children too (they run as nobody when started as root); htdocs for DocumentRoot.
    chmodSync(root, 0o755);
    mkdirSync(join(root, 'htdocs'));
    const body = typeof options.config === 'function' ? options.config(site) : options.config;
    configText = serverConfig(site, options.modules, options.logLevel ?? 'warn', body);
    writeFileSync(join(root, 'httpd.conf'), configText);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  const configFile = join(root, 'httpd.conf');
  const errorLog = join(root, 'error.log');

  let output = '';
  /** The log as it was when the directory was removed: log() still answers after stop(). */
  let lastLog: string | undefined;
  const log = () => {
    if (lastLog !== undefined) return lastLog;
    const file = existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '';
    return file + (output ? `\n--- httpd stdout/stderr ---\n${output}` : '');
  };
  const cleanUp = () => {
    if (lastLog !== undefined) return;
    lastLog = log();
    rmSync(root, { recursive: true, force: true });
  };

  const child: ChildProcess = spawn(APACHE_BIN, ['-d', root, '-f', configFile, '-DFOREGROUND'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No APACHE_* variables from Debian's envvars: the configuration names everything itself.
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
    child.once('error', (err) => resolve(`spawn failed: ${err.message}`));
  });
  let exitStatus: number | string | null | undefined;
  void exited.then((s) => (exitStatus = s));
  // A test run that dies without stop() must not leave httpd holding its port.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exitStatus === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    cleanUp();
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  for (;;) {
    if (exitStatus !== undefined) {
      const text = log();
      cleanUp();
      throw new Error(`apache2 exited (${exitStatus}) before answering on port ${port}:\n${text}\n--- httpd.conf ---\n${configText}`);
    }
    try {
      await probe(port);
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        const text = log();
        await stop();
        throw new Error(`apache2 did not answer on port ${port} within the start timeout (${(err as Error).message}):\n${text}`);
      }
      // Either the exit or a short pause, whichever is first, before the next probe.
      await Promise.race([exited, new Promise((r) => setTimeout(r, 25))]);
    }
  }

  return { ...site, configText, log, stop };
}
