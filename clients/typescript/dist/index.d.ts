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
export declare class HeraldError extends Error {
    /** The HTTP status. */
    readonly status: number;
    /** The RFC 9457 body: `type`, `title`, `status`, `detail`, and `errors` on bad fields. */
    readonly problem: Problem;
    /** `Retry-After`, in seconds, when the answer had one (`429`, `503`). */
    readonly retryAfter?: number;
    /** The answer's `X-Request-Id`, which names the request in the server's logs. */
    readonly requestId?: string;
    constructor(problem: Problem, retryAfter?: number, requestId?: string);
    /**
     * The error an answer stands for: its problem document, or one made up from the status
     * when the body is not one (an answer from a proxy, say).
     */
    static fromResponse(response: Response): Promise<HeraldError>;
}
/** A Herald API client. */
export declare class Herald {
    #private;
    /** Webhook subscriptions (`/v1/webhooks`) and their deliveries. */
    readonly webhooks: {
        list(): Promise<Page<Subscription>>;
        get(id: string): Promise<Subscription>;
        create(body: NewSubscription): Promise<SubscriptionWithSecret>;
        update(id: string, body: SubscriptionChange): Promise<Subscription>;
        remove(id: string): Promise<void>;
        rotateSecret(id: string, body?: RotateSecret): Promise<SubscriptionWithSecret>;
        deliveries(id: string, query?: {
            status?: string;
            limit?: number;
            cursor?: string;
        }): Promise<DeliveryPage>;
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
        requests(id: string, query?: {
            outcome?: string;
            limit?: number;
            cursor?: string;
        }): Promise<SourceRequestPage>;
        replay(id: string, body: SourceReplayWindow): Promise<SourceReplayed>;
    };
    /** API keys (`/v1/admin/keys`): admin keys only. */
    readonly keys: {
        list(query?: {
            tenant?: string;
        }): Promise<{
            data: ApiKey[];
        }>;
        create(body: NewKey): Promise<CreatedKey>;
        revoke(id: string): Promise<void>;
    };
    constructor(options?: HeraldOptions);
    /**
     * Submits a job (`POST /v1/jobs`). The answer's links carry a read token while keys are in
     * force; when Herald generated the job's webhook secret, `job.webhook.secret` shows it, once.
     *
     * @throws {HeraldError} `422` on invalid fields (each in `problem.errors`), `503` when the
     *   type's queue is full (see `retryAfter`), …
     */
    submit(type: string, payload?: unknown, options?: SubmitOptions): Promise<Job>;
    /**
     * Reads a job (`GET /v1/jobs/{id}`). With `etag` (a job's `ETag`, or its `seq`), resolves
     * only once the job differs from that version, long polling `wait` seconds per request
     * (default 30, at most 60) until it does or `signal` aborts.
     *
     * @throws {HeraldError} `404` for an unknown job, `429` when the key holds too many long
     *   polls, …
     */
    get(id: string, options?: {
        wait?: number;
        etag?: string;
        signal?: AbortSignal;
    }): Promise<Job>;
    /**
     * Lists jobs, newest first (`GET /v1/jobs`); pass `next_cursor` back as `cursor` for the next
     * page (`null` on the last).
     *
     * @throws {HeraldError} `400` on a bad parameter, each named in `problem.errors`.
     */
    list(query?: ListQuery): Promise<JobPage>;
    /**
     * Cancels a job: a pending one at once, a processing one is asked to stop (it turns
     * `canceled` a moment later).
     *
     * @throws {HeraldError} `409` when the job is already finished.
     */
    cancel(id: string): Promise<Job>;
    /**
     * Runs a finished job again: `pending` once more, with its earlier attempts kept.
     *
     * @throws {HeraldError} `409` when the job is still pending or processing.
     */
    retry(id: string): Promise<Job>;
    /**
     * A completed job's result, as the raw answer (its `Content-Type` says what it is): read it
     * with `blob()`, `text()`, `json()` or stream its `body`. Given a job, uses its result link
     * (with the read token it carries) when no key is set.
     *
     * @throws {HeraldError} `404` (`result-not-available`) before the job completed, or when it
     *   completed without a result.
     */
    result(job: string | Job, options?: {
        signal?: AbortSignal;
    }): Promise<Response>;
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
    follow(job: Job | string, options?: FollowOptions): Promise<Job>;
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
    stream(options: StreamOptions): Promise<void>;
    /**
     * Reads a page of the tenant's event feed (`GET /v1/events`). `next_cursor` is never null:
     * pass it back as `after`. With `wait`, an empty answer waits for the first matching event.
     *
     * @throws {HeraldError} `400` on a bad parameter, `429` when the key holds too many long
     *   polls.
     */
    events(query?: FeedQuery): Promise<FeedPage>;
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
export declare class SseParser {
    #private;
    private readonly onEvent;
    private readonly onRetry;
    /**
     * The most text one event (or one line) may hold before the stream counts as broken: a job
     * event is a few KiB, and a stream that never ends its line must not grow without bound.
     */
    static readonly MAX_EVENT_CHARS: number;
    constructor(onEvent: (event: SseEvent) => void, onRetry?: (ms: number) => void);
    /** Feeds decoded text; complete lines are interpreted at once. */
    push(text: string): void;
}
export {};
