/**
 * Herald's HTTP API for browsers and Node.js: submit jobs, read and follow them (Server-Sent
 * Events, falling back to long polling), read the tenant's event feed, and manage webhook
 * subscriptions, inbound sources and API keys.
 *
 * This module compiles to one self-contained ES module (`dist/index.js`) with no imports at
 * run time: the web console serves exactly that file, under a CSP that allows no other
 * script. So it uses only what browsers and Node.js 20 both have (`fetch`, streams,
 * `TextDecoder`, `AbortController`) and imports nothing but types. Webhook verification needs
 * `node:crypto` and lives apart, in `webhook.ts`.
 *
 * # Layout
 * - {@link Herald}: one method per route, and `follow` / `stream` for live updates.
 * - {@link HeraldError}: every error answer, carrying its RFC 9457 problem document.
 * - `SseParser`: the `text/event-stream` parser `stream` reads with.
 *
 * The wire types come from `schema.ts`, generated from the server's OpenAPI document.
 */

import type { components } from "./schema.js";

type Schemas = components["schemas"];

/** The job resource: what submit, poll, list, cancel, retry and every event carry. */
export type Job = Schemas["JobResource"];
/** A job's status. */
export type JobStatus = Schemas["JobStatus"];
/** The name of a job event (`job.pending` … `job.canceled`). */
export type EventType = Schemas["EventType"];
/** An RFC 9457 problem document, the body of every error answer. */
export type Problem = Schemas["Problem"];
/** A submission's own webhook. */
export type JobWebhook = Schemas["JobHookRequest"];
/** A page of `GET /v1/jobs`. */
export type JobPage = Schemas["JobList"];
/** One event of the tenant's feed (`GET /v1/events`). */
export type FeedEvent = Schemas["EventResource"];
/** A page of the feed. */
export type FeedPage = Schemas["EventPage"];
/** A webhook subscription. */
export type Subscription = Schemas["SubscriptionView"];
/** A subscription with its secret: the answer of creation and rotation only. */
export type SubscriptionWithSecret = Schemas["RevealedSecret"];
/** The body of `POST /v1/webhooks`. */
export type NewSubscription = Schemas["NewSubscription"];
/** The body of `PATCH /v1/webhooks/{id}`. */
export type SubscriptionChange = Schemas["SubscriptionChange"];
/** The body of a subscription's `rotate-secret`. */
export type RotateSecret = Schemas["RotateRequest"];
/** One webhook delivery and its attempts. */
export type Delivery = Schemas["DeliveryView"];
/** A page of deliveries. */
export type DeliveryPage = Schemas["DeliveryList"];
/** The body of a subscription's replay. */
export type ReplayWindow = Schemas["ReplayRequest"];
/** The answer of a subscription's replay. */
export type Replayed = Schemas["Replayed"];
/** An inbound source. */
export type Source = Schemas["SourceView"];
/** A source with its secret: the answer of creation and rotation only. */
export type SourceWithSecret = Schemas["RevealedSource"];
/** The body of `POST /v1/sources`; `PATCH` takes any part of it. */
export type NewSource = Schemas["NewSource"];
/** The body of a source's `rotate-secret`. */
export type RotateSourceSecret = Schemas["SourceRotateRequest"];
/** A page of a source's request log. */
export type SourceRequestPage = Schemas["RequestList"];
/** The body of a source's replay. */
export type SourceReplayWindow = Schemas["SourceReplayRequest"];
/** The answer of a source's replay. */
export type SourceReplayed = Schemas["SourceReplayed"];
/** An API key as listed (never the key itself). */
export type ApiKey = Schemas["KeyView"];
/** A key just created, with the whole key: shown once. */
export type CreatedKey = Schemas["CreatedKey"];
/** The body of `POST /v1/admin/keys`. */
export type NewKey = Schemas["KeyRequest"];
/** A list answer that is always one page (subscriptions, sources). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/** How to reach Herald. */
export interface HeraldOptions {
  /** The server's origin (`https://herald.example`); `""`, the default, is the page's own. */
  baseUrl?: string;
  /** An API key (`hk_…`), sent as `Authorization: Bearer`. */
  key?: string;
  /**
   * A job read token: without a `key`, it is appended as `?token=` to the job read routes
   * (poll, events, result). The links of a job answered to a key already carry one.
   */
  token?: string;
  /** The `fetch` to use; by default the global one. */
  fetch?: typeof fetch;
  /**
   * The `EventSource` class `follow` uses; by default `globalThis.EventSource` (browsers,
   * Node.js 22+). `null`: never use one (follow by long polling).
   */
  EventSource?: (new (url: string) => EventSource) | null;
}

/** One change of one job, as `follow` reports it. */
export interface JobEvent {
  /** `job.pending`, `job.processing`, `job.progress`, `job.completed`, … */
  type: string;
  /** The job's `seq` after the change: the event's id in the job's stream. */
  seq: number;
  /** The job right after the change. */
  job: Job;
}

/** How `follow` reads the job. */
export interface FollowOptions {
  /** Called with every change seen, in order, each `seq` once. */
  onEvent?: (event: JobEvent) => void;
  /**
   * Report only the events after this `seq` (`0`: the whole history the server keeps). Left
   * out, the first event is the job's current state. Over Server-Sent Events the history is
   * replayed; long polling sees only the states it finds, from the current one on.
   */
  from?: number;
  /** Stops following: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * `auto` (default): Server-Sent Events through `EventSource` when there is one, long polling
   * when there is none or when the stream is blocked; `sse`: Server-Sent Events only (fails
   * rather than falls back); `poll`: long polling only.
   */
  transport?: "auto" | "sse" | "poll";
  /**
   * How long the first event may take, in milliseconds, before an event stream counts as
   * blocked (a proxy that buffers it) and `auto` falls back to polling. Default 10,000: the
   * server sends the first event at once.
   */
  firstEventTimeout?: number;
  /**
   * How long, in milliseconds, an event stream that has delivered may stay silent before
   * `follow` reads the job once to check it: when the job has moved on meanwhile and the stream
   * still says nothing, the stream is stuck (a connection that died without closing, which an
   * `EventSource` may never notice) and `follow` goes on by polling (`auto`) or fails (`sse`).
   * A job that is merely quiet costs one read per period. Default 60,000.
   */
  stallTimeout?: number;
}

/** One event of the many-job stream (`GET /v1/events/stream`). */
export interface StreamEvent {
  /** The event's cursor in the tenant's feed: resume after it with `lastEventId`. */
  id: string;
  type: string;
  job: Job;
}

/** What `stream` reads and where its events go. */
export interface StreamOptions {
  /** Only these jobs (at most 100); by default every job of the tenant. */
  jobs?: string[];
  /** Only these event types; by default all. */
  types?: string[];
  /** Resume after this cursor (an event's `id`). */
  lastEventId?: string;
  /** Ends the stream: `stream` then resolves. */
  signal: AbortSignal;
  /** Called with each event, in order, each once. */
  onEvent: (event: StreamEvent) => void;
  /** `open` when a connection is streaming, `reconnecting` when it dropped. */
  onState?: (state: "open" | "reconnecting") => void;
  /**
   * Called when a (re)connection resumed from a cursor the tenant's feed no longer reaches
   * back to (the server answers `Last-Event-ID: earliest`): the events between that cursor and
   * the oldest one kept are gone, and the stream goes on from the oldest kept. Read the state
   * of the jobs you care about again (`get`, `list`) to catch up.
   */
  onMissed?: () => void;
  /**
   * How long a connection may stay silent, in milliseconds, before it is taken for dead and
   * replaced (the server writes at least every 15 s). Default 45,000.
   */
  idleTimeout?: number;
}

/** The query of `GET /v1/jobs`. */
export interface ListQuery {
  status?: JobStatus | string;
  type?: string;
  limit?: number;
  cursor?: string;
}

/** The query of `GET /v1/events`. */
export interface FeedQuery {
  /** A cursor: a previous page's `next_cursor`, or an event's `id`. */
  after?: string;
  limit?: number;
  /** Long poll: wait up to this many seconds (0 to 60) for the first matching event. */
  wait?: number;
  types?: string[];
  jobs?: string[];
}

/** What `submit` sends besides the type and payload. */
export interface SubmitOptions {
  /** Makes a retried submission answer the job the first one created. */
  idempotencyKey?: string;
  /** The job's own webhook. */
  webhook?: JobWebhook;
  /** Any other field of the submission (`timeout_s`, `max_attempts`, `metadata`). */
  [field: string]: unknown;
}

/** An error answer of Herald, with its problem document. */
export class HeraldError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The RFC 9457 body: `type`, `title`, `status`, `detail`, and `errors` on bad fields. */
  readonly problem: Problem;
  /** `Retry-After`, in seconds, when the answer had one (`429`, `503`). */
  readonly retryAfter?: number;
  /** The answer's `X-Request-Id`, which names the request in the server's logs. */
  readonly requestId?: string;

  constructor(problem: Problem, retryAfter?: number, requestId?: string) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = "HeraldError";
    this.status = problem.status;
    this.problem = problem;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
    if (requestId !== undefined) this.requestId = requestId;
  }

  /**
   * The error an answer stands for: its problem document, or one made up from the status
   * when the body is not one (an answer from a proxy, say).
   */
  static async fromResponse(response: Response): Promise<HeraldError> {
    const text = await response.text().catch(() => "");
    let problem: Problem | undefined;
    try {
      const body: unknown = JSON.parse(text);
      if (isProblem(body)) problem = body;
    } catch {
      // Not JSON: described below.
    }
    problem ??= {
      type: "about:blank",
      title: response.statusText || `HTTP ${response.status}`,
      status: response.status,
      detail: text.slice(0, 500),
    };
    return new HeraldError(
      problem,
      retryAfterSeconds(response.headers.get("retry-after")),
      response.headers.get("x-request-id") ?? undefined,
    );
  }
}

/** A Herald API client. */
export class Herald {
  readonly #base: string;
  readonly #key: string | undefined;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;
  readonly #eventSource: (new (url: string) => EventSource) | null | undefined;

  /** Webhook subscriptions (`/v1/webhooks`) and their deliveries. */
  readonly webhooks: {
    list(): Promise<Page<Subscription>>;
    get(id: string): Promise<Subscription>;
    create(body: NewSubscription): Promise<SubscriptionWithSecret>;
    update(id: string, body: SubscriptionChange): Promise<Subscription>;
    remove(id: string): Promise<void>;
    rotateSecret(id: string, body?: RotateSecret): Promise<SubscriptionWithSecret>;
    deliveries(
      id: string,
      query?: { status?: string; limit?: number; cursor?: string },
    ): Promise<DeliveryPage>;
    delivery(id: string): Promise<Delivery>;
    retryDelivery(id: string): Promise<Delivery>;
    replay(id: string, body: ReplayWindow): Promise<Replayed>;
  };

  /** Inbound sources (`/v1/sources`) and their request logs. */
  readonly sources: {
    list(): Promise<Page<Source>>;
    get(id: string): Promise<Source>;
    create(body: NewSource): Promise<SourceWithSecret>;
    update(id: string, body: Partial<NewSource>): Promise<Source>;
    remove(id: string): Promise<void>;
    rotateSecret(id: string, body?: RotateSourceSecret): Promise<SourceWithSecret>;
    requests(
      id: string,
      query?: { outcome?: string; limit?: number; cursor?: string },
    ): Promise<SourceRequestPage>;
    replay(id: string, body: SourceReplayWindow): Promise<SourceReplayed>;
  };

  /** API keys (`/v1/admin/keys`): admin keys only. */
  readonly keys: {
    list(query?: { tenant?: string }): Promise<{ data: ApiKey[] }>;
    create(body: NewKey): Promise<CreatedKey>;
    revoke(id: string): Promise<void>;
  };

  constructor(options: HeraldOptions = {}) {
    this.#base = (options.baseUrl ?? "").replace(/\/+$/, "");
    this.#key = options.key || undefined;
    this.#token = options.token || undefined;
    // Called through a wrapper: a browser's `fetch` throws when called on another `this`.
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#eventSource = options.EventSource;

    const json = <T>(method: string, path: string, request: RequestOptions = {}) =>
      this.#json<T>(method, path, request);
    const none = async (method: string, path: string) => {
      await this.#send(method, path, {});
    };
    const webhook = (id: string) => `/v1/webhooks/${segment(id)}`;
    this.webhooks = {
      list: () => json("GET", "/v1/webhooks"),
      get: (id) => json("GET", webhook(id)),
      create: (body) => json("POST", "/v1/webhooks", { body }),
      update: (id, body) => json("PATCH", webhook(id), { body }),
      remove: (id) => none("DELETE", webhook(id)),
      rotateSecret: (id, body) => json("POST", `${webhook(id)}/rotate-secret`, { body }),
      deliveries: (id, query = {}) => json("GET", `${webhook(id)}/deliveries`, { query }),
      delivery: (id) => json("GET", `/v1/deliveries/${segment(id)}`),
      retryDelivery: (id) => json("POST", `/v1/deliveries/${segment(id)}/retry`),
      replay: (id, body) => json("POST", `${webhook(id)}/replay`, { body }),
    };
    const source = (id: string) => `/v1/sources/${segment(id)}`;
    this.sources = {
      list: () => json("GET", "/v1/sources"),
      get: (id) => json("GET", source(id)),
      create: (body) => json("POST", "/v1/sources", { body }),
      update: (id, body) => json("PATCH", source(id), { body }),
      remove: (id) => none("DELETE", source(id)),
      rotateSecret: (id, body) => json("POST", `${source(id)}/rotate-secret`, { body }),
      requests: (id, query = {}) => json("GET", `${source(id)}/requests`, { query }),
      replay: (id, body) => json("POST", `${source(id)}/replay`, { body }),
    };
    this.keys = {
      list: (query = {}) => json("GET", "/v1/admin/keys", { query }),
      create: (body) => json("POST", "/v1/admin/keys", { body }),
      revoke: (id) => none("DELETE", `/v1/admin/keys/${segment(id)}`),
    };
  }

  /**
   * Submits a job (`POST /v1/jobs`). The answer's links carry a read token while keys are in
   * force; when Herald generated the job's webhook secret, `job.webhook.secret` shows it, once.
   *
   * @throws {HeraldError} `422` on invalid fields (each in `problem.errors`), `503` when the
   *   type's queue is full (see `retryAfter`), …
   */
  async submit(type: string, payload?: unknown, options: SubmitOptions = {}): Promise<Job> {
    const { idempotencyKey, ...fields } = options;
    const body: Record<string, unknown> = { type, ...fields };
    if (payload !== undefined) body.payload = payload;
    const headers: Record<string, string> = {};
    if (idempotencyKey !== undefined) headers["Idempotency-Key"] = idempotencyKey;
    return this.#json("POST", "/v1/jobs", { body, headers });
  }

  /**
   * Reads a job (`GET /v1/jobs/{id}`). With `etag` (a job's `ETag`, or its `seq`), resolves
   * only once the job differs from that version, long polling `wait` seconds per request
   * (default 30, at most 60) until it does or `signal` aborts.
   *
   * @throws {HeraldError} `404` for an unknown job, `429` when the key holds too many long
   *   polls, …
   */
  async get(
    id: string,
    options: { wait?: number; etag?: string; signal?: AbortSignal } = {},
  ): Promise<Job> {
    const { etag, signal } = options;
    const path = jobPath(id);
    if (etag === undefined) return this.#json("GET", path, { read: true, signal });
    const wait = Math.min(60, Math.max(1, Math.round(options.wait ?? 30)));
    for (;;) {
      // The server answers within `wait`: a poll unanswered well past it went astray (a
      // connection that died without closing), so it is given up and sent again.
      const deadline = withDeadline(signal, wait * 1000 + POLL_GRACE_MS);
      try {
        const response = await this.#send("GET", path, {
          read: true,
          signal: deadline.signal,
          query: { wait },
          headers: { "If-None-Match": entityTag(etag) },
          accept: [304],
        });
        if (response.status !== 304) return (await response.json()) as Job;
      } catch (error) {
        if (!deadline.expired) throw error;
      } finally {
        deadline.clear();
      }
    }
  }

  /**
   * Lists jobs, newest first (`GET /v1/jobs`); pass `next_cursor` back as `cursor` for the next
   * page (`null` on the last).
   *
   * @throws {HeraldError} `400` on a bad parameter, each named in `problem.errors`.
   */
  list(query: ListQuery = {}): Promise<JobPage> {
    return this.#json("GET", "/v1/jobs", { query: { ...query } });
  }

  /**
   * Cancels a job: a pending one at once, a processing one is asked to stop (it turns
   * `canceled` a moment later).
   *
   * @throws {HeraldError} `409` when the job is already finished.
   */
  cancel(id: string): Promise<Job> {
    return this.#json("POST", `${jobPath(id)}/cancel`);
  }

  /**
   * Runs a finished job again: `pending` once more, with its earlier attempts kept.
   *
   * @throws {HeraldError} `409` when the job is still pending or processing.
   */
  retry(id: string): Promise<Job> {
    return this.#json("POST", `${jobPath(id)}/retry`);
  }

  /**
   * A completed job's result, as the raw answer (its `Content-Type` says what it is): read it
   * with `blob()`, `text()`, `json()` or stream its `body`. Given a job, uses its result link
   * (with the read token it carries) when no key is set.
   *
   * @throws {HeraldError} `404` (`result-not-available`) before the job completed, or when it
   *   completed without a result.
   */
  result(job: string | Job, options: { signal?: AbortSignal } = {}): Promise<Response> {
    const path =
      typeof job === "string" ? `${jobPath(job)}/result` : this.#readPath(job, "result");
    return this.#send("GET", path, {
      read: true,
      signal: options.signal,
      headers: { Accept: "*/*" },
    });
  }

  /**
   * Follows a job until it is finished and resolves with its terminal state (`completed`,
   * `failed` or `canceled`), reporting every change seen to `onEvent`.
   *
   * With `transport: "auto"` it reads the job's Server-Sent Events through `EventSource` (on
   * the job's `links.events`, whose read token stands in for the key), which resumes by
   * itself with `Last-Event-ID` after a dropped connection. When there is no `EventSource`, or
   * the stream fails before its first event (a proxy that refuses or buffers
   * `text/event-stream`), or it fails for good later, it goes on by long polling
   * (`GET /v1/jobs/{id}?wait=30` with `If-None-Match`), honouring `Retry-After`; events are
   * then derived from each new state seen. A stream silent for `stallTimeout` while the job
   * moved on counts as failed, and a long poll unanswered well past its `wait` is sent again,
   * so a connection that died without closing does not hold `follow` forever.
   *
   * @throws {HeraldError} what the server answered when polling cannot go on (`404`, `401`, …);
   *   the signal's reason when `signal` aborts; an `Error` when `transport: "sse"` cannot
   *   stream.
   */
  async follow(job: Job | string, options: FollowOptions = {}): Promise<Job> {
    const { signal, transport = "auto" } = options;
    signal?.throwIfAborted();
    let known = typeof job === "string" ? await this.get(job, { signal }) : job;
    const EventSourceClass =
      this.#eventSource === null ? null : (this.#eventSource ?? globalThis.EventSource ?? null);
    const from = options.from ?? Number.NEGATIVE_INFINITY;
    const progress = new Following(known, from, options.onEvent);

    if (transport === "sse" || (transport === "auto" && EventSourceClass)) {
      if (!EventSourceClass) {
        throw new Error("transport \"sse\" needs an EventSource: none is available here");
      }
      // An EventSource cannot send the key: it needs a link carrying a read token, which only
      // an answer to the key holds (event snapshots carry none).
      if (this.#key && !hasToken(known.links.events)) {
        known = await this.get(known.id, { signal });
        progress.job = known;
      }
      const readPath = this.#readPath(known, "self");
      const outcome = await this.#followEvents(
        EventSourceClass,
        this.#eventsUrl(known, options.from),
        progress,
        signal,
        options.firstEventTimeout ?? 10_000,
        options.stallTimeout ?? 60_000,
        async () => {
          const deadline = withDeadline(signal, POLL_GRACE_MS);
          try {
            return await this.#json<Job>("GET", readPath, { read: true, signal: deadline.signal });
          } finally {
            deadline.clear();
          }
        },
      );
      if (typeof outcome !== "string") return outcome;
      if (transport === "sse") throw new Error(`the job's event stream failed: ${outcome}`);
    }
    // Polling reads with the key, or with the read token of the first answer's link (the
    // events' snapshots carry none).
    return this.#followByPolling(this.#readPath(known, "self"), progress, signal);
  }

  /**
   * Reads the tenant's many-job event stream (`GET /v1/events/stream`) with `fetch`, so it can
   * send the API key, until `signal` aborts; then it resolves. A dropped connection is
   * reopened after the server's `retry:` delay (backing off while it keeps failing, honouring
   * `Retry-After`) with `Last-Event-ID`, so every event the feed still holds arrives once;
   * `onMissed` says when the feed no longer reached back to the cursor.
   *
   * @throws {HeraldError} any error answer but `429`, `502`, `503` and `504`, which are
   *   retried (`400` a bad filter, `401`, …); and whatever `onEvent` throws.
   */
  async stream(options: StreamOptions): Promise<void> {
    const { signal, onEvent, onState } = options;
    const idleTimeout = options.idleTimeout ?? 45_000;
    const query: Query = {};
    if (options.jobs?.length) query.job = options.jobs.join(",");
    if (options.types?.length) query.types = options.types.join(",");
    const url = this.#url("/v1/events/stream", query, false);
    let lastEventId = options.lastEventId;
    let retryMs = 3000;
    let failures = 0;

    while (!signal.aborted) {
      const connection = new AbortController();
      const abort = () => connection.abort(signal.reason);
      signal.addEventListener("abort", abort, { once: true });
      let idle: ReturnType<typeof setTimeout> | undefined;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(new Error("the stream went silent")), idleTimeout);
      };
      let delay: number | undefined;
      try {
        const headers = this.#headers({ Accept: "text/event-stream" });
        if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
        touch();
        const response = await this.#fetch(url, { headers, signal: connection.signal });
        if (!response.ok) throw await HeraldError.fromResponse(response);
        // Anything else (a proxy's page, a `204`) is no stream: try again later.
        const type = response.headers.get("content-type") ?? "";
        if (!response.body || !type.startsWith("text/event-stream")) {
          throw new Error(`the answer is not an event stream (${response.status} ${type})`);
        }
        failures = 0;
        onState?.("open");
        if (lastEventId !== undefined && response.headers.get("last-event-id") === "earliest") {
          try {
            options.onMissed?.();
          } catch (error) {
            throw new CallbackError(error);
          }
        }
        const parser = new SseParser(
          (event) => {
            lastEventId = event.id;
            let job: Job;
            try {
              job = JSON.parse(event.data) as Job;
            } catch {
              return; // Not a job event: nothing this client knows.
            }
            try {
              onEvent({ id: event.id ?? "", type: event.type, job });
            } catch (error) {
              throw new CallbackError(error);
            }
          },
          (ms) => {
            retryMs = ms;
          },
        );
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          touch();
          parser.push(decoder.decode(value, { stream: true }));
        }
        // The server ended the stream (a restart, a slow reader dropped): reconnect.
      } catch (error) {
        if (error instanceof CallbackError) throw error.cause;
        if (signal.aborted) break;
        if (error instanceof HeraldError && !isTransient(error.status)) throw error;
        failures += 1;
        if (error instanceof HeraldError && error.retryAfter !== undefined) {
          delay = error.retryAfter * 1000;
        }
      } finally {
        clearTimeout(idle);
        signal.removeEventListener("abort", abort);
        // Ends the connection whatever ended the loop (a callback that threw, say).
        connection.abort();
      }
      if (signal.aborted) break;
      onState?.("reconnecting");
      await sleep(delay ?? backoff(retryMs, failures), signal).catch(() => undefined);
    }
  }

  /**
   * Reads a page of the tenant's event feed (`GET /v1/events`). `next_cursor` is never null:
   * pass it back as `after`. With `wait`, an empty answer waits for the first matching event.
   *
   * @throws {HeraldError} `400` on a bad parameter, `429` when the key holds too many long
   *   polls.
   */
  events(query: FeedQuery = {}): Promise<FeedPage> {
    const { jobs, types, ...rest } = query;
    const wire: Query = { ...rest };
    if (types?.length) wire.types = types.join(",");
    if (jobs?.length) wire.job = jobs.join(",");
    return this.#json("GET", "/v1/events", { query: wire });
  }

  /** Reads a job's Server-Sent Events until its terminal event, or says why it cannot. */
  #followEvents(
    EventSourceClass: new (url: string) => EventSource,
    url: string,
    progress: Following,
    signal: AbortSignal | undefined,
    firstEventTimeout: number,
    stallTimeout: number,
    read: () => Promise<Job>,
  ): Promise<Job | string> {
    return new Promise((resolve, reject) => {
      let source: EventSource;
      try {
        source = new EventSourceClass(url);
      } catch (error) {
        resolve(`no EventSource could be opened (${String(error)})`);
        return;
      }
      let delivered = false;
      let settled = false;
      let errorsSinceOpen = 0;
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(watchdog);
        source.close();
        signal?.removeEventListener("abort", onAbort);
        settle();
      };
      // After `stallTimeout` without an event, one read of the job tells a quiet job from a
      // stuck stream: the job moved on and its event did not come (within a grace period).
      const check = async () => {
        let current: Job;
        try {
          current = await read();
        } catch {
          if (!settled) arm(); // Unreadable right now: the EventSource's own errors decide.
          return;
        }
        if (settled) return;
        if (current.seq <= progress.lastSeq) {
          arm();
          return;
        }
        watchdog = setTimeout(() => {
          if (progress.lastSeq < current.seq) {
            finish(() => resolve(`the stream stayed silent while the job moved on`));
          } else {
            arm();
          }
        }, STALL_GRACE_MS);
      };
      const arm = () => {
        if (settled) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => void check(), stallTimeout);
      };
      const onAbort = () => finish(() => reject(signal?.reason));
      signal?.addEventListener("abort", onAbort, { once: true });
      // The first event comes at once (see `#eventsUrl`): a stream that stays silent is held
      // back by something in between.
      const timer = setTimeout(
        () => finish(() => resolve(`no event within ${firstEventTimeout} ms`)),
        firstEventTimeout,
      );
      const onMessage = (message: Event) => {
        const { data, lastEventId, type } = message as MessageEvent<string>;
        delivered = true;
        clearTimeout(timer);
        arm();
        let job: Job;
        try {
          job = JSON.parse(data) as Job;
        } catch {
          finish(() => resolve(`a ${type} event whose data is not JSON`));
          return;
        }
        try {
          progress.report(type, Number(lastEventId) || job.seq, job);
        } catch (error) {
          finish(() => reject(error));
          return;
        }
        if (TERMINAL_EVENTS.has(type)) finish(() => resolve(job));
      };
      for (const type of EVENT_TYPES) source.addEventListener(type, onMessage);
      source.addEventListener("open", () => {
        errorsSinceOpen = 0;
      });
      source.addEventListener("error", () => {
        errorsSinceOpen += 1;
        if (!delivered) {
          finish(() => resolve("the stream failed before its first event"));
        } else if (source.readyState === CLOSED) {
          // Refused (a `401` once the token expired, say): the EventSource gave up.
          finish(() => resolve("the stream was refused"));
        } else if (errorsSinceOpen > MAX_RECONNECTS) {
          finish(() => resolve(`${MAX_RECONNECTS} reconnections failed`));
        }
        // Otherwise the EventSource reconnects by itself, sending `Last-Event-ID`.
      });
    });
  }

  /** Long polls the job at `path` until it is finished. */
  async #followByPolling(
    path: string,
    progress: Following,
    signal: AbortSignal | undefined,
  ): Promise<Job> {
    // The known state counts, unless it was reported already or precedes `from`.
    progress.report(eventTypeOf(progress.job), progress.job.seq, progress.job);
    let failures = 0;
    while (!isFinished(progress.job)) {
      let job: Job | undefined;
      // A poll unanswered well past its `wait` went astray: it is given up and sent again.
      const deadline = withDeadline(signal, POLL_WAIT_S * 1000 + POLL_GRACE_MS);
      try {
        const response = await this.#send("GET", path, {
          read: true,
          signal: deadline.signal,
          query: { wait: POLL_WAIT_S },
          headers: { "If-None-Match": entityTag(String(progress.job.seq)) },
          accept: [304],
        });
        if (response.status !== 304) job = (await response.json()) as Job;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        // Busy (`429`, `503`), a proxy's `502`/`504`, or no answer at all: wait, then go on.
        const transient = error instanceof HeraldError ? isTransient(error.status) : true;
        if (!transient) throw error;
        failures += 1;
        const after = error instanceof HeraldError ? error.retryAfter : undefined;
        await sleep(after !== undefined ? after * 1000 : backoff(1000, failures), signal);
        continue;
      } finally {
        deadline.clear();
      }
      failures = 0;
      if (job !== undefined) progress.report(eventTypeOf(job), job.seq, job);
    }
    return progress.job;
  }

  /**
   * The URL of the job's event stream, for an `EventSource`: its link (with the read token
   * the answer put there), or the plain route with this client's token.
   *
   * A stream resumed after `from` says nothing until the job changes again, which would look
   * just like a stream held back by a proxy. So it resumes one event earlier than the job's
   * known `seq` when that is sooner, and the event already seen is skipped by `seq`: a working
   * stream always sends something at once.
   */
  #eventsUrl(job: Job, from: number | undefined): string {
    const link = hasToken(job.links.events)
      ? this.#absolute(job.links.events)
      : this.#url(`${jobPath(job.id)}/events`, {}, true);
    if (from === undefined) return link;
    const after = Math.max(0, Math.min(from, job.seq - 1));
    return withQuery(link, { last_event_id: after });
  }

  /**
   * The path to read one of the job's representations: the plain route when a key is sent,
   * else the job's link when it carries a read token (the client's own token is added to a
   * plain route by `#url`).
   */
  #readPath(job: Job, kind: "self" | "result"): string {
    const link = job.links[kind];
    if (!this.#key && hasToken(link)) return link;
    return kind === "self" ? jobPath(job.id) : `${jobPath(job.id)}/result`;
  }

  async #json<T>(method: string, path: string, request: RequestOptions = {}): Promise<T> {
    const response = await this.#send(method, path, request);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** Sends a request; an answer that is not `2xx` (nor in `accept`) becomes a `HeraldError`. */
  async #send(method: string, path: string, request: RequestOptions): Promise<Response> {
    const headers = this.#headers(request.headers ?? {});
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers["Content-Type"] = "application/json";
    }
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (request.signal) init.signal = request.signal;
    const response = await this.#fetch(
      this.#url(path, request.query ?? {}, request.read ?? false),
      init,
    );
    if (!response.ok && !request.accept?.includes(response.status)) {
      throw await HeraldError.fromResponse(response);
    }
    return response;
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { Accept: "application/json", ...extra };
    if (this.#key) headers.Authorization = `Bearer ${this.#key}`;
    return headers;
  }

  /**
   * The URL of `path` (a route, or a link the server gave) with `query`; the read token goes
   * on a job read route when no key is sent and the path does not carry one already.
   */
  #url(path: string, query: Query, read: boolean): string {
    const params: Query = { ...query };
    if (read && !this.#key && this.#token && !hasToken(path)) params.token = this.#token;
    return withQuery(this.#absolute(path), params);
  }

  /** A path on the server as a URL of `baseUrl` (links are absolute paths); URLs stay. */
  #absolute(path: string): string {
    return /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : `${this.#base}${path}`;
  }
}

/** The options of one request. */
interface RequestOptions {
  query?: Query;
  /** A JSON body. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** A job read route, which takes a read token in place of a key. */
  read?: boolean;
  /** Statuses besides `2xx` that are answers rather than errors (`304`). */
  accept?: number[];
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** What `follow` knows of the job, shared by its two transports. */
class Following {
  constructor(
    /** The newest version of the job known. */
    public job: Job,
    /** The `seq` of the last event reported (or `from`). */
    public lastSeq: number,
    private readonly onEvent: ((event: JobEvent) => void) | undefined,
  ) {}

  /** Records a version of the job, reporting it when it is newer than any reported. */
  report(type: string, seq: number, job: Job): void {
    if (seq >= this.job.seq) this.job = job;
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    this.onEvent?.({ type, seq, job });
  }
}

/** Carries an error thrown by a caller's callback through the stream's own error handling. */
class CallbackError extends Error {
  constructor(override readonly cause: unknown) {
    super("a callback threw");
  }
}

/** One event of a `text/event-stream`: its type (`message` when unnamed) and data. */
export interface SseEvent {
  /** The last event id seen on the stream, this event's or an earlier one's. */
  id: string | undefined;
  type: string;
  data: string;
}

/**
 * A `text/event-stream` parser (the WHATWG HTML "event stream interpretation"): text in, one
 * call per dispatched event, with the last event id and any `retry:` hint.
 */
export class SseParser {
  /**
   * The most text one event (or one line) may hold before the stream counts as broken: a job
   * event is a few KiB, and a stream that never ends its line must not grow without bound.
   */
  static readonly MAX_EVENT_CHARS = 8 * 1024 * 1024;

  #buffer = "";
  #data: string[] = [];
  #dataChars = 0;
  #type = "";
  #lastEventId: string | undefined;
  #started = false;
  #afterCr = false;

  constructor(
    private readonly onEvent: (event: SseEvent) => void,
    private readonly onRetry: (ms: number) => void = () => {},
  ) {}

  /** Feeds decoded text; complete lines are interpreted at once. */
  push(text: string): void {
    if (text.length === 0) return;
    // A CR that ended the previous chunk ended its line; a LF right after it belongs to it.
    if (this.#afterCr && text.startsWith("\n")) text = text.slice(1);
    this.#afterCr = false;
    this.#buffer += text;
    if (!this.#started && this.#buffer.length > 0) {
      this.#started = true;
      if (this.#buffer.charCodeAt(0) === 0xfeff) this.#buffer = this.#buffer.slice(1);
    }
    let start = 0;
    for (;;) {
      const cr = this.#buffer.indexOf("\r", start);
      const lf = this.#buffer.indexOf("\n", start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr === this.#buffer.length - 1) {
          this.#afterCr = true;
          next = cr + 1;
        } else {
          next = this.#buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.#line(this.#buffer.slice(start, end));
      start = next;
    }
    this.#buffer = this.#buffer.slice(start);
    if (this.#buffer.length + this.#dataChars > SseParser.MAX_EVENT_CHARS) {
      throw new Error(
        `an event of the stream is longer than ${SseParser.MAX_EVENT_CHARS} characters`,
      );
    }
  }

  #line(line: string): void {
    if (line === "") {
      this.#dispatch();
      return;
    }
    if (line.startsWith(":")) return; // A comment: a heartbeat.
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#type = value;
        break;
      case "data":
        this.#data.push(value);
        this.#dataChars += value.length + 1;
        break;
      case "id":
        if (!value.includes("\0")) this.#lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.onRetry(Number(value));
        break;
      default:
        break; // Unknown fields are ignored.
    }
  }

  #dispatch(): void {
    const type = this.#type || "message";
    this.#type = "";
    if (this.#data.length === 0) return;
    const data = this.#data.join("\n");
    this.#data = [];
    this.#dataChars = 0;
    this.onEvent({ id: this.#lastEventId, type, data });
  }
}

const EVENT_TYPES: readonly EventType[] = [
  "job.pending",
  "job.processing",
  "job.progress",
  "job.completed",
  "job.failed",
  "job.canceled",
];
const TERMINAL_EVENTS: ReadonlySet<string> = new Set([
  "job.completed",
  "job.failed",
  "job.canceled",
]);

/** `EventSource.CLOSED`, which not every implementation puts on its instances. */
const CLOSED = 2;

/** Failed reconnections in a row after which `follow` stops trusting an `EventSource`. */
const MAX_RECONNECTS = 3;

/** Seconds one long poll of `follow` waits (the server allows up to 60). */
const POLL_WAIT_S = 30;

/**
 * How long past its `wait` a long poll may go unanswered before it counts as lost (and how
 * long the one read that checks a silent stream may take).
 */
const POLL_GRACE_MS = 10_000;

/** How long a stream that missed a change of the job is given to send it after all. */
const STALL_GRACE_MS = 5_000;

/** The longest pause between two attempts to reconnect or poll again. */
const MAX_BACKOFF_MS = 30_000;

function isFinished(job: Job): boolean {
  return job.status === "completed" || job.status === "failed" || job.status === "canceled";
}

/** The event a new state of the job stands for, for clients that poll. */
function eventTypeOf(job: Job): string {
  if (job.status === "processing" && job.progress) return "job.progress";
  return `job.${job.status}`;
}

/** Answers worth asking again: rate limited, busy or unavailable, a proxy's gateway errors. */
function isTransient(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

function isProblem(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const { type, title, status } = value as Record<string, unknown>;
  return typeof type === "string" && typeof title === "string" && typeof status === "number";
}

/** `Retry-After` in seconds: a number of seconds, or an HTTP date. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** `base` doubling with each failure in a row (the first waits `base`), capped, ±20 %. */
function backoff(base: number, failures: number): number {
  const delay = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.max(0, failures - 1));
  return delay * (0.8 + Math.random() * 0.4);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A signal that aborts with `signal` or after `ms`, whichever comes first; `expired` says the
 * time ran out (and not `signal`). `clear` once the request is done.
 */
function withDeadline(
  signal: AbortSignal | undefined,
  ms: number,
): { signal: AbortSignal; readonly expired: boolean; clear(): void } {
  const controller = new AbortController();
  let expired = false;
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new Error(`no answer within ${ms} ms`));
  }, ms);
  return {
    signal: controller.signal,
    get expired() {
      return expired && !signal?.aborted;
    },
    clear() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/** An `ETag` as `If-None-Match` takes it: a job's `seq` is quoted, a tag stays as it is. */
function entityTag(etag: string): string {
  return /^\d+$/.test(etag) ? `"${etag}"` : etag;
}

function hasToken(link: string): boolean {
  return /[?&]token=/.test(link);
}

function segment(id: string): string {
  return encodeURIComponent(id);
}

function jobPath(id: string): string {
  return `/v1/jobs/${segment(id)}`;
}

/** `url` with `query` added (empty values left out). */
function withQuery(url: string, query: Query): string {
  const pairs: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
  }
  if (pairs.length === 0) return url;
  return `${url}${url.includes("?") ? "&" : "?"}${pairs.join("&")}`;
}
