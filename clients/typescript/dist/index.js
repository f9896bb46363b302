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
/** An error answer of Herald, with its problem document. */
export class HeraldError extends Error {
    /** The HTTP status. */
    status;
    /** The RFC 9457 body: `type`, `title`, `status`, `detail`, and `errors` on bad fields. */
    problem;
    /** `Retry-After`, in seconds, when the answer had one (`429`, `503`). */
    retryAfter;
    /** The answer's `X-Request-Id`, which names the request in the server's logs. */
    requestId;
    constructor(problem, retryAfter, requestId) {
        super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
        this.name = "HeraldError";
        this.status = problem.status;
        this.problem = problem;
        if (retryAfter !== undefined)
            this.retryAfter = retryAfter;
        if (requestId !== undefined)
            this.requestId = requestId;
    }
    /**
     * The error an answer stands for: its problem document, or one made up from the status
     * when the body is not one (an answer from a proxy, say).
     */
    static async fromResponse(response) {
        const text = await response.text().catch(() => "");
        let problem;
        try {
            const body = JSON.parse(text);
            if (isProblem(body))
                problem = body;
        }
        catch {
            // Not JSON: described below.
        }
        problem ??= {
            type: "about:blank",
            title: response.statusText || `HTTP ${response.status}`,
            status: response.status,
            detail: text.slice(0, 500),
        };
        return new HeraldError(problem, retryAfterSeconds(response.headers.get("retry-after")), response.headers.get("x-request-id") ?? undefined);
    }
}
/** A Herald API client. */
export class Herald {
    #base;
    #key;
    #token;
    #fetch;
    #eventSource;
    /** Webhook subscriptions (`/v1/webhooks`) and their deliveries. */
    webhooks;
    /** Inbound sources (`/v1/sources`) and their request logs. */
    sources;
    /** API keys (`/v1/admin/keys`): admin keys only. */
    keys;
    constructor(options = {}) {
        this.#base = (options.baseUrl ?? "").replace(/\/+$/, "");
        this.#key = options.key || undefined;
        this.#token = options.token || undefined;
        // Called through a wrapper: a browser's `fetch` throws when called on another `this`.
        this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
        this.#eventSource = options.EventSource;
        const json = (method, path, request = {}) => this.#json(method, path, request);
        const none = async (method, path) => {
            await this.#send(method, path, {});
        };
        const webhook = (id) => `/v1/webhooks/${segment(id)}`;
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
        const source = (id) => `/v1/sources/${segment(id)}`;
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
    async submit(type, payload, options = {}) {
        const { idempotencyKey, ...fields } = options;
        const body = { type, ...fields };
        if (payload !== undefined)
            body.payload = payload;
        const headers = {};
        if (idempotencyKey !== undefined)
            headers["Idempotency-Key"] = idempotencyKey;
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
    async get(id, options = {}) {
        const { etag, signal } = options;
        const path = jobPath(id);
        if (etag === undefined)
            return this.#json("GET", path, { read: true, signal });
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
                if (response.status !== 304)
                    return (await response.json());
            }
            catch (error) {
                if (!deadline.expired)
                    throw error;
            }
            finally {
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
    list(query = {}) {
        return this.#json("GET", "/v1/jobs", { query: { ...query } });
    }
    /**
     * Cancels a job: a pending one at once, a processing one is asked to stop (it turns
     * `canceled` a moment later).
     *
     * @throws {HeraldError} `409` when the job is already finished.
     */
    cancel(id) {
        return this.#json("POST", `${jobPath(id)}/cancel`);
    }
    /**
     * Runs a finished job again: `pending` once more, with its earlier attempts kept.
     *
     * @throws {HeraldError} `409` when the job is still pending or processing.
     */
    retry(id) {
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
    result(job, options = {}) {
        const path = typeof job === "string" ? `${jobPath(job)}/result` : this.#readPath(job, "result");
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
    async follow(job, options = {}) {
        const { signal, transport = "auto" } = options;
        signal?.throwIfAborted();
        let known = typeof job === "string" ? await this.get(job, { signal }) : job;
        const EventSourceClass = this.#eventSource === null ? null : (this.#eventSource ?? globalThis.EventSource ?? null);
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
            const outcome = await this.#followEvents(EventSourceClass, this.#eventsUrl(known, options.from), progress, signal, options.firstEventTimeout ?? 10_000, options.stallTimeout ?? 60_000, async () => {
                const deadline = withDeadline(signal, POLL_GRACE_MS);
                try {
                    return await this.#json("GET", readPath, { read: true, signal: deadline.signal });
                }
                finally {
                    deadline.clear();
                }
            });
            if (typeof outcome !== "string")
                return outcome;
            if (transport === "sse")
                throw new Error(`the job's event stream failed: ${outcome}`);
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
    async stream(options) {
        const { signal, onEvent, onState } = options;
        const idleTimeout = options.idleTimeout ?? 45_000;
        const query = {};
        if (options.jobs?.length)
            query.job = options.jobs.join(",");
        if (options.types?.length)
            query.types = options.types.join(",");
        const url = this.#url("/v1/events/stream", query, false);
        let lastEventId = options.lastEventId;
        let retryMs = 3000;
        let failures = 0;
        while (!signal.aborted) {
            const connection = new AbortController();
            const abort = () => connection.abort(signal.reason);
            signal.addEventListener("abort", abort, { once: true });
            let idle;
            const touch = () => {
                clearTimeout(idle);
                idle = setTimeout(() => connection.abort(new Error("the stream went silent")), idleTimeout);
            };
            let delay;
            try {
                const headers = this.#headers({ Accept: "text/event-stream" });
                if (lastEventId !== undefined)
                    headers["Last-Event-ID"] = lastEventId;
                touch();
                const response = await this.#fetch(url, { headers, signal: connection.signal });
                if (!response.ok)
                    throw await HeraldError.fromResponse(response);
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
                    }
                    catch (error) {
                        throw new CallbackError(error);
                    }
                }
                const parser = new SseParser((event) => {
                    lastEventId = event.id;
                    let job;
                    try {
                        job = JSON.parse(event.data);
                    }
                    catch {
                        return; // Not a job event: nothing this client knows.
                    }
                    try {
                        onEvent({ id: event.id ?? "", type: event.type, job });
                    }
                    catch (error) {
                        throw new CallbackError(error);
                    }
                }, (ms) => {
                    retryMs = ms;
                });
                const reader = response.body.getReader();
                const decoder = new TextDecoder();
                for (;;) {
                    const { done, value } = await reader.read();
                    if (done)
                        break;
                    touch();
                    parser.push(decoder.decode(value, { stream: true }));
                }
                // The server ended the stream (a restart, a slow reader dropped): reconnect.
            }
            catch (error) {
                if (error instanceof CallbackError)
                    throw error.cause;
                if (signal.aborted)
                    break;
                if (error instanceof HeraldError && !isTransient(error.status))
                    throw error;
                failures += 1;
                if (error instanceof HeraldError && error.retryAfter !== undefined) {
                    delay = error.retryAfter * 1000;
                }
            }
            finally {
                clearTimeout(idle);
                signal.removeEventListener("abort", abort);
                // Ends the connection whatever ended the loop (a callback that threw, say).
                connection.abort();
            }
            if (signal.aborted)
                break;
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
    events(query = {}) {
        const { jobs, types, ...rest } = query;
        const wire = { ...rest };
        if (types?.length)
            wire.types = types.join(",");
        if (jobs?.length)
            wire.job = jobs.join(",");
        return this.#json("GET", "/v1/events", { query: wire });
    }
    /** Reads a job's Server-Sent Events until its terminal event, or says why it cannot. */
    #followEvents(EventSourceClass, url, progress, signal, firstEventTimeout, stallTimeout, read) {
        return new Promise((resolve, reject) => {
            let source;
            try {
                source = new EventSourceClass(url);
            }
            catch (error) {
                resolve(`no EventSource could be opened (${String(error)})`);
                return;
            }
            let delivered = false;
            let settled = false;
            let errorsSinceOpen = 0;
            let watchdog;
            const finish = (settle) => {
                if (settled)
                    return;
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
                let current;
                try {
                    current = await read();
                }
                catch {
                    if (!settled)
                        arm(); // Unreadable right now: the EventSource's own errors decide.
                    return;
                }
                if (settled)
                    return;
                if (current.seq <= progress.lastSeq) {
                    arm();
                    return;
                }
                watchdog = setTimeout(() => {
                    if (progress.lastSeq < current.seq) {
                        finish(() => resolve(`the stream stayed silent while the job moved on`));
                    }
                    else {
                        arm();
                    }
                }, STALL_GRACE_MS);
            };
            const arm = () => {
                if (settled)
                    return;
                clearTimeout(watchdog);
                watchdog = setTimeout(() => void check(), stallTimeout);
            };
            const onAbort = () => finish(() => reject(signal?.reason));
            signal?.addEventListener("abort", onAbort, { once: true });
            // The first event comes at once (see `#eventsUrl`): a stream that stays silent is held
            // back by something in between.
            const timer = setTimeout(() => finish(() => resolve(`no event within ${firstEventTimeout} ms`)), firstEventTimeout);
            const onMessage = (message) => {
                const { data, lastEventId, type } = message;
                delivered = true;
                clearTimeout(timer);
                arm();
                let job;
                try {
                    job = JSON.parse(data);
                }
                catch {
                    finish(() => resolve(`a ${type} event whose data is not JSON`));
                    return;
                }
                try {
                    progress.report(type, Number(lastEventId) || job.seq, job);
                }
                catch (error) {
                    finish(() => reject(error));
                    return;
                }
                if (TERMINAL_EVENTS.has(type))
                    finish(() => resolve(job));
            };
            for (const type of EVENT_TYPES)
                source.addEventListener(type, onMessage);
            source.addEventListener("open", () => {
                errorsSinceOpen = 0;
            });
            source.addEventListener("error", () => {
                errorsSinceOpen += 1;
                if (!delivered) {
                    finish(() => resolve("the stream failed before its first event"));
                }
                else if (source.readyState === CLOSED) {
                    // Refused (a `401` once the token expired, say): the EventSource gave up.
                    finish(() => resolve("the stream was refused"));
                }
                else if (errorsSinceOpen > MAX_RECONNECTS) {
                    finish(() => resolve(`${MAX_RECONNECTS} reconnections failed`));
                }
                // Otherwise the EventSource reconnects by itself, sending `Last-Event-ID`.
            });
        });
    }
    /** Long polls the job at `path` until it is finished. */
    async #followByPolling(path, progress, signal) {
        // The known state counts, unless it was reported already or precedes `from`.
        progress.report(eventTypeOf(progress.job), progress.job.seq, progress.job);
        let failures = 0;
        while (!isFinished(progress.job)) {
            let job;
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
                if (response.status !== 304)
                    job = (await response.json());
            }
            catch (error) {
                if (signal?.aborted)
                    throw signal.reason;
                // Busy (`429`, `503`), a proxy's `502`/`504`, or no answer at all: wait, then go on.
                const transient = error instanceof HeraldError ? isTransient(error.status) : true;
                if (!transient)
                    throw error;
                failures += 1;
                const after = error instanceof HeraldError ? error.retryAfter : undefined;
                await sleep(after !== undefined ? after * 1000 : backoff(1000, failures), signal);
                continue;
            }
            finally {
                deadline.clear();
            }
            failures = 0;
            if (job !== undefined)
                progress.report(eventTypeOf(job), job.seq, job);
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
    #eventsUrl(job, from) {
        const link = hasToken(job.links.events)
            ? this.#absolute(job.links.events)
            : this.#url(`${jobPath(job.id)}/events`, {}, true);
        if (from === undefined)
            return link;
        const after = Math.max(0, Math.min(from, job.seq - 1));
        return withQuery(link, { last_event_id: after });
    }
    /**
     * The path to read one of the job's representations: the plain route when a key is sent,
     * else the job's link when it carries a read token (the client's own token is added to a
     * plain route by `#url`).
     */
    #readPath(job, kind) {
        const link = job.links[kind];
        if (!this.#key && hasToken(link))
            return link;
        return kind === "self" ? jobPath(job.id) : `${jobPath(job.id)}/result`;
    }
    async #json(method, path, request = {}) {
        const response = await this.#send(method, path, request);
        if (response.status === 204)
            return undefined;
        return (await response.json());
    }
    /** Sends a request; an answer that is not `2xx` (nor in `accept`) becomes a `HeraldError`. */
    async #send(method, path, request) {
        const headers = this.#headers(request.headers ?? {});
        let body;
        if (request.body !== undefined) {
            body = JSON.stringify(request.body);
            headers["Content-Type"] = "application/json";
        }
        const init = { method, headers };
        if (body !== undefined)
            init.body = body;
        if (request.signal)
            init.signal = request.signal;
        const response = await this.#fetch(this.#url(path, request.query ?? {}, request.read ?? false), init);
        if (!response.ok && !request.accept?.includes(response.status)) {
            throw await HeraldError.fromResponse(response);
        }
        return response;
    }
    #headers(extra) {
        const headers = { Accept: "application/json", ...extra };
        if (this.#key)
            headers.Authorization = `Bearer ${this.#key}`;
        return headers;
    }
    /**
     * The URL of `path` (a route, or a link the server gave) with `query`; the read token goes
     * on a job read route when no key is sent and the path does not carry one already.
     */
    #url(path, query, read) {
        const params = { ...query };
        if (read && !this.#key && this.#token && !hasToken(path))
            params.token = this.#token;
        return withQuery(this.#absolute(path), params);
    }
    /** A path on the server as a URL of `baseUrl` (links are absolute paths); URLs stay. */
    #absolute(path) {
        return /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : `${this.#base}${path}`;
    }
}
/** What `follow` knows of the job, shared by its two transports. */
class Following {
    job;
    lastSeq;
    onEvent;
    constructor(
    /** The newest version of the job known. */
    job, 
    /** The `seq` of the last event reported (or `from`). */
    lastSeq, onEvent) {
        this.job = job;
        this.lastSeq = lastSeq;
        this.onEvent = onEvent;
    }
    /** Records a version of the job, reporting it when it is newer than any reported. */
    report(type, seq, job) {
        if (seq >= this.job.seq)
            this.job = job;
        if (seq <= this.lastSeq)
            return;
        this.lastSeq = seq;
        this.onEvent?.({ type, seq, job });
    }
}
/** Carries an error thrown by a caller's callback through the stream's own error handling. */
class CallbackError extends Error {
    cause;
    constructor(cause) {
        super("a callback threw");
        this.cause = cause;
    }
}
/**
 * A `text/event-stream` parser (the WHATWG HTML "event stream interpretation"): text in, one
 * call per dispatched event, with the last event id and any `retry:` hint.
 */
export class SseParser {
    onEvent;
    onRetry;
    /**
     * The most text one event (or one line) may hold before the stream counts as broken: a job
     * event is a few KiB, and a stream that never ends its line must not grow without bound.
     */
    static MAX_EVENT_CHARS = 8 * 1024 * 1024;
    #buffer = "";
    #data = [];
    #dataChars = 0;
    #type = "";
    #lastEventId;
    #started = false;
    #afterCr = false;
    constructor(onEvent, onRetry = () => { }) {
        this.onEvent = onEvent;
        this.onRetry = onRetry;
    }
    /** Feeds decoded text; complete lines are interpreted at once. */
    push(text) {
        if (text.length === 0)
            return;
        // A CR that ended the previous chunk ended its line; a LF right after it belongs to it.
        if (this.#afterCr && text.startsWith("\n"))
            text = text.slice(1);
        this.#afterCr = false;
        this.#buffer += text;
        if (!this.#started && this.#buffer.length > 0) {
            this.#started = true;
            if (this.#buffer.charCodeAt(0) === 0xfeff)
                this.#buffer = this.#buffer.slice(1);
        }
        let start = 0;
        for (;;) {
            const cr = this.#buffer.indexOf("\r", start);
            const lf = this.#buffer.indexOf("\n", start);
            if (cr === -1 && lf === -1)
                break;
            let end;
            let next;
            if (cr !== -1 && (lf === -1 || cr < lf)) {
                end = cr;
                if (cr === this.#buffer.length - 1) {
                    this.#afterCr = true;
                    next = cr + 1;
                }
                else {
                    next = this.#buffer[cr + 1] === "\n" ? cr + 2 : cr + 1;
                }
            }
            else {
                end = lf;
                next = lf + 1;
            }
            this.#line(this.#buffer.slice(start, end));
            start = next;
        }
        this.#buffer = this.#buffer.slice(start);
        if (this.#buffer.length + this.#dataChars > SseParser.MAX_EVENT_CHARS) {
            throw new Error(`an event of the stream is longer than ${SseParser.MAX_EVENT_CHARS} characters`);
        }
    }
    #line(line) {
        if (line === "") {
            this.#dispatch();
            return;
        }
        if (line.startsWith(":"))
            return; // A comment: a heartbeat.
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" "))
            value = value.slice(1);
        switch (field) {
            case "event":
                this.#type = value;
                break;
            case "data":
                this.#data.push(value);
                this.#dataChars += value.length + 1;
                break;
            case "id":
                if (!value.includes("\0"))
                    this.#lastEventId = value;
                break;
            case "retry":
                if (/^\d+$/.test(value))
                    this.onRetry(Number(value));
                break;
            default:
                break; // Unknown fields are ignored.
        }
    }
    #dispatch() {
        const type = this.#type || "message";
        this.#type = "";
        if (this.#data.length === 0)
            return;
        const data = this.#data.join("\n");
        this.#data = [];
        this.#dataChars = 0;
        this.onEvent({ id: this.#lastEventId, type, data });
    }
}
const EVENT_TYPES = [
    "job.pending",
    "job.processing",
    "job.progress",
    "job.completed",
    "job.failed",
    "job.canceled",
];
const TERMINAL_EVENTS = new Set([
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
function isFinished(job) {
    return job.status === "completed" || job.status === "failed" || job.status === "canceled";
}
/** The event a new state of the job stands for, for clients that poll. */
function eventTypeOf(job) {
    if (job.status === "processing" && job.progress)
        return "job.progress";
    return `job.${job.status}`;
}
/** Answers worth asking again: rate limited, busy or unavailable, a proxy's gateway errors. */
function isTransient(status) {
    return status === 429 || status === 502 || status === 503 || status === 504;
}
function isProblem(value) {
    if (typeof value !== "object" || value === null)
        return false;
    const { type, title, status } = value;
    return typeof type === "string" && typeof title === "string" && typeof status === "number";
}
/** `Retry-After` in seconds: a number of seconds, or an HTTP date. */
function retryAfterSeconds(header) {
    if (header === null)
        return undefined;
    if (/^\s*\d+\s*$/.test(header))
        return Number(header);
    const date = Date.parse(header);
    return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
/** `base` doubling with each failure in a row (the first waits `base`), capped, ±20 %. */
function backoff(base, failures) {
    const delay = Math.min(MAX_BACKOFF_MS, base * 2 ** Math.max(0, failures - 1));
    return delay * (0.8 + Math.random() * 0.4);
}
/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms, signal) {
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
function withDeadline(signal, ms) {
    const controller = new AbortController();
    let expired = false;
    const onAbort = () => controller.abort(signal?.reason);
    if (signal?.aborted)
        controller.abort(signal.reason);
    else
        signal?.addEventListener("abort", onAbort, { once: true });
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
function entityTag(etag) {
    return /^\d+$/.test(etag) ? `"${etag}"` : etag;
}
function hasToken(link) {
    return /[?&]token=/.test(link);
}
function segment(id) {
    return encodeURIComponent(id);
}
function jobPath(id) {
    return `/v1/jobs/${segment(id)}`;
}
/** `url` with `query` added (empty values left out). */
function withQuery(url, query) {
    const pairs = [];
    for (const [name, value] of Object.entries(query)) {
        if (value === undefined || value === null || value === "")
            continue;
        pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
    }
    if (pairs.length === 0)
        return url;
    return `${url}${url.includes("?") ? "&" : "?"}${pairs.join("&")}`;
}
