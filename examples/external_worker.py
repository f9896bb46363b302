#!/usr/bin/env python3
"""A Herald external worker in plain Python 3: the standard library only, no Herald code.

The worker protocol (`/v1/workers/...`, docs/api.md, "External workers") is plain HTTP and
JSON that any language speaks; this is all a worker needs. The api test suite runs this very
file against a live server (`workers::a_python_worker_runs_a_job_over_plain_http`).

    python3 examples/external_worker.py http://127.0.0.1:8080 video.transcode [--once]
        [--api-key KEY]

It claims jobs of the type (long polls of 20 s), runs each with `handle` while heartbeating with
its progress, and completes it with the handler's result; a handler error fails the attempt
(retried by Herald per the type's policy), a cancel request releases it (the job ends
canceled). With --once it stops after one job: exit status 0 when it ran one, 2 when none came.
Stopping it (Ctrl-C) mid-job leaves the job to Herald, which offers it again once its lease
runs out.
"""

import json
import sys
import threading
import urllib.error
import urllib.request


class LeaseLost(Exception):
    """Herald answered 409: the job moved on without this worker (reclaimed, canceled,
    timed out). Drop it and claim the next one."""


class Herald:
    def __init__(self, base_url, api_key=None):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def post(self, path, body):
        """POSTs `body` as JSON; returns (status, parsed answer or None)."""
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        if self.api_key:
            request.add_header("Authorization", "Bearer " + self.api_key)
        try:
            # Longer than the longest claim: the server holds a claim up to `wait_s`.
            with urllib.request.urlopen(request, timeout=90) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        answer = json.loads(raw) if raw else None
        if status == 409:
            raise LeaseLost(answer.get("detail") if answer else "lease lost")
        if status >= 400:
            raise RuntimeError(f"POST {path} answered {status}: {answer}")
        return status, answer

    def claim(self, job_type, wait_s=20):
        status, answer = self.post(
            "/v1/workers/claim",
            {"types": [job_type], "wait_s": wait_s, "worker_id": "python-example"},
        )
        return answer if status == 200 else None

    def heartbeat(self, job_id, token, percent=None, message=None):
        body = {"lease": token}
        if percent is not None:
            body["progress"] = {"percent": percent, "message": message}
        return self.post(f"/v1/workers/jobs/{job_id}/heartbeat", body)[1]

    def complete(self, job_id, token, result):
        body = {"lease": token, "result": result}
        return self.post(f"/v1/workers/jobs/{job_id}/complete", body)[1]

    def fail(self, job_id, token, message, retryable=True):
        body = {"lease": token, "message": message, "retryable": retryable}
        return self.post(f"/v1/workers/jobs/{job_id}/fail", body)[1]

    def release(self, job_id, token):
        return self.post(f"/v1/workers/jobs/{job_id}/release", {"lease": token})[1]


def handle(payload, report):
    """The work: upper-cases `payload["words"]`, reporting progress half way. Raise to fail
    the attempt; return the result (any JSON) to complete the job."""
    words = payload.get("words", [])
    report(50, f"{len(words)} words read")
    return {"upper": [word.upper() for word in words], "worker": "python"}


def run_one(herald, claimed):
    """Runs one claimed job: the handler in a thread, while this thread heartbeats every
    `heartbeat_s` (a third of the lease) with the latest progress; then the final call."""
    job, lease = claimed["job"], claimed["lease"]
    job_id, token = job["id"], lease["token"]
    progress = {}
    outcome = {}

    def report(percent, message=None):
        progress.update(percent=percent, message=message)

    def work():
        try:
            outcome["result"] = handle(claimed["payload"], report)
        except Exception as error:  # noqa: BLE001 - any failure of the handler fails the attempt
            outcome["error"] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        thread.join(timeout=lease["heartbeat_s"])
        done = not thread.is_alive()
        # Also once done: the last progress lands before the final state.
        answer = herald.heartbeat(job_id, token, progress.get("percent"), progress.get("message"))
        if answer["cancel_requested"]:
            # A client canceled the job: stop (a real handler would be told to), and any
            # final call ends the job canceled.
            return herald.release(job_id, token)
        if done:
            break
    if "error" in outcome:
        # Retried by Herald per the type's policy while attempts remain.
        return herald.fail(job_id, token, outcome["error"])
    return herald.complete(job_id, token, outcome.get("result"))


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    once = "--once" in argv
    api_key = None
    if "--api-key" in argv:
        api_key = argv[argv.index("--api-key") + 1]
        args.remove(api_key)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 64
    herald = Herald(args[0], api_key)
    job_type = args[1]
    while True:
        claimed = herald.claim(job_type)
        if claimed is None:
            if once:
                print("no job to claim", file=sys.stderr)
                return 2
            continue
        try:
            answer = run_one(herald, claimed)
            print(json.dumps(answer["job"]), flush=True)
        except LeaseLost as lost:
            print(f"lease lost: {lost}", file=sys.stderr, flush=True)
        if once:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
