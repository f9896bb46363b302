"""A slow HTTP endpoint standing in for an existing service that takes longer than a gateway
allows: POST /export answers after SLOW_SECONDS (default 20) with a JSON body. Herald's `http`
handler forwards job payloads to it and stores its answer as the job's result.

    python3 examples/slow_endpoint.py            # listens on 127.0.0.1:9001
"""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "20"))


class Export(BaseHTTPRequestHandler):
    def do_GET(self):
        # At once: a script can wait for the endpoint to listen before sending it jobs.
        self.send_response(204)
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        payload = json.loads(self.rfile.read(length) or b"{}")
        time.sleep(SLOW_SECONDS)
        body = json.dumps({
            "exported": payload,
            "job": self.headers.get("herald-job-id"),
            "seconds": SLOW_SECONDS,
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9001"))), Export).serve_forever()
