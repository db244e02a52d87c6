"""A minimal Lambda runtime client for the Python baseline (bench/startup.py).

It does what awslambdaric does for a Python function, and no more: import the
handler module named by `_HANDLER` (`module.function`, from LAMBDA_TASK_ROOT)
— its module-level code is the function's init — then loop: GET the next
invocation from the Runtime API at AWS_LAMBDA_RUNTIME_API, call the handler,
POST its JSON result (or the error) back. Stdlib only, one keep-alive
connection, so the runtime client itself costs next to nothing and what is
measured is Python, boto3 and the handler.
"""

import http.client
import importlib
import json
import os
import sys
import traceback

BASE = "/2018-06-01/runtime"


def error_body(exc):
    return json.dumps(
        {
            "errorMessage": str(exc),
            "errorType": type(exc).__name__,
            "stackTrace": traceback.format_exception(exc),
        }
    ).encode()


def main():
    conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])

    def call(method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()

    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, task_root)
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as exc:  # an init error is reported once, then the process ends
        call("POST", f"{BASE}/init/error", error_body(exc), {"Lambda-Runtime-Function-Error-Type": "Runtime.InitError"})
        sys.exit(1)

    while True:
        resp, body = call("GET", f"{BASE}/invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        os.environ["_X_AMZN_TRACE_ID"] = resp.getheader("Lambda-Runtime-Trace-Id", "")
        context = {
            "aws_request_id": request_id,
            "deadline_ms": int(resp.getheader("Lambda-Runtime-Deadline-Ms")),
            "invoked_function_arn": resp.getheader("Lambda-Runtime-Invoked-Function-Arn"),
        }
        try:
            result = json.dumps(handler(json.loads(body), context)).encode()
        except Exception as exc:
            sys.stdout.flush()
            call(
                "POST",
                f"{BASE}/invocation/{request_id}/error",
                error_body(exc),
                {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
            )
            continue
        sys.stdout.flush()  # the handler's log lines, before the process may be stopped
        call("POST", f"{BASE}/invocation/{request_id}/response", result, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
