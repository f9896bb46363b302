/**
 * Herald's HTTP API, as TypeScript types: GENERATED from the server's OpenAPI document
 * (`GET /v1/openapi.json`) by openapi-typescript. Do not edit by hand.
 *
 * Regenerate against a running herald (built from the same sources):
 *
 *     HERALD_URL=http://127.0.0.1:8080 npm run generate
 *
 * `npm run check` fails while this file differs from what the server describes.
 */

export interface paths {
    "/healthz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness: the process answers. */
        get: operations["healthz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/in/{token}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Receive a provider's webhook: verified, stored as a job, then answered.
         * @description No API key: the token in the path is the credential. Any body (bounded like every
         *     request body) in any content type; the signature is checked on its raw bytes.
         */
        post: operations["ingest"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Prometheus metrics of the process, in the OpenMetrics text format, or the Prometheus text
         *     format (0.0.4) for a scraper whose `Accept` prefers `text/plain`.
         */
        get: operations["metrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/readyz": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness: the process answers and so does its store backend. */
        get: operations["readyz"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List API keys, oldest first, without their secrets (admin keys only). */
        get: operations["list_keys"];
        put?: never;
        /** Create an API key (admin keys only). The answer holds the whole key, this once. */
        post: operations["create_key"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/keys/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        post?: never;
        /** Revoke an API key at once, on every api process (admin keys only). */
        delete: operations["revoke_key"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/deliveries/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read a delivery (any of the tenant's, a job's own webhook's too). */
        get: operations["get_delivery"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/deliveries/{id}/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Attempt a delivery again, now. */
        post: operations["retry_delivery"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read the tenant's feed as JSON pages, optionally waiting for the next event (long poll). */
        get: operations["list_events"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/events/stream": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follow many jobs of the tenant (or all) as one Server-Sent Events stream.
         * @description Events look like a job stream's, but their `id` is the event's cursor in the tenant's
         *     feed. With `job=`, first the current state of each named job; then live events. With
         *     `Last-Event-ID`, every matching event of the feed after it, then live ones. The stream
         *     does not end by itself, only when the key it was opened with is revoked (or the server
         *     stops).
         */
        get: operations["event_stream"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/jobs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List jobs, newest first. */
        get: operations["list_jobs"];
        put?: never;
        /**
         * Submit a job.
         * @description A `202` means the job is durably stored. With an `Idempotency-Key`, the same key (per
         *     tenant, for 24 hours) with the same body answers the job it created first.
         */
        post: operations["create_job"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/jobs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Poll a job, optionally waiting for it to change (long poll). */
        get: operations["get_job"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/jobs/{id}/cancel": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Cancel a job: a pending one at once, a processing one is asked to stop. */
        post: operations["cancel_job"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/jobs/{id}/events": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Follow one job as Server-Sent Events.
         * @description A `retry:` line first, then each event as `id: <seq>`, `event: <type>` (`job.pending`,
         *     `job.processing`, `job.progress`, `job.completed`, `job.failed`, `job.canceled`) and
         *     `data: <the job resource, one line of JSON>` (a `JobView`). Without `Last-Event-ID`: the
         *     job's current state as one event, then every change; with it, every event after it from the
         *     job's history, then every change. The stream ends after the terminal event, or when the
         *     key it was opened with (directly or through its read token) is revoked; a comment
         *     (`: keep-alive`) at least every 15 s.
         */
        get: operations["job_events"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/jobs/{id}/result": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Fetch a completed job's result. */
        get: operations["job_result"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/jobs/{id}/retry": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run a finished job again as a new attempt.
         * @description A `completed`, `failed` or `canceled` job is pending again, back in its queue, with `seq`
         *     moving on; it gets one attempt at least (the rest of its `max_attempts`, if it had
         *     attempts left). Its earlier attempts stay listed in `attempts`.
         */
        post: operations["retry_job"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/openapi.json": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This document: the API's OpenAPI 3.1 description, generated from the code. */
        get: operations["openapi_json"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sources": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List the tenant's sources, oldest first (always one page). */
        get: operations["list_sources"];
        put?: never;
        /** Create a source: a front door for one provider. */
        post: operations["create_source"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sources/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read a source. */
        get: operations["get_source"];
        put?: never;
        post?: never;
        /** Delete a source: its ingest URL answers `404` from now on; the jobs it made stay. */
        delete: operations["delete_source"];
        options?: never;
        head?: never;
        /**
         * Change a source: fields left out stay; `verify` may change the scheme's parameters, not
         *     the scheme or the secret.
         */
        patch: operations["update_source"];
        trace?: never;
    };
    "/v1/sources/{id}/replay": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Run again the finished jobs of the requests a source received in a window, as by
         *     `POST /v1/jobs/{id}/retry`.
         */
        post: operations["replay_source"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sources/{id}/requests": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The requests a source received, newest first: accepted, duplicate and rejected. */
        get: operations["list_requests"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/sources/{id}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Rotate a source's secret; the previous one is still accepted for the grace (24 hours by
         *     default).
         */
        post: operations["rotate_source_secret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List the tenant's subscriptions, oldest first (always one page). */
        get: operations["list_webhooks"];
        put?: never;
        /** Subscribe an endpoint to the tenant's job events. */
        post: operations["create_webhook"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read a subscription. */
        get: operations["get_webhook"];
        put?: never;
        post?: never;
        /** Delete a subscription; its scheduled deliveries die unsent, its history stays listed. */
        delete: operations["delete_webhook"];
        options?: never;
        head?: never;
        /** Change a subscription: fields left out stay. */
        patch: operations["update_webhook"];
        trace?: never;
    };
    "/v1/webhooks/{id}/deliveries": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A subscription's deliveries, newest first, each with its attempts. */
        get: operations["list_deliveries"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/{id}/replay": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Re-send past events of the tenant's feed to a subscription, as new deliveries. */
        post: operations["replay"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/webhooks/{id}/rotate-secret": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Rotate a subscription's secret; the previous one keeps signing too for 24 hours. */
        post: operations["rotate_secret"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/workers/claim": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Claim the tenant's oldest pending job of some types run by external workers, waiting
         *     up to `wait_s` for one (long poll).
         */
        post: operations["claim"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/workers/jobs/{id}/complete": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Complete a claimed job, with its result (JSON, or bytes in base64) or none. */
        post: operations["complete"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/workers/jobs/{id}/fail": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Fail a claimed job's attempt: retried while attempts remain unless `retryable` is false. */
        post: operations["fail"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/workers/jobs/{id}/heartbeat": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Renew a claimed job's lease, optionally reporting progress. */
        post: operations["heartbeat"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/workers/jobs/{id}/release": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Hand a claimed job back unfinished: `pending` again, the attempt not counted. */
        post: operations["release"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        /**
         * @description The hash function of an HMAC.
         * @enum {string}
         */
        Algorithm: "sha1" | "sha256" | "sha512";
        /**
         * @description A key's public id: 16 lowercase hex characters.
         * @example 3f9c2a7b1d4e8f60
         */
        ApiKeyId: string;
        /**
         * @description How an attempt ended.
         * @enum {string}
         */
        AttemptOutcome: "completed" | "failed" | "timeout" | "canceled" | "worker_lost";
        /**
         * @description One attempt of a job: when it ran, how it ended, and for the `http` handler the
         *     endpoint's status and the first KiB of its answer.
         */
        AttemptView: {
            /** Format: int32 */
            attempt: number;
            /**
             * Format: int64
             * @description How long it ran, once it ended.
             */
            duration_ms: number | null;
            error: null | components["schemas"]["JobError"];
            /** Format: date-time */
            finished_at: string | null;
            /** Format: int32 */
            http_status?: number | null;
            outcome: null | components["schemas"]["AttemptOutcome"];
            response_excerpt?: string | null;
            /** Format: date-time */
            started_at: string;
        };
        /** @description The answer to a provider: the job's id. */
        Captured: {
            id: components["schemas"]["JobId"];
        };
        /** @description `POST /v1/workers/claim`. */
        ClaimRequest: {
            /** @description 1 to 32 job types, each run by external workers. */
            types: components["schemas"]["JobType"][];
            /**
             * Format: int64
             * @description How long to wait for a job when none is waiting (0 to 60 seconds, default 30).
             */
            wait_s?: number | null;
            /** @description The worker's name, for the server's logs (1 to 128 visible ASCII characters). */
            worker_id?: string | null;
        };
        /** @description A job handed to a worker. */
        ClaimedJob: {
            job: components["schemas"]["JobResource"];
            lease: components["schemas"]["LeaseView"];
            /** @description The job's payload, as submitted (any JSON value). */
            payload: unknown;
        };
        /** @description `POST /v1/workers/jobs/{id}/complete`. */
        CompleteRequest: {
            /** @description The media type of `result_base64` (default `application/octet-stream`). */
            content_type?: string | null;
            /** @description The lease's token. */
            lease: string;
            /** @description The result as any JSON value (served as `application/json`). */
            result?: unknown;
            /**
             * Format: byte
             * @description Or the result as bytes, standard base64; not with `result`.
             */
            result_base64?: string | null;
        };
        /** @description A key just created, with the whole key: shown this once, never again. */
        CreatedKey: components["schemas"]["KeyView"] & {
            /**
             * @description The whole key, for `Authorization: Bearer <key>`. Store it now: Herald keeps only a
             *     digest of it.
             * @example hk_3f9c2a7b1d4e8f60_…
             */
            key: string;
        };
        /** @description Which part of a request names the provider's event, so its retries are recognised. */
        Dedupe: {
            /** @description A header (lower-case). */
            header: string;
        } | {
            /** @description A JSON pointer into the body (RFC 6901). */
            json_pointer: string;
        };
        /**
         * Format: uuid
         * @description A webhook delivery's id: one event to one target. It is the `webhook-id` header of every
         *     attempt, so receivers can drop duplicates.
         */
        DeliveryId: string;
        /** @description Where the delivery's related resources live. */
        DeliveryLinks: {
            job: string;
            self: string;
        };
        /** @description A page of deliveries, newest first; `next_cursor` is set while older ones may remain. */
        DeliveryList: {
            data: components["schemas"]["DeliveryView"][];
            next_cursor: null | components["schemas"]["DeliveryId"];
        };
        /**
         * @description Where a delivery is in its life.
         * @enum {string}
         */
        DeliveryState: "pending" | "retrying" | "delivered" | "dead";
        /** @description One event on its way to one endpoint, with its attempts. Never carries a secret. */
        DeliveryView: {
            /**
             * Format: int32
             * @description Attempts made; `attempts` lists the newest of them.
             */
            attempt_count: number;
            attempts: components["schemas"]["AttemptView"][];
            /** Format: date-time */
            created_at: string;
            event_type: components["schemas"]["EventType"];
            id: components["schemas"]["DeliveryId"];
            job_id: components["schemas"]["JobId"];
            job_type: components["schemas"]["JobType"];
            links: components["schemas"]["DeliveryLinks"];
            /** Format: date-time */
            next_attempt_at: string | null;
            /**
             * Format: int64
             * @description The job's `seq` of the event, as in its body.
             */
            seq: number;
            state: components["schemas"]["DeliveryState"];
            /** Format: date-time */
            updated_at: string;
            url: string;
            webhook_id: null | components["schemas"]["SubscriptionId"];
        };
        /**
         * @description How a signature is written in its header.
         * @enum {string}
         */
        Encoding: "hex" | "base64";
        /**
         * @description Stable codes of why a job did not complete.
         * @enum {string}
         */
        ErrorCode: "timeout" | "handler_error" | "canceled" | "worker_lost" | "result_too_large";
        /** @description A page of `GET /v1/events`. */
        EventPage: {
            data: components["schemas"]["EventResource"][];
            /**
             * @description True when events after `after` were trimmed from the feed before they could be read:
             *     the page starts at the oldest event kept.
             */
            missed: boolean;
            /** @description Where to continue: pass it back as `after`. Never null. */
            next_cursor: string;
        };
        /** @description An event as `GET /v1/events` serves it: the body a webhook carries, plus its cursor. */
        EventResource: {
            /** @description The job resource as it was right after the change. */
            data: components["schemas"]["JobView"];
            /** @description The event's cursor in the tenant's feed. */
            id: string;
            /**
             * Format: date-time
             * @description When the change happened (the job's `updated_at` after it).
             */
            timestamp: string;
            type: components["schemas"]["EventType"];
        };
        /**
         * @description The kind of change. The names are the contract's SSE event types and webhook `type`s.
         * @enum {string}
         */
        EventType: "job.pending" | "job.processing" | "job.progress" | "job.completed" | "job.failed" | "job.canceled";
        /** @description `POST /v1/workers/jobs/{id}/fail`. */
        FailRequest: {
            /** @description The lease's token. */
            lease: string;
            /** @description What went wrong (cut to 1 KiB). */
            message: string;
            /** @description Retry per the type's policy while attempts remain (default `true`), or fail for good. */
            retryable?: boolean | null;
        };
        /** @description A field-level complaint about a submission. */
        FieldError: {
            field: string;
            message: string;
        };
        /** @description What a final call (complete, fail, release) answers. */
        Finished: {
            job: components["schemas"]["JobResource"];
        };
        /** @description The body of `/healthz` and `/readyz`. */
        Health: {
            /**
             * @description `ok` (`/healthz`) or `ready` (`/readyz`).
             * @example ok
             */
            status: string;
        };
        /** @description What a heartbeat answers. */
        HeartbeatAnswer: {
            /**
             * @description A client asked for the job to be canceled: stop, then send any final call (the job
             *     ends canceled).
             */
            cancel_requested: boolean;
            job: components["schemas"]["JobResource"];
            lease: components["schemas"]["LeaseView"];
        };
        /** @description `POST /v1/workers/jobs/{id}/heartbeat`. */
        HeartbeatRequest: {
            /** @description The lease's token. */
            lease: string;
            progress?: null | components["schemas"]["ProgressRequest"];
        };
        /** @description The job resource's `webhook` field: its own webhook's latest delivery, at a glance. */
        HookStatus: {
            /** Format: int32 */
            attempts: number;
            /** Format: date-time */
            next_attempt_at: string | null;
            state: components["schemas"]["DeliveryState"];
        };
        /** @description Why a job failed or was canceled. */
        JobError: {
            code: components["schemas"]["ErrorCode"];
            message: string;
        };
        /** @description A job's own webhook as the client sent it. */
        JobHookRequest: {
            events?: components["schemas"]["EventType"][] | null;
            secret?: string | null;
            /** Format: uri */
            url: string;
        };
        /**
         * Format: uuid
         * @description A job's id.
         */
        JobId: string;
        /** @description Where the job's other representations live. */
        JobLinks: {
            events: string;
            result: string;
            self: string;
        };
        /** @description A page of jobs, newest first. */
        JobList: {
            data: components["schemas"]["JobResource"][];
            next_cursor: null | components["schemas"]["JobId"];
        };
        /** @description The job resource of the job endpoints. */
        JobResource: components["schemas"]["JobView"] & {
            /** @description The job's own webhook's latest delivery. Absent for a job without a webhook of its own. */
            webhook?: components["schemas"]["WebhookStatusView"];
        };
        /**
         * @description Where a job is in its life. `completed`, `failed` and `canceled` are terminal.
         * @enum {string}
         */
        JobStatus: "pending" | "processing" | "completed" | "failed" | "canceled";
        /**
         * @description A job type such as `demo.report`: the name a handler or worker queue is registered under.
         * @example demo.report
         */
        JobType: string;
        /**
         * @description The job as clients see it. Built from the stored [`Job`]; never carries the payload or any
         *     secret.
         */
        JobView: {
            /** Format: int32 */
            attempt: number;
            /** @description Each attempt so far (the newest 25), oldest first. */
            attempts: components["schemas"]["AttemptView"][];
            /** Format: date-time */
            created_at: string;
            error: null | components["schemas"]["JobError"];
            /** Format: date-time */
            finished_at: string | null;
            id: components["schemas"]["JobId"];
            links: components["schemas"]["JobLinks"];
            /** Format: int32 */
            max_attempts: number;
            metadata: Record<string, never>;
            progress: null | components["schemas"]["Progress"];
            result_url: string | null;
            /** Format: int64 */
            seq: number;
            /** Format: date-time */
            started_at: string | null;
            status: components["schemas"]["JobStatus"];
            /** Format: int64 */
            timeout_s: number;
            /** @example demo.report */
            type: string;
            /** Format: date-time */
            updated_at: string;
        };
        /** @description Every key, oldest first (always one page). */
        KeyList: {
            data: components["schemas"]["KeyView"][];
        };
        /** @description The body of `POST /v1/admin/keys`. */
        KeyRequest: {
            /** @description Whether the key may manage keys (this API). Default `false`. */
            admin?: boolean | null;
            /**
             * @description For people: what the key is for (up to 100 characters).
             * @example ci
             */
            name?: string | null;
            /**
             * @description The tenant every request made with the key acts for.
             * @example acme
             */
            tenant: string;
        };
        /** @description An API key as listed: everything but its secret. */
        KeyView: {
            admin: boolean;
            /** Format: date-time */
            created_at: string;
            /** @description How the key starts and ends, to recognise it: `hk_<id>_…<last four>`. */
            hint: string;
            /** @description The key's public id (the part after `hk_`): names it in listings and revocations. */
            id: components["schemas"]["ApiKeyId"];
            name: string;
            tenant: string;
        };
        /**
         * @description The lease as a worker sees it: its token, when it runs out without a heartbeat, and when
         *     the attempt itself times out.
         */
        LeaseView: {
            /**
             * Format: date-time
             * @description When the attempt times out (`started_at` + the job's `timeout_s`): a heartbeat after it
             *     fails the attempt with code `timeout` (or cancels the job, when a cancel was requested).
             */
            deadline: string | null;
            /**
             * Format: date-time
             * @description When the lease runs out unless a heartbeat renews it.
             */
            expires_at: string;
            /**
             * Format: double
             * @description How often to heartbeat: a third of `timeout_s`.
             */
            heartbeat_s: number;
            /**
             * Format: double
             * @description How long a heartbeat keeps the lease (the store's lease timeout), in seconds.
             */
            timeout_s: number;
            /** @description Names the lease in every later call about the job. */
            token: string;
        };
        /** @description A submission as the client sent it, before validation. */
        NewJobRequest: {
            /** Format: int32 */
            max_attempts?: number | null;
            metadata?: Record<string, never> | null;
            payload?: unknown;
            /** Format: int64 */
            timeout_s?: number | null;
            /** @example demo.report */
            type: string;
            webhook?: null | components["schemas"]["JobHookRequest"];
        };
        /** @description A source as the client sent it (`POST`) or the fields it changes (`PATCH`). */
        NewSource: {
            /**
             * @description `{"header": NAME}` or `{"json_pointer": "/path"}`; `null` for the scheme's default
             *     (also in a `PATCH`, where leaving it out changes nothing).
             */
            dedupe?: Record<string, never> | null;
            job_type?: string | null;
            name?: string | null;
            response?: null | components["schemas"]["ResponseRequest"];
            verify?: null | components["schemas"]["VerifyRequest"];
        };
        /** @description A subscription as the client sent it (`POST`) or the fields it changes (`PATCH`). */
        NewSubscription: {
            enabled?: boolean | null;
            events?: components["schemas"]["EventType"][] | null;
            job_types?: string[] | null;
            secret?: string | null;
            /** Format: uri */
            url: string;
        };
        /**
         * @description What became of a request a source received.
         * @enum {string}
         */
        Outcome: "accepted" | "duplicate" | "rejected";
        /** @description An RFC 9457 problem document, the body of every error (`application/problem+json`). */
        Problem: {
            /** @description For people: what went wrong this time. */
            detail: string;
            /**
             * @description On `validation-error` and `invalid-parameters` only: every bad field, query parameter
             *     or header.
             */
            errors?: components["schemas"]["FieldError"][];
            /**
             * Format: int32
             * @description The HTTP status.
             */
            status: number;
            /** @description Short and stable per `type`. */
            title: string;
            /**
             * Format: uri
             * @description Stable: `https://herald.dev/problems/` and the kind of problem (`not-found`,
             *     `validation-error`, …).
             * @example https://herald.dev/problems/validation-error
             */
            type: string;
        };
        /** @description How far a processing job has come. */
        Progress: {
            message?: string;
            /** Format: int32 */
            percent: number;
        };
        /** @description `{"percent": 0-100, "message": "..."}`. */
        ProgressRequest: {
            /** @description Cut to 1 KiB. */
            message?: string | null;
            /** Format: int32 */
            percent: number;
        };
        /** @description `POST /v1/workers/jobs/{id}/release`. */
        ReleaseRequest: {
            /** @description The lease's token. */
            lease: string;
        };
        /** @description The body of a replay request, as sent. */
        ReplayRequest: {
            /**
             * Format: date-time
             * @description Replay the events appended from this time on.
             */
            since: string;
            /**
             * Format: date-time
             * @description Up to this time, included; defaults to now (a later time counts as now).
             */
            until?: string | null;
        };
        /** @description What a replay did. */
        Replayed: {
            /**
             * @description True when the feed no longer holds the start of the window (it is capped): events
             *     older than its oldest were not replayed.
             */
            missed: boolean;
            /**
             * Format: date-time
             * @description When `truncated`: the `since` of the request that continues where this one stopped.
             */
            next_since: string | null;
            /** @description New deliveries created. */
            replayed: number;
            /** Format: date-time */
            since: string;
            /** @description True when the replay stopped at [`MAX_REPLAY`] before the end of the window. */
            truncated: boolean;
            /** Format: date-time */
            until: string;
        };
        /**
         * Format: uuid
         * @description The id of one request a source received.
         */
        RequestId: string;
        /** @description A page of a source's request log, newest first. */
        RequestList: {
            data: components["schemas"]["RequestRecord"][];
            next_cursor: null | components["schemas"]["RequestId"];
        };
        /** @description One request a source received, as its request log lists it. */
        RequestRecord: {
            /** @description What the source's dedupe rule found in it. */
            dedupe_key?: string | null;
            id: components["schemas"]["RequestId"];
            job_id?: null | components["schemas"]["JobId"];
            outcome: components["schemas"]["Outcome"];
            /** @description Why it was rejected. */
            reason?: string | null;
            /** Format: date-time */
            received_at: string;
        };
        /** @description The `response` object of a request. */
        ResponseRequest: {
            /**
             * Format: int32
             * @description 200, 201, 202 (the default) or 204.
             */
            status?: number | null;
        };
        /** @description The answer a verified request gets. */
        ResponseView: {
            /** Format: int32 */
            status: number;
        };
        /**
         * @description The answer of a request that set a subscription's secret (creation, rotation): the
         *     subscription and its secret, which no later answer shows.
         */
        RevealedSecret: components["schemas"]["SubscriptionView"] & {
            /**
             * Format: date-time
             * @description After a rotation: until when the previous secret keeps signing too.
             */
            previous_secret_expires_at?: string;
            /** @description The secret that signs its deliveries: shown here only, keep it. */
            secret: string;
        };
        /**
         * @description A source with its secret: the answer to its creation and to a rotation, the only ones
         *     that show it.
         */
        RevealedSource: components["schemas"]["SourceView"] & {
            /** @description The secret (for `basic`, the password); `null` for scheme `none`. */
            secret?: string | null;
        };
        /** @description The body of `POST /v1/webhooks/{id}/rotate-secret`. */
        RotateRequest: {
            /** @description The new secret; generated (`whsec_` and 32 random bytes) when left out. */
            secret?: string | null;
        };
        /**
         * Format: uuid
         * @description An inbound webhook source's id.
         */
        SourceId: string;
        SourceLinks: {
            requests: string;
            self: string;
        };
        /** @description The tenant's sources (always one page). */
        SourceList: {
            data: components["schemas"]["SourceView"][];
            next_cursor: string | null;
        };
        /** @description The body of `POST /v1/sources/{id}/replay`. */
        SourceReplayRequest: {
            /**
             * Format: date-time
             * @description Run again the jobs of the requests received from this time on.
             */
            since: string;
            /**
             * @description Only the jobs now in this status: `completed`, `failed` or `canceled`; by default
             *     every finished one.
             */
            status?: string | null;
            /**
             * Format: date-time
             * @description Up to this time, included; defaults to now.
             */
            until?: string | null;
        };
        /** @description What a replay did. */
        SourceReplayed: {
            /** @description Jobs run again. */
            replayed: number;
            /**
             * @description Jobs of the window left as they are: still pending or processing, of another status
             *     than asked, or expired.
             */
            skipped: number;
            /**
             * @description The window holds more than [`MAX_REPLAY`] jobs: the oldest were gone through; send
             *     the request again to go on (with a `status`, those run again are left out).
             */
            truncated: boolean;
        };
        /** @description The body of `POST /v1/sources/{id}/rotate-secret`. */
        SourceRotateRequest: {
            /**
             * Format: int64
             * @description How long the previous secret is still accepted, in seconds (0 to 604800); default
             *     86400.
             */
            grace_s?: number | null;
            /**
             * @description The new secret (for `basic`, the new password); generated when left out (Stripe and
             *     Shopify issue their own: pass theirs).
             */
            secret?: string | null;
        };
        /** @description A source, without its secret. */
        SourceView: {
            /** Format: date-time */
            created_at: string;
            dedupe?: null | components["schemas"]["Dedupe"];
            id: components["schemas"]["SourceId"];
            /** @description Where the provider posts: the token in it is the credential, keep it secret. */
            ingest_url: string;
            job_type: string;
            links: components["schemas"]["SourceLinks"];
            name: string;
            /**
             * Format: date-time
             * @description While a rotated-out secret is still accepted: until when.
             */
            previous_secret_expires_at?: string | null;
            response: components["schemas"]["ResponseView"];
            /** Format: date-time */
            updated_at: string;
            /** @description The scheme and its parameters: `{"scheme": "stripe", "tolerance_s": 300}`. */
            verify: components["schemas"]["Verify"];
        };
        /**
         * @description The body of `PATCH /v1/webhooks/{id}`: the fields to change; those left out stay. A
         *     `secret` is refused: rotate it with `POST /v1/webhooks/{id}/rotate-secret`.
         */
        SubscriptionChange: {
            /** @description `false` pauses it; `true` resumes it, also after Herald disabled it. */
            enabled?: boolean | null;
            events?: components["schemas"]["EventType"][] | null;
            /** @description Empty: every job type. */
            job_types?: string[] | null;
            /**
             * Format: uri
             * @description A new target (the same checks as at creation).
             */
            url?: string | null;
        };
        /**
         * Format: uuid
         * @description A webhook subscription's id.
         */
        SubscriptionId: string;
        /** @description Where the subscription's other resources live. */
        SubscriptionLinks: {
            deliveries: string;
            self: string;
        };
        /** @description A list of subscriptions: all of the tenant's (they are bounded), so never a next page. */
        SubscriptionList: {
            data: components["schemas"]["SubscriptionView"][];
            /** @description Always `null`: a tenant's subscriptions fit one page. */
            next_cursor: string | null;
        };
        /** @description A webhook subscription as clients see it. */
        SubscriptionView: {
            /** Format: date-time */
            created_at: string;
            /** @description Why it is disabled (by a client, `410 Gone`, or failing for days), while disabled. */
            disabled_reason: string | null;
            enabled: boolean;
            events: components["schemas"]["EventType"][];
            id: components["schemas"]["SubscriptionId"];
            /** @description Empty: every job type. */
            job_types: components["schemas"]["JobType"][];
            links: components["schemas"]["SubscriptionLinks"];
            /** Format: date-time */
            updated_at: string;
            url: string;
        };
        /** @description How a source verifies a request, without its secret. */
        Verify: {
            /** @enum {string} */
            scheme: "standard-webhooks";
            /** Format: int64 */
            tolerance_s: number;
        } | {
            /** @enum {string} */
            scheme: "github";
        } | {
            /** @enum {string} */
            scheme: "stripe";
            /** Format: int64 */
            tolerance_s: number;
        } | {
            /** @enum {string} */
            scheme: "shopify";
        } | {
            algorithm: components["schemas"]["Algorithm"];
            encoding: components["schemas"]["Encoding"];
            header: string;
            prefix: string;
            /** @enum {string} */
            scheme: "hmac";
        } | {
            /** @enum {string} */
            scheme: "basic";
            username: string;
        } | {
            /** @enum {string} */
            scheme: "none";
        };
        /** @description The `verify` object of a request: the scheme, its secret and its parameters. */
        VerifyRequest: {
            algorithm?: null | components["schemas"]["Algorithm"];
            encoding?: null | components["schemas"]["Encoding"];
            /** @description `hmac`: the header holding the signature. */
            header?: string | null;
            /** @description `basic`: the password (the source's secret; generated when absent). */
            password?: string | null;
            /** @description `hmac`: what precedes the signature in the header (`sha256=`, say). */
            prefix?: string | null;
            /** @description `standard-webhooks`, `github`, `stripe`, `shopify`, `hmac`, `basic` or `none`. */
            scheme?: string | null;
            /**
             * @description The signing secret; generated when absent (Stripe and Shopify issue their own: pass
             *     theirs).
             */
            secret?: string | null;
            /**
             * Format: int64
             * @description `stripe`, `standard-webhooks`: how far the signed timestamp may be from now (s).
             */
            tolerance_s?: number | null;
            /** @description `basic`: the user name. */
            username?: string | null;
        };
        /** @description The job's own webhook, at a glance. */
        WebhookStatusView: components["schemas"]["HookStatus"] & {
            /**
             * @description The secret Herald generated for the webhook: only in the answer to the submission that
             *     created the job, never again.
             */
            secret?: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    healthz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description `{"status": "ok"}` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    ingest: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The source's ingest token */
                token: string;
            };
            cookie?: never;
        };
        /** @description The provider's request, as it sends it */
        requestBody: {
            content: {
                "*/*": string;
            };
        };
        responses: {
            /** @description Stored (the source's configured status: 200, 201 or 202); a provider's retry of an event already stored answers that job with `Idempotent-Replayed: true` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Captured"];
                };
            };
            /** @description Stored, for a source configured to answer 204 */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The signature or credentials do not verify; recorded as rejected (`signature-invalid`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No source has this token (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is larger than the limit, or the captured request than the job type's payload bound (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The job could not be stored right now; the provider retries (`backend-unavailable`, `queue-full`) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    metrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The metrics (`text/plain; version=0.0.4` instead when the scraper's `Accept` prefers it) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/openmetrics-text; version=1.0.0; charset=utf-8": string;
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    readyz: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description `{"status": "ready"}` */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Health"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The backend does not answer (`not-ready`) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_keys: {
        parameters: {
            query?: {
                /** @description Only this tenant's keys. */
                tenant?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The keys */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["KeyList"];
                };
            };
            /** @description A bad parameter, named in `errors` (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is not an admin key (`forbidden`) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_key: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["KeyRequest"];
            };
        };
        responses: {
            /** @description The key, with its secret (shown this once) */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["CreatedKey"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is not an admin key (`forbidden`) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Bad fields, each named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    revoke_key: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The key's id */
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked: the key is refused from now on */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The key is not an admin key (`forbidden`) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such key, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_delivery: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The delivery's id (its `webhook-id`) */
                id: components["schemas"]["DeliveryId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The delivery */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryView"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such delivery for this tenant (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    retry_delivery: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The delivery's id (its `webhook-id`) */
                id: components["schemas"]["DeliveryId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The delivery, due at once */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryView"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such delivery for this tenant (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Its subscription is disabled or was deleted, or its job has expired (`webhook-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_events: {
        parameters: {
            query?: {
                /** @description A cursor: a previous page's `next_cursor`, or an event's `id`. Without it, from the oldest event kept */
                after?: string;
                /** @description At most this many events (default 100) */
                limit?: number;
                /** @description Long poll: when nothing matching follows `after`, wait up to this many seconds for it */
                wait?: number;
                /** @description Only these jobs (repeat it, or separate ids with commas; at most 100) */
                job?: components["schemas"]["JobId"][];
                /** @description Only these event types, comma-separated */
                types?: components["schemas"]["EventType"][];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of events */
            200: {
                headers: {
                    /** @description `no-cache` */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["EventPage"];
                };
            };
            /** @description A bad `after`, `limit`, `wait`, `job` or `types`, each named in `errors` (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    event_stream: {
        parameters: {
            query?: {
                /** @description Only these jobs (repeat it, or separate ids with commas; at most 100) */
                job?: components["schemas"]["JobId"][];
                /** @description Only these event types, comma-separated */
                types?: components["schemas"]["EventType"][];
                /** @description As the header; the header wins */
                last_event_id?: string;
            };
            header?: {
                /** @description Resume after this cursor */
                "Last-Event-ID"?: string | null;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The event stream */
            200: {
                headers: {
                    /** @description `no-cache` */
                    "Cache-Control"?: string;
                    /** @description On a resumed stream: the id replay really starts after; `earliest` when the feed no longer reaches back to the cursor */
                    "Last-Event-ID"?: string;
                    /** @description `no`: proxies pass events on at once */
                    "X-Accel-Buffering"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            /** @description A malformed `job`, more than 100 jobs, an unknown type, or a `Last-Event-ID` that is not a cursor (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_jobs: {
        parameters: {
            query?: {
                /** @description Only jobs in this status. */
                status?: components["schemas"]["JobStatus"];
                /** @description Only jobs of this type. */
                type?: string;
                /** @description At most this many jobs (1 to 100, default 20). */
                limit?: number;
                /** @description The previous page's `next_cursor`. */
                cursor?: components["schemas"]["JobId"];
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of jobs */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobList"];
                };
            };
            /** @description A bad parameter, each named in `errors` (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_job: {
        parameters: {
            query?: never;
            header?: {
                /** @description 1 to 255 visible ASCII characters: a retried submission answers the job created first */
                "Idempotency-Key"?: string | null;
            };
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewJobRequest"];
            };
        };
        responses: {
            /** @description The job, stored. When Herald generated its webhook's secret, `webhook.secret` shows it, this once. */
            202: {
                headers: {
                    /** @description `"<seq>"` */
                    ETag?: string;
                    /** @description `true` when an earlier request with the same key created the job */
                    "Idempotent-Replayed"?: string;
                    /** @description `/v1/jobs/{id}` */
                    Location?: string;
                    /** @description Seconds before the first poll is worth it */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobResource"];
                };
            };
            /** @description Malformed JSON, or a bad `Idempotency-Key` (`malformed-json`, `invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Invalid fields, each named in `errors` (`validation-error`), or an `Idempotency-Key` used with another request (`idempotency-key-reused`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The job type's queue is full (`queue-full`); or the store backend cannot be reached right now (`backend-unavailable`) */
            503: {
                headers: {
                    /** @description Seconds before resubmitting */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_job: {
        parameters: {
            query?: {
                /**
                 * @description Long poll: wait up to this many seconds (0 to 60) for the job's `seq` to move past the
                 *     tag named in `If-None-Match`, then answer `304`. Without `If-None-Match` it answers at
                 *     once.
                 */
                wait?: number;
                /** @description A browser read token of this job (as in the job's `links`): stands in for the API key, read-only */
                token?: string;
            };
            header?: {
                /** @description The job's ETag as held (`"4"`, `W/"4"`, a list, or `*`): `304` while it is current */
                "If-None-Match"?: string | null;
            };
            path: {
                /** @description The job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job */
            200: {
                headers: {
                    /** @description `no-cache` */
                    "Cache-Control"?: string;
                    /** @description `"<seq>"` */
                    ETag?: string;
                    /** @description Only while the job can still change: seconds before polling again */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobResource"];
                };
            };
            /** @description The job has not changed from the tag in `If-None-Match` (after `wait`, for a long poll) */
            304: {
                headers: {
                    /** @description `"<seq>"` */
                    ETag?: string;
                    /** @description Only while the job can still change */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description `wait` is not a number of seconds from 0 to 60 (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job (also a malformed id) (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    cancel_job: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job: `canceled`, or still `processing` while its worker is asked to stop */
            202: {
                headers: {
                    /** @description `"<seq>"` */
                    ETag?: string;
                    /** @description Only while the job can still change */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobResource"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The job is already finished (`job-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    job_events: {
        parameters: {
            query?: {
                /** @description As the header, for a first connection that cannot send it; the header wins */
                last_event_id?: number;
                /** @description A browser read token of this job (as in the job's `links.events`), for an EventSource, which cannot send headers: stands in for the API key, read-only */
                token?: string;
            };
            header?: {
                /** @description Resume after this event (the job's `seq`) */
                "Last-Event-ID"?: number | null;
            };
            path: {
                /** @description The job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The event stream */
            200: {
                headers: {
                    /** @description `no-cache` */
                    "Cache-Control"?: string;
                    /** @description On a resumed stream: the id replay really starts after; larger than the client's when the history no longer reaches back that far */
                    "Last-Event-ID"?: string;
                    /** @description `no`: proxies pass events on at once */
                    "X-Accel-Buffering"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "text/event-stream": string;
                };
            };
            /** @description The job already finished and the client has its terminal event: stop reconnecting */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description A `Last-Event-ID` that is not a number (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    job_result: {
        parameters: {
            query?: {
                /** @description A browser read token of this job (as in the job's `links`): stands in for the API key, read-only */
                token?: string;
            };
            header?: never;
            path: {
                /** @description The job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The result bytes, with the content type they were stored with (`application/json`, `text/csv`, …) */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "*/*": unknown;
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job (`not-found`), or it has no result: not completed yet, or completed without one (`result-not-available`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    retry_job: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job, `pending` again */
            202: {
                headers: {
                    /** @description `"<seq>"` */
                    ETag?: string;
                    /** @description A polling hint */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobResource"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The job is still pending or processing (`job-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    openapi_json: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The OpenAPI document */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": Record<string, never>;
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_sources: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every source of the tenant */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SourceList"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_source: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewSource"];
            };
        };
        responses: {
            /** @description The source, its ingest URL and its secret (shown this once) */
            201: {
                headers: {
                    /** @description `/v1/sources/{id}` */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RevealedSource"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The tenant already holds 1000 sources (`limit-reached`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Bad fields, each named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_source: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The source's id */
                id: components["schemas"]["SourceId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The source */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SourceView"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such source for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_source: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The source's id */
                id: components["schemas"]["SourceId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such source for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    update_source: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The source's id */
                id: components["schemas"]["SourceId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewSource"];
            };
        };
        responses: {
            /** @description The source, changed */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SourceView"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such source for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The change kept losing to concurrent ones; try again (`source-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Bad fields, each named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    replay_source: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The source's id */
                id: components["schemas"]["SourceId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SourceReplayRequest"];
            };
        };
        responses: {
            /** @description How many jobs run again */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SourceReplayed"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such source for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A missing or bad `since`, a bad `until` or `status`, unknown fields (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_requests: {
        parameters: {
            query?: {
                /** @description Only requests with this outcome: `accepted`, `duplicate` or `rejected`. */
                outcome?: string;
                /** @description 1 to 100; default 20. */
                limit?: number;
                /** @description The previous page's `next_cursor`. */
                cursor?: string;
            };
            header?: never;
            path: {
                /** @description The source's id */
                id: components["schemas"]["SourceId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of requests */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RequestList"];
                };
            };
            /** @description A bad `outcome`, `limit` or `cursor`, each named in `errors` (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such source for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotate_source_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The source's id */
                id: components["schemas"]["SourceId"];
            };
            cookie?: never;
        };
        /** @description Optional: the new secret (else one is generated) and the grace */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["SourceRotateRequest"];
            };
        };
        responses: {
            /** @description The source, its new secret and when the previous one stops being accepted */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RevealedSource"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such source for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The change kept losing to concurrent ones (`source-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad `secret` or `grace_s`, or a source of scheme `none` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_webhooks: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Every subscription of the tenant */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionList"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    create_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["NewSubscription"];
            };
        };
        responses: {
            /** @description The subscription and its secret (shown this once) */
            201: {
                headers: {
                    /** @description `/v1/webhooks/{id}` */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RevealedSecret"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The tenant already holds 256 subscriptions (`limit-reached`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Bad fields, each named in `errors`, including a private target (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    get_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The subscription's id */
                id: components["schemas"]["SubscriptionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The subscription */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionView"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such subscription for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    delete_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The subscription's id */
                id: components["schemas"]["SubscriptionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such subscription for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    update_webhook: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The subscription's id */
                id: components["schemas"]["SubscriptionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["SubscriptionChange"];
            };
        };
        responses: {
            /** @description The subscription, changed */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["SubscriptionView"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such subscription for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The change kept losing to concurrent ones; try again (`webhook-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Bad fields, each named in `errors`; a `secret` (rotate it instead) (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    list_deliveries: {
        parameters: {
            query?: {
                /** @description Only deliveries in this state. */
                status?: components["schemas"]["DeliveryState"];
                /** @description At most this many deliveries (1 to 100, default 20). */
                limit?: number;
                /** @description The previous page's `next_cursor`. */
                cursor?: components["schemas"]["DeliveryId"];
            };
            header?: never;
            path: {
                /** @description The subscription's id */
                id: components["schemas"]["SubscriptionId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description A page of deliveries */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["DeliveryList"];
                };
            };
            /** @description A bad `status`, `limit` or `cursor`, each named in `errors` (`invalid-parameters`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such subscription for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    replay: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The subscription's id */
                id: components["schemas"]["SubscriptionId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ReplayRequest"];
            };
        };
        responses: {
            /** @description What was replayed; with `truncated`, send again from `next_since` */
            202: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Replayed"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such subscription for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The subscription is disabled (`webhook-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A missing or bad `since`, a bad `until`, unknown fields (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    rotate_secret: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The subscription's id */
                id: components["schemas"]["SubscriptionId"];
            };
            cookie?: never;
        };
        /** @description Optional: the new secret, else one is generated */
        requestBody?: {
            content: {
                "application/json": null | components["schemas"]["RotateRequest"];
            };
        };
        responses: {
            /** @description The subscription, its new secret and when the previous one stops signing */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["RevealedSecret"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such subscription for this tenant, also a malformed id (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The change kept losing to concurrent ones (`webhook-state-conflict`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad `secret` or unknown fields (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    claim: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ClaimRequest"];
            };
        };
        responses: {
            /** @description A job, now `processing`, its payload and its lease */
            200: {
                headers: {
                    /** @description `no-store` */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ClaimedJob"];
                };
            };
            /** @description No job came within `wait_s` (or the server is stopping): claim again */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad field, named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The server holds as many claims as it allows (`too-many-claims`); or the store backend cannot be reached right now (`backend-unavailable`) */
            503: {
                headers: {
                    /** @description Seconds before claiming again */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    complete: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The claimed job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["CompleteRequest"];
            };
        };
        responses: {
            /** @description The job, `completed` (or `canceled` when a client asked) */
            200: {
                headers: {
                    /** @description `no-store` */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Finished"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job for this tenant (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token is not the job's current lease: drop the job (`lease-lost`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`), or the result is larger than the store accepts (`result-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad field, named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    fail: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The claimed job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["FailRequest"];
            };
        };
        responses: {
            /** @description The job: `pending` again for a retry, or `failed` */
            200: {
                headers: {
                    /** @description `no-store` */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Finished"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job for this tenant (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token is not the job's current lease: drop the job (`lease-lost`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad field, named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    heartbeat: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The claimed job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["HeartbeatRequest"];
            };
        };
        responses: {
            /** @description The renewed lease; `cancel_requested` says a client asked to cancel the job */
            200: {
                headers: {
                    /** @description `no-store` */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["HeartbeatAnswer"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job for this tenant (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token is not the job's current lease: drop the job (`lease-lost`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad field, named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
    release: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /** @description The claimed job's id */
                id: components["schemas"]["JobId"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": components["schemas"]["ReleaseRequest"];
            };
        };
        responses: {
            /** @description The job, `pending` again (or `canceled` when a client asked) */
            200: {
                headers: {
                    /** @description `no-store` */
                    "Cache-Control"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Finished"];
                };
            };
            /** @description Malformed JSON (`malformed-json`) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No API key where one is needed, or a malformed, unknown or revoked one (`unauthorized`; with `WWW-Authenticate: Bearer`) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description No such job for this tenant (`not-found`) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The token is not the job's current lease: drop the job (`lease-lost`) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is over the limit (`payload-too-large`) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The body is not sent as JSON (`unsupported-media-type`) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description A bad field, named in `errors` (`validation-error`) */
            422: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Too many requests from this API key, too many failed authentications from this client address, or as many event streams or long polls open as the key may hold (`rate-limited`; with `Retry-After`) */
            429: {
                headers: {
                    /** @description Seconds to wait before trying again (at least 1) */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The request's header names and values add up to more than `--max-header-bytes` (`headers-too-large`) */
            431: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description Unexpected (`internal-error`) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
            /** @description The store backend cannot be reached right now (`backend-unavailable`); retry after `Retry-After` seconds */
            503: {
                headers: {
                    /** @description Seconds before retrying */
                    "Retry-After"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/problem+json": components["schemas"]["Problem"];
                };
            };
        };
    };
}
