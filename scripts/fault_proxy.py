#!/usr/bin/env python3
"""A fault-injecting HTTP proxy between the AWS SDK clients and the emulator.

The functions send every request to AWS_ENDPOINT_URL; pointed at this proxy,
each request is forwarded to the emulator unchanged, except that, at rates
configured per API action, the proxy answers instead:

  throttle          EC2: HTTP 503 RequestLimitExceeded (EC2 XML error body);
                    JSON services: HTTP 400 ThrottlingException. Not forwarded.
  error500          HTTP 500 InternalError. Not forwarded.
  slow              waits `slow_seconds` before forwarding (past the client's
                    attempt timeout: the client gives up, the write may land).
  drop              closes the connection without an answer. Not forwarded.
  fail_after_write  forwards a write (it happens), then answers 500.

Two modes make the emulator answer as EC2 does where moto does not:

  token_buckets     EC2's request-rate throttling ("Request throttling for the
                    Amazon EC2 API"): a bucket per account (the request's
                    access key) and EC2 action, refilled continuously; a
                    request that finds it empty gets HTTP 503
                    RequestLimitExceeded and is not forwarded.
  page_size         EC2 Describe answers split at min(MaxResults, page_size)
                    with a NextToken (moto ignores MaxResults for several
                    Describe calls): a listing's first request is forwarded
                    without MaxResults/NextToken and its whole answer kept;
                    every page is cut from it, the token naming the listing
                    and the offset. Requests without MaxResults are not
                    split (EC2 returns everything then).

Besides faults, two ways to shape time (both in the configuration):

  latency_ms        every request is held this long before it is forwarded,
                    as a real AWS endpoint's latency would hold it: calls made
                    at once overlap, calls that wait on each other add up.
  barrier           {"<Action>": n}: the first n requests of that action wait
                    until all n have arrived (at most 10 s), then go on
                    together: it forces two invocations to read before either
                    writes. Counted in stats as "barrier_released".

IAM as it would answer after a redeploy that no longer covers a resource:

  deny              [{"action": "DescribeSecret", "contains": "orders-db"}]:
                    a request of that action ("*": any) whose body or query
                    contains the text is answered as the service answers a
                    call its caller's policies do not allow (EC2: HTTP 403
                    UnauthorizedOperation; JSON services: HTTP 400
                    AccessDeniedException). Not forwarded. Counted as the
                    fault "denied".

And a call log (for bench/startup.py; off unless configured):

  record            true: every forwarded request is logged with its service,
                    action, parameters (the JSON body, or the query form
                    without Action and Version), answer status, and when it
                    started and ended (monotonic ns, one clock): enough to
                    tell the rounds calls came in, and to send the same
                    requests again. GET /__proxy/calls reads the log.

Usage: fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--seed N]
Prints "PROXY_PORT=<n>" first on stdout; exits when its stdin closes.

Control API (never forwarded):
  PUT  /__proxy/config  {"seed": 1, "slow_seconds": 2.0, "latency_ms": 30,
                         "barrier": {"DescribeVpcPeeringConnections": 2},
                         "rates": {"*": {"throttle": 0.3, "error500": 0.05},
                                   "writes": {"fail_after_write": 0.1},
                                   "DescribeVpcs": {"slow": 0.1}}}
       Rates apply by the most specific key: the action, then "writes" or
       "reads", then "*". Absent rates: no faults.
       "token_buckets": {"reads": [100, 20], "writes": [50, 5],
                         "tags": [100, 10], "actions": {"CreateRoute": [50, 5]},
                         "speedup": 1}
                         [size, refill per second] by class (tags: CreateTags,
                         DeleteTags) or action; every refill times speedup.
                         Absent: no throttling. Each PUT starts full buckets.
       "page_size": 5    Absent: answers are not split.
  GET  /__proxy/stats   {"totals": {...}, "actions": {"<Action>": {...}},
                         "buckets": {"admitted", "throttled", "floor_seconds",
                                     "by_key": {key: {action: {...}}}},
                         "paging": {"<Action>": {"pages", "split", "items"}}}
                        floor_seconds: the time the slowest bucket needs to
                        admit every request it admitted (max over keys and
                        actions of (admitted - size) / refill).
  POST /__proxy/reset   zeroes the counters (keeps the configuration)
"""

import argparse
import http.client
import json
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loopback import is_read, read_body, serve_until_stdin_closes

FAULTS = ("throttle", "error500", "slow", "drop", "fail_after_write")


class State:
    """Configuration and counters, shared by the handler threads."""

    def __init__(self, seed):
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.rates = {}
        self.slow_seconds = 3.0
        self.latency = 0.0
        self.barriers = {}
        self.denials = []
        self.recorder = CallLog()
        self.buckets = None
        self.pager = None
        self.reset()

    def reset(self):
        with self.lock:
            self.actions = {}
            self.totals = {"requests": 0, "forwarded": 0, "forwarded_writes": 0, "faults_injected": 0, "setup": 0}
            if self.buckets:
                self.buckets.reset_counts()
            if self.pager:
                self.pager.reset_counts()
        self.recorder.reset()

    def configure(self, config):
        with self.lock:
            if "seed" in config:
                self.rng = random.Random(config["seed"])
            self.rates = config.get("rates", {})
            self.slow_seconds = float(config.get("slow_seconds", 3.0))
            self.latency = float(config.get("latency_ms", 0)) / 1000.0
            self.barriers = {
                action: {"size": int(n), "arrived": 0, "event": threading.Event()}
                for action, n in config.get("barrier", {}).items()
            }
            self.denials = list(config.get("deny", []))
            buckets = config.get("token_buckets")
            self.buckets = TokenBuckets(buckets) if buckets else None
            self.pager = Pager(int(config["page_size"])) if config.get("page_size") else None
        self.recorder.configure(config)

    def denied(self, action, body, query):
        """Whether a `deny` rule covers this request."""
        raw = body.decode("utf-8", "replace") + "&" + query
        texts = (raw, urllib.parse.unquote_plus(raw))
        with self.lock:
            return any(
                d.get("action") in (action, "*") and any(d.get("contains", "") in t for t in texts)
                for d in self.denials
            )

    def wait_at_barrier(self, action):
        """Holds one of the first `size` requests of `action` until all arrived."""
        with self.lock:
            b = self.barriers.get(action)
            if b is None or b["arrived"] >= b["size"]:
                return
            b["arrived"] += 1
            if b["arrived"] == b["size"]:
                b["event"].set()
        b["event"].wait(timeout=10)
        with self.lock:
            a = self.actions.setdefault(
                action, {"requests": 0, "forwarded": 0, "forwarded_writes": 0, "faults": {}}
            )
            a["barrier_released"] = a.get("barrier_released", 0) + 1

    def draw(self, action):
        """The fault to inject for this request, or None."""
        kind = "reads" if is_read(action) else "writes"
        with self.lock:
            rates = {}
            for key in ("*", kind, action):  # later keys win
                rates.update(self.rates.get(key, {}))
            for fault in FAULTS:
                if fault == "fail_after_write" and kind == "reads":
                    continue
                rate = float(rates.get(fault, 0.0))
                if rate > 0 and self.rng.random() < rate:
                    return fault
        return None

    def count(self, action, forwarded=False, fault=None):
        with self.lock:
            a = self.actions.setdefault(
                action, {"requests": 0, "forwarded": 0, "forwarded_writes": 0, "faults": {}}
            )
            if action in ("AssumeRole",):
                self.totals["setup"] += 1
            if forwarded:
                a["forwarded"] += 1
                self.totals["forwarded"] += 1
                if not is_read(action) and action not in ("AssumeRole", "GetCallerIdentity"):
                    a["forwarded_writes"] += 1
                    self.totals["forwarded_writes"] += 1
            else:
                a["requests"] += 1
                self.totals["requests"] += 1
            if fault:
                a["faults"][fault] = a["faults"].get(fault, 0) + 1
                self.totals["faults_injected"] += 1

    def stats(self):
        with self.lock:
            out = {"totals": self.totals, "actions": self.actions}
            if self.buckets:
                out["buckets"] = self.buckets.stats()
            if self.pager:
                out["paging"] = self.pager.stats()
            return json.loads(json.dumps(out))


class TokenBuckets:
    """EC2's request-rate buckets: one per (access key, action), each holding
    `size` tokens and getting `refill` back per second, continuously."""

    def __init__(self, config):
        speedup = float(config.get("speedup", 1))
        figures = lambda pair: (float(pair[0]), float(pair[1]) * speedup)  # noqa: E731
        self.classes = {k: figures(config.get(k, d)) for k, d in (("reads", (100, 20)), ("writes", (50, 5)), ("tags", (100, 10)))}
        self.actions = {a: figures(pair) for a, pair in config.get("actions", {}).items()}
        self.lock = threading.Lock()
        self.buckets = {}
        self.reset_counts()

    def reset_counts(self):
        with self.lock:
            self.counts = {}

    def limit(self, action):
        if action in self.actions:
            return self.actions[action]
        if is_read(action):
            return self.classes["reads"]
        if action in ("CreateTags", "DeleteTags"):
            return self.classes["tags"]
        return self.classes["writes"]

    def admit(self, key, action):
        """Takes a token for this request; False: the bucket is empty."""
        size, refill = self.limit(action)
        now = time.monotonic()
        with self.lock:
            tokens, at = self.buckets.get((key, action), (size, now))
            tokens = min(size, tokens + (now - at) * refill)
            admitted = tokens >= 1.0
            self.buckets[(key, action)] = (tokens - 1.0 if admitted else tokens, now)
            c = self.counts.setdefault(key, {}).setdefault(action, {"admitted": 0, "throttled": 0})
            c["admitted" if admitted else "throttled"] += 1
        return admitted

    def stats(self):
        with self.lock:
            floor, admitted, throttled = 0.0, 0, 0
            for actions in self.counts.values():
                for action, c in actions.items():
                    size, refill = self.limit(action)
                    floor = max(floor, (c["admitted"] - size) / refill)
                    admitted += c["admitted"]
                    throttled += c["throttled"]
            return {"admitted": admitted, "throttled": throttled, "floor_seconds": floor, "by_key": self.counts}


def ec2_access_key(headers):
    """The access key of a SigV4-signed EC2 request (the account, for the
    buckets), or None for other services."""
    m = re.search(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    return m.group(1) if m and m.group(2) == "ec2" else None


class Pager:
    """Splits EC2 Describe answers into pages of min(MaxResults, page_size).

    The first page forwards the request (without MaxResults) and keeps the
    whole answer; the later pages are cut from it, as EC2's own token would
    continue one listing. The token names the listing and the offset."""

    TOKEN = "proxy-page-"

    def __init__(self, page_size):
        self.page_size = page_size
        self.lock = threading.Lock()
        self.listings = {}
        self.reset_counts()

    def reset_counts(self):
        with self.lock:
            self.counts = {}

    def prepare(self, action, body):
        """(body to forward, page size, listing, offset), or None when not paged.
        A listing already kept needs no forwarding (body None)."""
        if not action.startswith("Describe"):
            return None
        params = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        asked = dict(params)
        if "MaxResults" not in asked:
            return None
        size = min(int(asked["MaxResults"]), self.page_size)
        token = asked.get("NextToken", "")
        if token.startswith(self.TOKEN):
            listing, offset = token[len(self.TOKEN):].rsplit("-", 1)
            return None, size, listing, int(offset)
        kept = [(k, v) for k, v in params if k not in ("MaxResults", "NextToken")]
        return urllib.parse.urlencode(kept).encode(), size, uuid.uuid4().hex[:12], 0

    def page(self, action, listing, size, offset, data=None):
        """The page at `offset` of the listing (whose whole answer is `data`
        on its first page)."""
        with self.lock:
            if data is not None:
                self.listings[listing] = data
                while len(self.listings) > 256:
                    self.listings.pop(next(iter(self.listings)))
            data = self.listings[listing]
        root = ET.fromstring(data)
        ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
        q = (lambda t: f"{{{ns}}}{t}") if ns else (lambda t: t)  # noqa: E731
        lists = [c for c in root if c.tag not in (q("requestId"), q("nextToken")) and len(c) and all(i.tag == q("item") for i in c)]
        items = list(lists[0]) if lists else []
        for old in root.findall(q("nextToken")):
            root.remove(old)
        page = items[offset:offset + size]
        if lists:
            for i in items:
                lists[0].remove(i)
            lists[0].extend(page)
        more = offset + size < len(items)
        if more:
            ET.SubElement(root, q("nextToken")).text = f"{self.TOKEN}{listing}-{offset + size}"
        with self.lock:
            c = self.counts.setdefault(action, {"pages": 0, "split": 0, "items": 0})
            c["pages"] += 1
            c["split"] += int(more or offset > 0)
            c["items"] += len(page)
        if ns:
            ET.register_namespace("", ns)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True)

    def stats(self):
        with self.lock:
            return json.loads(json.dumps(self.counts))


def action_of(headers, body, query):
    """The API action: X-Amz-Target for JSON protocols, Action= for Query."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1], True
    for text in (body.decode("utf-8", "replace"), query):
        params = urllib.parse.parse_qs(text)
        if "Action" in params:
            return params["Action"][0], False
    return "Unknown", False


def throttle_response(json_protocol):
    if json_protocol:
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        return 400, "application/x-amz-json-1.1", body, {"x-amzn-ErrorType": "ThrottlingException"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code>'
        f"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return 503, "text/xml", body, {}


def internal_error(json_protocol):
    if json_protocol:
        body = json.dumps({"__type": "InternalFailure", "message": "injected internal error"}).encode()
        return 500, "application/x-amz-json-1.1", body, {"x-amzn-ErrorType": "InternalFailure"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InternalError</Code>'
        f"<Message>injected internal error</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return 500, "text/xml", body, {}


def access_denied(json_protocol, action):
    """The answer of a service to a call the caller's IAM policies do not allow."""
    if json_protocol:
        message = f"User is not authorized to perform: {action} because no identity-based policy allows it"
        body = json.dumps({"__type": "AccessDeniedException", "Message": message}).encode()
        return 400, "application/x-amz-json-1.1", body, {"x-amzn-ErrorType": "AccessDeniedException"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code>'
        "<Message>You are not authorized to perform this operation.</Message></Error></Errors>"
        f"<RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return 403, "text/xml", body, {}

# ---------------------------------------------------------------- the call log


class CallLog:
    """Every forwarded request, when configured with "record": true."""

    def __init__(self):
        self.lock = threading.Lock()
        self.on = False
        self.calls = []

    def configure(self, config):
        self.on = bool(config.get("record", False))

    def reset(self):
        with self.lock:
            self.calls = []

    def add(self, headers, body, query, action, json_protocol, status, start_ns):
        if not self.on:
            return
        call = {
            "service": service_of(headers),
            "action": action,
            "params": params_of(body, query, json_protocol),
            "status": status,
            "start_ns": start_ns,
            "end_ns": time.monotonic_ns(),
        }
        with self.lock:
            self.calls.append(call)

    def json(self):
        with self.lock:
            return json.dumps(self.calls)


def service_of(headers):
    """The signing name in "Credential=<key>/<date>/<region>/<service>/aws4_request"."""
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", headers.get("Authorization", ""))
    return m[1] if m else "?"


def params_of(body, query, json_protocol):
    if json_protocol:
        return json.loads(body or b"{}")
    form = urllib.parse.parse_qs(query, keep_blank_values=True)
    form.update(urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))
    return {k: v[0] for k, v in sorted(form.items()) if k not in ("Action", "Version")}


def make_handler(state, upstream, log):
    up = urllib.parse.urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out as separate writes: without this, Nagle's
        # algorithm and delayed ACKs can hold an answer for tens of ms.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def read_body(self):
            return read_body(self)

        def reply(self, status, content_type, body, extra=None):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def control(self, body):
            path = self.path.split("?")[0]
            if path == "/__proxy/config" and self.command in ("PUT", "POST"):
                state.configure(json.loads(body or b"{}"))
                return self.reply(200, "application/json", b'{"ok":true}')
            if path == "/__proxy/stats":
                return self.reply(200, "application/json", json.dumps(state.stats()).encode())
            if path == "/__proxy/calls":
                return self.reply(200, "application/json", state.recorder.json().encode())
            if path == "/__proxy/reset":
                state.reset()
                return self.reply(200, "application/json", b'{"ok":true}')
            return self.reply(404, "application/json", b'{"error":"unknown control path"}')

        def forward(self, body):
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
                headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                out = [(k, v) for k, v in resp.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
                return resp.status, out, data
            finally:
                conn.close()

        def handle_any(self):
            start_ns = time.monotonic_ns()
            body = self.read_body()
            if self.path.startswith("/__proxy/"):
                return self.control(body)
            query = urllib.parse.urlsplit(self.path).query
            action, json_protocol = action_of(self.headers, body, query)
            if action != "AssumeRole" and state.denied(action, body, query):
                state.count(action, fault="denied")
                return self.reply(*access_denied(json_protocol, action))
            fault = None if action == "AssumeRole" else state.draw(action)
            state.count(action, fault=fault)
            if log:
                log.write(f"{time.time():.3f} {action} {fault or '-'}\n")
                log.flush()
            if fault == "throttle":
                return self.reply(*throttle_response(json_protocol))
            if fault == "error500":
                return self.reply(*internal_error(json_protocol))
            if fault == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return None
            key = ec2_access_key(self.headers)
            if key and state.buckets and not state.buckets.admit(key, action):
                return self.reply(*throttle_response(False))
            if fault == "slow":
                time.sleep(state.slow_seconds)
            state.wait_at_barrier(action)
            if state.latency:
                time.sleep(state.latency)
            paged = state.pager.prepare(action, body) if key and state.pager else None
            try:
                if paged and paged[0] is None:
                    status, headers = 200, [("Content-Type", "text/xml;charset=UTF-8")]
                    data = state.pager.page(action, paged[2], paged[1], paged[3])
                else:
                    status, headers, data = self.forward(paged[0] if paged else body)
                    if paged and status == 200:
                        data = state.pager.page(action, paged[2], paged[1], paged[3], data)
            except OSError as e:
                return self.reply(502, "text/plain", f"upstream error: {e}".encode())
            state.count(action, forwarded=True)
            # Logged before the answer goes out: once a client has its last
            # answer, every call it made is in the log.
            state.recorder.add(self.headers, body, query, action, json_protocol, status, start_ns)
            if fault == "fail_after_write":
                return self.reply(*internal_error(json_protocol))
            try:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                # The client gave up (a slow answer past its timeout).
                self.close_connection = True
            return None

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = handle_any

    return Handler


class Server(ThreadingHTTPServer):
    # A function opens a connection per call it makes at once (a dozen in one
    # round): with socketserver's backlog of 5 some SYNs are dropped, and the
    # kernel retries them only after a second.
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--config", help="initial configuration (JSON)")
    parser.add_argument("--log", help="one line per request (action, fault)")
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("refusing to listen on anything but loopback")
    state = State(args.seed)
    if args.config:
        state.configure(json.loads(args.config))
    log = open(args.log, "a") if args.log else None
    server = Server((args.host, args.port), make_handler(state, args.upstream, log))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    serve_until_stdin_closes("PROXY", server.server_address[1])

if __name__ == "__main__":
    main()
