// herald-bench's BullMQ side: the same no-op jobs as Herald's job phases, on the same private
// Redis, so that the report can put Herald beside BullMQ. `herald-bench` writes this file next
// to the `node_modules` it installed the pinned BullMQ into, and starts it once per process:
//
//   node bench.mjs worker --redis-url URL --queue NAME --concurrency C --limit-seconds S
//   node bench.mjs add    --redis-url URL --queue NAME --in-flight K --warmup-ms W --duration-ms D --limit-seconds S
//   node bench.mjs e2e    --redis-url URL --queue NAME --in-flight K --jobs N --timeout-ms T --limit-seconds S
//
// Every process logs `herald-bench-bullmq ready` once connected. `add` and `e2e` then wait for
// SIGUSR2 (the tool sends it once it has sampled CPU time) and print one line
// `herald-bench-bullmq result {json}` before exiting. Every process ends itself after
// --limit-seconds whatever happens; trouble is logged as `herald-bench-bullmq ERROR …`, which the
// tool counts like Herald's own `ERROR` lines.

import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';

const TAG = 'herald-bench-bullmq';

function fail(message) {
  console.log(`${TAG} ERROR ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || i + 1 >= argv.length) {
      fail(`bad arguments: ${argv.join(' ')}`);
    }
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

function number(args, name) {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < 0) {
    fail(`--${name} is not a number: ${args[name]}`);
  }
  return value;
}

const [mode, ...rest] = process.argv.slice(2);
const args = parseArgs(rest);
const url = new URL(args['redis-url'] ?? fail('--redis-url is missing'));
const connection = { host: url.hostname, port: Number(url.port) };
const queueName = args.queue ?? fail('--queue is missing');

// Bounded whatever happens: a process past its limit says so and ends.
setTimeout(() => fail(`${mode} ran past its ${args['limit-seconds']} s limit`),
  number(args, 'limit-seconds') * 1000).unref();

// The job Herald's phases submit, `{"type":"demo.sleep","payload":{"seconds":0}}`, kept once
// completed, as Herald keeps its jobs.
const JOB_NAME = 'demo.sleep';
const JOB_DATA = { seconds: 0 };
const JOB_OPTIONS = { removeOnComplete: false };

// Resolves on the tool's SIGUSR2.
function started() {
  return new Promise((resolve) => process.once('SIGUSR2', resolve));
}

function firstLine(error) {
  return String(error?.message ?? error).split('\n')[0];
}

async function worker() {
  let failures = 0;
  const w = new Worker(queueName, async () => {}, {
    connection,
    concurrency: number(args, 'concurrency'),
  });
  w.on('failed', (job, error) => {
    failures += 1;
    if (failures === 1) {
      console.log(`${TAG} ERROR job ${job?.id} failed: ${firstLine(error)}`);
    }
  });
  w.on('error', (error) => console.log(`${TAG} ERROR worker: ${firstLine(error)}`));
  await w.waitUntilReady();
  console.log(`${TAG} ready`);
  // Runs until the tool's SIGTERM (node's default action ends the process) or the limit.
}

// Closed loop: `inFlight` loops, each adding the next job when the previous add resolved.
// Adds that resolve inside [warm-up end, warm-up end + duration] count, with their latency.
async function add(queue) {
  const inFlight = number(args, 'in-flight');
  const start = performance.now();
  const windowStart = start + number(args, 'warmup-ms');
  const windowEnd = windowStart + number(args, 'duration-ms');
  const latencies = [];
  let errors = 0;
  let firstError = null;
  const loop = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= windowEnd) {
        return;
      }
      try {
        await queue.add(JOB_NAME, JOB_DATA, JOB_OPTIONS);
        const answered = performance.now();
        if (answered >= windowStart && answered <= windowEnd) {
          latencies.push(answered - sent);
        }
      } catch (error) {
        errors += 1;
        firstError ??= firstLine(error);
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const sorted = Float64Array.from(latencies).sort();
  const at = (q) => (sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] : 0);
  return {
    in_flight: inFlight,
    seconds: (windowEnd - windowStart) / 1000,
    added: sorted.length,
    errors,
    first_error: firstError,
    latency: {
      count: sorted.length,
      p50_ms: at(0.5),
      p90_ms: at(0.9),
      p99_ms: at(0.99),
      max_ms: sorted.length ? sorted[sorted.length - 1] : 0,
    },
  };
}

// Adds `jobs` jobs with `inFlight` adds at a time, then watches the counts every 10 ms until
// every added job is completed or failed (or the timeout): first add to last completion, as
// Herald's end-to-end phase measures first submission to nothing pending or processing.
async function e2e(queue) {
  const jobs = number(args, 'jobs');
  const inFlight = number(args, 'in-flight');
  const start = performance.now();
  const deadline = start + number(args, 'timeout-ms');
  let remaining = jobs;
  let added = 0;
  let errors = 0;
  let firstError = null;
  const loop = async () => {
    while (remaining > 0) {
      remaining -= 1;
      try {
        await queue.add(JOB_NAME, JOB_DATA, JOB_OPTIONS);
        added += 1;
      } catch (error) {
        errors += 1;
        firstError ??= firstLine(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, jobs) }, loop));
  const addSeconds = (performance.now() - start) / 1000;
  let drained = false;
  let counts;
  for (;;) {
    counts = await queue.getJobCounts('completed', 'failed');
    if (counts.completed + counts.failed >= added) {
      drained = true;
      break;
    }
    if (performance.now() >= deadline) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const totalSeconds = (performance.now() - start) / 1000;
  const left = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
  return {
    jobs,
    added,
    errors,
    first_error: firstError,
    add_seconds: addSeconds,
    total_seconds: totalSeconds,
    drained,
    completed: counts.completed,
    failed: counts.failed,
    stuck: left.waiting + left.active + left.delayed + left.prioritized,
  };
}

async function producer(measure) {
  const queue = new Queue(queueName, { connection });
  queue.on('error', (error) => console.log(`${TAG} ERROR queue: ${firstLine(error)}`));
  const go = started();
  await queue.waitUntilReady();
  console.log(`${TAG} ready`);
  await go;
  const result = await measure(queue);
  console.log(`${TAG} result ${JSON.stringify(result)}`);
  await queue.close();
  process.exit(0);
}

try {
  switch (mode) {
    case 'worker':
      await worker();
      break;
    case 'add':
      await producer(add);
      break;
    case 'e2e':
      await producer(e2e);
      break;
    default:
      fail(`unknown mode ${mode}: worker, add or e2e`);
  }
} catch (error) {
  fail(firstLine(error));
}
