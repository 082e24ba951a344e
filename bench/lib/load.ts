// Load generation with autocannon, in this (the parent) process. A workload is either one fixed request, or
// one request per connection built from that connection's own state (refresh-token rotation). The load can be
// spread over several processes of one deployment (`urls`): one autocannon instance each, one accounting.
//
// Each measurement is ONE autocannon run of warm-up + duration seconds; only responses that arrive after the
// warm-up count. (Two separate runs would break stateful workloads: autocannon drops in-flight requests when
// a run ends, so a refresh token rotated by the server would never reach the client, and the next run would
// present a used token and trip reuse detection.)
import { performance } from 'node:perf_hooks';
import autocannon, { type Client, type Options, type RequestSpec } from 'autocannon';

export interface FixedRequest {
  kind: 'fixed';
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** A 2xx answer counts as a success only when this accepts its body. */
  verify?: (body: string) => boolean;
}

export interface PerConnectionRequest {
  kind: 'per-connection';
  /** Called once per autocannon connection, in order 0, 1, …; returns that connection's request. */
  connection(slot: number): RequestSpec;
  verify?: (body: string) => boolean;
}

export type Load = FixedRequest | PerConnectionRequest;

export interface Measurement {
  /** Successful responses per second (2xx whose body passed the check). */
  requestsPerSecond: number;
  /** Latency of 2xx responses, milliseconds (sub-millisecond precision, unlike autocannon's histogram). */
  p50: number;
  p99: number;
  /** Non-2xx answers + connection errors and timeouts + 2xx answers whose body failed the check. */
  errors: number;
  successes: number;
  seconds: number;
  /** Status code → count, plus connection errors and wrong bodies, for error reports. */
  statusCodes: Record<string, number>;
  /** Successful responses in each second of the measured window (a steady server gives a flat series). */
  perSecond: number[];
  /** Every response of the run, warm-up included (to divide server-side counters by). */
  totalResponses: number;
  /** When the measured window started and ended, in process.hrtime microseconds (matches --cpu-prof). */
  windowMicros: [number, number];
  /** With several URLs: the 2xx answers in the measured window from each, in the order of `urls`. */
  perTarget: number[];
}

export interface LoadOptions {
  url: string;
  /**
   * Spread the connections over several servers (e.g. two processes of one deployment): one autocannon
   * instance per URL, all in parallel, the connections split as evenly as possible, and ONE accounting —
   * successes summed, latencies merged before taking percentiles. Default: [url].
   */
  urls?: string[];
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Called (synchronously) when the measured window opens, e.g. to snapshot CPU counters. */
  onWindowStart?: () => void;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const hrMicros = () => Number(process.hrtime.bigint() / 1000n);

export async function runLoad(load: Load, options: LoadOptions): Promise<Measurement> {
  const targets = options.urls?.length ? options.urls : [options.url];
  if (options.connections < targets.length) throw new Error(`${options.connections} connections cannot be spread over ${targets.length} servers`);
  // Per-connection requests take their slot from one counter shared by all instances, so connection slots
  // (and the state they own, e.g. a refresh-token chain) never collide across servers.
  let nextSlot = 0;
  const cannonOptionsFor = (url: string, connections: number): Options => {
    const base: Options = {
      url,
      connections,
      duration: options.warmupSeconds + options.durationSeconds,
      timeout: 10,
      pipelining: 1,
    };
    if (load.kind === 'fixed') {
      // autocannon takes the path of a fixed request from the URL.
      return { ...base, url: new URL(load.path, url).toString(), method: load.method, headers: load.headers, body: load.body, verifyBody: load.verify };
    }
    return {
      ...base,
      verifyBody: load.verify,
      setupClient(client: Client) {
        client.setRequests([load.connection(nextSlot++)]);
      },
    };
  };

  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let ok2xx = 0;
  let non2xx = 0;
  let connErrors = 0;
  let mismatches = 0;
  let measuring = options.warmupSeconds === 0;
  let windowStart = performance.now();
  let windowStartMicros = hrMicros();
  if (measuring) options.onWindowStart?.();

  const warmup = setTimeout(() => {
    measuring = true;
    windowStart = performance.now();
    windowStartMicros = hrMicros();
    options.onWindowStart?.();
  }, options.warmupSeconds * 1000);
  let totalResponses = 0;
  const perSecond: number[] = [];
  const perTarget = targets.map(() => 0);
  const instances = targets.map((url, i) => {
    const share = Math.floor(options.connections / targets.length) + (i < options.connections % targets.length ? 1 : 0);
    const instance = autocannon(cannonOptionsFor(url, share));
    // autocannon checks the body of every response (not only 2xx) right after emitting 'response' for it,
    // synchronously, so the status of the response a mismatch belongs to is the last one this instance saw.
    let lastStatus = 0;
    instance.on('response', (_client: Client, statusCode: number, _bytes: number, responseTime: number) => {
      lastStatus = statusCode;
      totalResponses++;
      if (!measuring) return;
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        ok2xx++;
        perTarget[i]!++;
        latencies.push(responseTime);
        const second = Math.floor((performance.now() - windowStart) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + 1;
      } else {
        non2xx++;
      }
    });
    instance.on('reqMismatch', () => {
      if (measuring && lastStatus >= 200 && lastStatus < 300) mismatches++;
    });
    instance.on('reqError', () => {
      if (measuring) connErrors++;
    });
    return instance;
  });
  await Promise.all(instances);
  clearTimeout(warmup);
  const seconds = (performance.now() - windowStart) / 1000;
  const windowEndMicros = hrMicros();

  const sorted = Float64Array.from(latencies).sort();
  const successes = Math.max(0, ok2xx - mismatches);
  if (connErrors) statusCodes['connection errors/timeouts'] = connErrors;
  if (mismatches) statusCodes['2xx with unexpected body'] = mismatches;
  return {
    requestsPerSecond: successes / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: non2xx + connErrors + mismatches,
    successes,
    seconds,
    statusCodes,
    perSecond: Array.from({ length: Math.floor(seconds) }, (_, i) => perSecond[i] ?? 0),
    totalResponses,
    windowMicros: [windowStartMicros, windowEndMicros],
    perTarget,
  };
}
