/**
 * What the benchmark compares: each entry measures a subject and its baseline side by side
 * (interleaved) and judges the relation against a budget. Add a pair by adding an entry.
 */
import { hashPassword, verifyPassword } from '../lib/auth/passwords';
import type { BenchContext } from './bench-runtime';
import { differenceAtMost, ratioOnly, ratioWithin, type Verdict } from './budgets';
import { expectStatus, multipartFile } from './http-client';
import { mean, median, megabytesPerSecond } from './stats';
import { interleave, timeMs } from './timing';
import { meterResources, type CallCosts } from './resources';
import { rawPutObject, uploadStages } from './upload-stages';

export interface SeriesSummary {
  readonly label: string;
  readonly n: number;
  /** The statistic(s) in milliseconds, as printed: `median 351.2`, `p50 0.41 / mean 0.45`. */
  readonly stat: string;
}

/** An extra row under a comparison: one part of the subject's time. */
export interface BreakdownRow extends SeriesSummary {
  /** Its share of the subject, as printed: `12%`. */
  readonly share: string;
}

export interface ComparisonResult {
  readonly subject: SeriesSummary;
  readonly baseline: SeriesSummary;
  readonly verdict: Verdict;
  /** Where the subject's time goes, printed as indented rows under the pair. */
  readonly breakdown?: readonly BreakdownRow[];
  /** How to read the row (estimator, caveats), printed under the table. */
  readonly note?: string;
}

export interface Comparison {
  readonly title: string;
  run(context: BenchContext): Promise<ComparisonResult>;
}

const BCRYPT_ITERATIONS = 15;
const LIGHT_REQUESTS = 2000;
const UPLOAD_ITERATIONS = 10;
const UPLOAD_BYTES = 4 * 1024 * 1024;

const ms = (value: number, digits = 1) => value.toFixed(digits);
const medianStat = (samples: readonly number[]) => `median ${ms(median(samples))}`;

/** `email` may be a function: a new address each call (an unknown one must not reach the per-account limit). */
function login(context: BenchContext, email: string | (() => string), expected: 200 | 401): () => Promise<void> {
  return async () => {
    const address = typeof email === 'function' ? email() : email;
    const body = JSON.stringify({ email: address, password: context.user.password });
    const answer = await context.client.request('/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    expectStatus(answer, expected, `login as ${address}`);
  };
}

let unknownEmails = 0;
const unknownEmail = () => `nobody-${Date.now()}-${(unknownEmails += 1)}@example.com`;

/** (a) A login is one bcrypt compare plus little else: HTTP, event, SQLite, JWT signing. */
const loginVersusCompare: Comparison = {
  title: 'login vs one bcrypt compare',
  async run(context) {
    const hash = await hashPassword(context.user.password, context.bcryptRounds);
    const samples = await interleave(
      {
        login: login(context, context.user.email, 200),
        compare: async () => {
          if (!(await verifyPassword(context.user.password, hash))) throw new Error('bcrypt compare did not match');
        },
      },
      { iterations: BCRYPT_ITERATIONS, warmup: 1 },
    );
    return {
      subject: { label: 'POST /auth/login (known email)', n: samples.login.length, stat: medianStat(samples.login) },
      baseline: { label: `bcrypt compare (cost ${context.bcryptRounds})`, n: samples.compare.length, stat: medianStat(samples.compare) },
      verdict: ratioWithin(median(samples.login), median(samples.compare), { max: 1.05 }),
    };
  },
};

/** (b) Unknown emails pay a dummy compare, so timing does not reveal which accounts exist. */
const unknownVersusKnownLogin: Comparison = {
  title: 'unknown-email login vs known-email login',
  async run(context) {
    const samples = await interleave(
      { unknown: login(context, unknownEmail, 401), known: login(context, context.user.email, 200) },
      { iterations: BCRYPT_ITERATIONS, warmup: 1 },
    );
    return {
      subject: { label: 'login, unknown email (401)', n: samples.unknown.length, stat: medianStat(samples.unknown) },
      baseline: { label: 'login, known email (200)', n: samples.known.length, stat: medianStat(samples.known) },
      verdict: ratioWithin(median(samples.unknown), median(samples.known), { min: 0.9, max: 1.1 }),
    };
  },
};

/** (c) What bearer authentication (JWT verify + user lookup) adds to a request. */
const meVersusHealth: Comparison = {
  title: 'GET /auth/me vs GET /health',
  async run(context) {
    const get = (path: string, headers: Record<string, string>) => async () => {
      expectStatus(await context.client.request(path, { headers }), 200, `GET ${path}`);
    };
    const samples = await interleave(
      { me: get('/auth/me', { Authorization: `Bearer ${context.user.accessToken}` }), health: get('/health', {}) },
      { iterations: LIGHT_REQUESTS, warmup: 200, batch: 100 },
    );
    const stat = (values: readonly number[]) => `p50 ${ms(median(values), 3)} / mean ${ms(mean(values), 3)}`;
    const meanDifference = mean(samples.me) - mean(samples.health);
    return {
      subject: { label: 'GET /auth/me (bearer)', n: samples.me.length, stat: stat(samples.me) },
      baseline: { label: 'GET /health', n: samples.health.length, stat: stat(samples.health) },
      verdict: differenceAtMost(median(samples.me), median(samples.health), 0.25),
      note:
        `judged on the difference of medians (p50); the difference of means is ${meanDifference >= 0 ? '+' : ''}${ms(meanDifference, 3)} ms. ` +
        'Per-request latencies are right-skewed: a few GC pauses or a neighbour stealing the CPU add multi-ms outliers ' +
        'that move a mean by more than the whole budget, while the median of 2000 interleaved requests barely moves.',
    };
  },
};

/** UPLOAD_BYTES of random data, which no sniffer mistakes for a known format. */
function randomContent(): Buffer {
  const content = Buffer.alloc(UPLOAD_BYTES);
  for (let offset = 0; offset < content.length; offset += 4) content.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, offset);
  return content;
}

/** POST /upload of `content` (or of a form already made of it); resolves to the presigned download URL. */
function uploadThroughApi(
  context: Parameters<Comparison['run']>[0],
  content: Buffer,
  form = multipartFile('file', 'bench.bin', 'application/octet-stream', content),
): () => Promise<string> {
  return async () => {
    const answer = await context.client.request('/upload', {
      method: 'POST',
      headers: { Authorization: `Bearer ${context.user.accessToken}`, 'Content-Type': form.contentType },
      body: form.body,
    });
    expectStatus(answer, 200, 'POST /upload');
    return (JSON.parse(answer.body.toString('utf8')) as { url: string }).url;
  };
}

/** (d) A file through the API (base64 inside a Lambda event) vs straight from storage. */
const uploadVersusDownload: Comparison = {
  title: '4 MiB upload vs presigned download',
  async run(context) {
    const content = randomContent();
    const upload = uploadThroughApi(context, content);
    const download = async (url: string) => {
      const answer = await context.client.request(url);
      expectStatus(answer, 200, 'GET presigned url');
      return answer.body;
    };
    const checkSame = (downloaded: Buffer) => {
      if (!downloaded.equals(content)) throw new Error('the downloaded object differs from the upload');
    };

    checkSame(await download(await upload())); // warm-up
    const uploads: number[] = [];
    const downloads: number[] = [];
    for (let i = 0; i < UPLOAD_ITERATIONS; i += 1) {
      let url = '';
      let downloaded: Buffer = Buffer.alloc(0);
      uploads.push(await timeMs(async () => void (url = await upload())));
      downloads.push(await timeMs(async () => void (downloaded = await download(url))));
      checkSame(downloaded);
    }
    const stat = (samples: readonly number[]) => `${medianStat(samples)} (${megabytesPerSecond(UPLOAD_BYTES, median(samples)).toFixed(1)} MB/s)`;
    return {
      subject: { label: 'POST /upload, 4 MiB multipart', n: uploads.length, stat: stat(uploads) },
      baseline: { label: 'GET presigned url, same object', n: downloads.length, stat: stat(downloads) },
      verdict: ratioOnly(median(uploads), median(downloads)),
      note: 'each download is checked byte for byte against the upload (outside the timing); no budget, information only.',
    };
  },
};

/**
 * (e) The same 4 MiB straight to storage on a presigned PUT vs through POST /upload. The
 * direct path is timed whole: plan (POST /uploads), PUT, complete (size and type checks).
 */
const directVersusApiUpload: Comparison = {
  title: '4 MiB presigned PUT vs POST /upload',
  async run(context) {
    const content = randomContent();
    const auth = { Authorization: `Bearer ${context.user.accessToken}` };
    const puts: number[] = [];
    const direct = async () => {
      const planned = await context.client.request('/uploads', {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ filename: 'bench.bin', content_type: 'application/octet-stream', size: content.length })),
      });
      expectStatus(planned, 201, 'POST /uploads');
      const plan = JSON.parse(planned.body.toString('utf8')) as { id: string; upload: { url: string; headers: Record<string, string> } };
      puts.push(
        await timeMs(async () =>
          expectStatus(await context.client.request(plan.upload.url, { method: 'PUT', headers: plan.upload.headers, body: content }), 200, 'PUT'),
        ),
      );
      const completed = await context.client.request(`/uploads/${plan.id}/complete`, { method: 'POST', headers: auth });
      expectStatus(completed, 200, 'POST /uploads/{id}/complete');
    };
    const api = uploadThroughApi(context, content);
    const samples = await interleave({ direct, api: async () => void (await api()) }, { iterations: UPLOAD_ITERATIONS, warmup: 1 });
    const stat = (values: readonly number[]) => `${medianStat(values)} (${megabytesPerSecond(UPLOAD_BYTES, median(values)).toFixed(1)} MB/s)`;
    return {
      subject: { label: 'direct: plan + PUT + complete', n: samples.direct.length, stat: stat(samples.direct) },
      baseline: { label: 'POST /upload, same bytes', n: samples.api.length, stat: stat(samples.api) },
      verdict: ratioOnly(median(samples.direct), median(samples.api)),
      note: `the presigned PUT alone: median ${ms(median(puts.slice(-UPLOAD_ITERATIONS)), 1)} ms; complete verifies the bytes and copies them server-side from the staging key. No budget, information only; in AWS only the direct path scales past ~4.7 MB.`,
    };
  },
};

const UPLOAD_VERSUS_PUT_ITERATIONS = 30;
const STAGE_ITERATIONS = 20;

/**
 * (f) The budget on what /upload adds to storing the bytes: a 4 MiB POST /upload against a
 * raw PutObject of the same bytes through the API's own S3 client, interleaved. Then, in a
 * second interleaved pass, each stage of the request on its own (see upload-stages.ts), so the
 * table shows where the difference goes.
 */
const uploadVersusPutObject: Comparison = {
  title: '4 MiB POST /upload vs raw PutObject',
  async run(context) {
    const content = randomContent();
    const form = multipartFile('file', 'bench.bin', 'application/octet-stream', content);
    const upload = uploadThroughApi(context, content, form);
    const put = rawPutObject(content, context.user.id);
    const meter = meterResources();
    const samples = await interleave(
      { upload: meter.wrap('upload', async () => void (await upload())), put: meter.wrap('put', put) },
      { iterations: UPLOAD_VERSUS_PUT_ITERATIONS, warmup: 2 },
    );
    const timed = (name: string): CallCosts => {
      const { gcMs, faults, cpuMs } = meter.results(name);
      const last = (values: number[]) => values.slice(-UPLOAD_VERSUS_PUT_ITERATIONS);
      return { gcMs: last(gcMs), faults: last(faults), cpuMs: last(cpuMs) };
    };
    const [uploadCosts, putCosts] = [timed('upload'), timed('put')];
    meter.stop();

    const { stages, invoke } = uploadStages({ ownerId: context.user.id, accessToken: context.user.accessToken, form, content });
    const parts = [...stages, invoke];
    const stageSamples = await interleave(
      Object.fromEntries(parts.map((stage, index) => [`s${index}`, stage.run])) as Record<string, () => Promise<void>>,
      { iterations: STAGE_ITERATIONS, warmup: 2 },
    );

    const total = median(samples.upload);
    const putMedian = median(samples.put);
    const share = (value: number) => `${Math.round((100 * value) / total)}%`;
    const row = (label: string, values: readonly number[]): BreakdownRow => ({ label, n: values.length, stat: `median ${ms(median(values), 2)}`, share: share(median(values)) });
    const rest = (label: string, value: number): BreakdownRow => ({ label, n: 0, stat: `~${ms(value, 1)} (rest)`, share: share(value) });
    const measured = parts.map((stage, index) => ({ stage, values: stageSamples[`s${index}`] ?? [] }));
    const local = measured.filter(({ stage }) => stage.where === 'local');
    const inHandler = measured.filter(({ stage }) => stage.where === 'lib' && stage !== invoke);
    const invokeValues = measured.find(({ stage }) => stage === invoke)?.values ?? [];
    const sum = (items: typeof measured) => items.reduce((total, { values }) => total + median(values), 0);
    const gcMean = mean(uploadCosts.gcMs);

    const breakdown: BreakdownRow[] = [
      ...local.map(({ stage, values }) => row(`local: ${stage.label}`, values)),
      rest('local: HTTP in and out, reading the body, routing', total - median(invokeValues) - sum(local)),
      row(`lib: ${invoke.label}`, invokeValues),
      ...inHandler.map(({ stage, values }) => row(`  lib: ${stage.label}`, values)),
      { label: '  storage: PutObject (the baseline)', n: samples.put.length, stat: `median ${ms(putMedian, 2)}`, share: share(putMedian) },
      rest('  lib: Middy chain, authentication, answer', median(invokeValues) - sum(inHandler) - putMedian),
      { label: 'GC pauses inside each POST /upload', n: uploadCosts.gcMs.length, stat: `mean ${ms(gcMean, 2)}`, share: share(gcMean) },
    ];
    const costs = (name: string, values: CallCosts) =>
      `${name}: process CPU median ${ms(median(values.cpuMs), 1)} ms, GC pauses mean ${ms(mean(values.gcMs), 1)} ms, ` +
      `page faults median ${median(values.faults)} (${ms((median(values.faults) * 4) / 1024, 1)} MiB of fresh memory)`;
    const stat = (values: readonly number[]) => `${medianStat(values)} (${megabytesPerSecond(UPLOAD_BYTES, median(values)).toFixed(1)} MB/s)`;
    return {
      subject: { label: 'POST /upload, 4 MiB multipart', n: samples.upload.length, stat: stat(samples.upload) },
      baseline: { label: 'raw PutObject, same bytes, API client', n: samples.put.length, stat: stat(samples.put) },
      verdict: ratioWithin(total, putMedian, { max: 1.5 }),
      breakdown,
      note:
        `judged on medians of interleaved runs. Per call, ${costs('/upload', uploadCosts)}; ${costs('PutObject', putCosts)} ` +
        `(CPU ratio ${(median(uploadCosts.cpuMs) / median(putCosts.cpuMs)).toFixed(2)}x). ` +
        'Stage rows: each stage run alone on the same bytes, interleaved, in a second pass (local = the local runtime only; lib = ' +
        'also in Lambda); a "rest" row is what the stages leave of their parent, including the garbage collection and fresh memory ' +
        'that multi-megabyte allocations (the base64 event body, the decoded body) cost in place but not alone. ' +
        'Fixes behind this row. lib, so Lambda too: the multipart parser hands out the file as a slice of the decoded body instead ' +
        'of a copy; the download URL is signed while the PUT is on the network; the S3 client sends no Expect: 100-continue, so large ' +
        'PUTs keep its keep-alive connection (the baseline gains too). local only: the event size check no longer serializes the ' +
        'event a second time (it took ~30 ms of a 4 MiB upload); large bodies are read into reused buffers instead of joined chunks.',
    };
  },
};

/** In order of the table. */
export const comparisons: readonly Comparison[] = [
  loginVersusCompare,
  unknownVersusKnownLogin,
  meVersusHealth,
  uploadVersusDownload,
  directVersusApiUpload,
  uploadVersusPutObject,
];
