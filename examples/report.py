"""An `exec` job for Herald: builds a CSV report.

Reads its payload as JSON on stdin ({"rows": N}), reports progress as JSON lines on stdout and
writes the CSV to the path Herald names in HERALD_RESULT_PATH; Herald serves it as the job's
result (its content type comes from the job type's `result_content_type`).
"""

import json
import os
import sys
import time

payload = json.load(sys.stdin)
rows = int(payload.get("rows", 100))
step = max(rows // 10, 1)

with open(os.environ["HERALD_RESULT_PATH"], "w") as out:
    out.write("n,square\n")
    for n in range(1, rows + 1):
        out.write(f"{n},{n * n}\n")
        if n % step == 0:
            progress = {"progress": n * 100 // rows, "message": f"row {n} of {rows}"}
            print(json.dumps(progress), flush=True)
            time.sleep(0.3)

print(f"wrote {rows} rows", file=sys.stderr)
