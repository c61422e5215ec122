#!/usr/bin/env python3
"""A real gRPC peer (the `grpcio` and `grpcio-health-checking` packages) for the gateway tests.

  grpc_peer.py serve PORTFILE
      The standard gRPC health service (grpc.health.v1.Health) on a free loopback port,
      plain HTTP/2 (h2c). Service "svc" is SERVING; a Watch on it streams SERVING, then
      NOT_SERVING and SERVING again (a server-streaming call of three messages). The port is
      written to PORTFILE once bound; runs until killed.

      Also t.Leak (raw bytes, no protobuf schema): Get answers its request's bytes, with
      the request's `put-trailer` metadata as trailing metadata `x-secret`, gzip-compressed when
      the request's `compress` metadata says gzip; Stream answers b"clean", then the
      request's bytes; Talk (bidirectional streaming) answers each message with its bytes
      as it arrives, and Seen answers every message Talk and Get received, one per line.

  grpc_peer.py leak TARGET METHOD PAYLOAD [KEY=VALUE ...]
      One call of t.Leak/METHOD with PAYLOAD (authority=HOST sets the :authority). Prints {"code", "details", "messages",
      "trailing"} (messages decoded as UTF-8, lossily).

  grpc_peer.py chat TARGET AUTHORITY [--gzip] MESSAGE...
      One t.Leak/Talk call: each MESSAGE (a protobuf string field 1) sent after the echo of
      the one before (gzip-compressed with --gzip). Prints {"code", "details", "echoed"}
      (the echoes' strings).

  grpc_peer.py call TARGET SERVICE [KEY=VALUE ...]
      One unary Check and one server-streaming Watch (three messages) of SERVICE through
      TARGET (host:port, h2c), the KEY=VALUE pairs sent as metadata. Prints one JSON object:
      {"check": {"code", "details", "status"}, "watch": {"code", "details", "statuses"},
       "trailing": {...}} with the gRPC status code names.
"""

import json
import sys
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def serve(portfile):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    servicer = health.HealthServicer(experimental_non_blocking=True)
    servicer.set("svc", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

    seen = []

    def talk(requests, context):
        for m in requests:
            seen.append(m)
            yield m

    def seen_all(request, context):
        return b"\n".join(seen)

    def get(request, context):
        seen.append(request)
        meta = dict(context.invocation_metadata())
        if "put-trailer" in meta:
            context.set_trailing_metadata((("x-secret", meta["put-trailer"]),))
        if meta.get("compress") == "gzip":
            context.set_compression(grpc.Compression.Gzip)
        return request

    def stream(request, context):
        yield b"clean"
        yield request

    def split(request, context):
        half = len(request) // 2
        yield request[:half]
        yield request[half:]

    # The same halves as protobuf: a string field (1) in each of two messages, and fields
    # 1 and 2 of one message.
    def pb(number, data):
        return bytes([number << 3 | 2, len(data)]) + data

    def split_pb(request, context):
        half = len(request) // 2
        yield pb(1, request[:half])
        yield pb(1, request[half:])

    def two_fields(request, context):
        half = len(request) // 2
        return pb(1, request[:half]) + pb(2, request[half:])

    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "t.Leak",
                {
                    "Get": grpc.unary_unary_rpc_method_handler(get),
                    "Stream": grpc.unary_stream_rpc_method_handler(stream),
                    "Split": grpc.unary_stream_rpc_method_handler(split),
                    "SplitPb": grpc.unary_stream_rpc_method_handler(split_pb),
                    "TwoFields": grpc.unary_unary_rpc_method_handler(two_fields),
                    "Talk": grpc.stream_stream_rpc_method_handler(talk),
                    "Seen": grpc.unary_unary_rpc_method_handler(seen_all),
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    # Each Watch sees SERVING first; flipping the status twice gives every watcher three
    # messages in a row.
    def flip():
        while True:
            time.sleep(0.3)
            servicer.set("svc", health_pb2.HealthCheckResponse.NOT_SERVING)
            time.sleep(0.05)
            servicer.set("svc", health_pb2.HealthCheckResponse.SERVING)

    threading.Thread(target=flip, daemon=True).start()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(port))
    import os

    os.rename(portfile + ".tmp", portfile)
    server.wait_for_termination()


def status_name(code):
    return code.name if code is not None else None


def call(target, service, pairs):
    metadata = [tuple(p.split("=", 1)) for p in pairs]
    out = {}
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            res, c = stub.Check.with_call(
                health_pb2.HealthCheckRequest(service=service), metadata=metadata, timeout=10
            )
            out["check"] = {
                "code": "OK",
                "status": health_pb2.HealthCheckResponse.ServingStatus.Name(res.status),
                "trailing": {k: v for k, v in (c.trailing_metadata() or [])},
            }
        except grpc.RpcError as e:
            out["check"] = {"code": status_name(e.code()), "details": e.details()}
        statuses = []
        try:
            stream = stub.Watch(
                health_pb2.HealthCheckRequest(service=service), metadata=metadata, timeout=10
            )
            for msg in stream:
                statuses.append(health_pb2.HealthCheckResponse.ServingStatus.Name(msg.status))
                if len(statuses) == 3:
                    stream.cancel()
                    break
            out["watch"] = {"code": "OK", "statuses": statuses}
        except grpc.RpcError as e:
            if len(statuses) == 3 and e.code() == grpc.StatusCode.CANCELLED:
                out["watch"] = {"code": "OK", "statuses": statuses}
            else:
                out["watch"] = {
                    "code": status_name(e.code()),
                    "details": e.details(),
                    "statuses": statuses,
                }
    print(json.dumps(out))


def leak(target, method, payload, pairs):
    metadata = [tuple(p.split("=", 1)) for p in pairs if not p.startswith("authority=")]
    options = [
        ("grpc.default_authority", p.split("=", 1)[1]) for p in pairs if p.startswith("authority=")
    ]
    out = {"messages": []}
    with grpc.insecure_channel(target, options=options) as channel:
        try:
            if method in ("Stream", "Split", "SplitPb"):
                call = channel.unary_stream("/t.Leak/" + method)(
                    payload.encode(), metadata=metadata, timeout=10
                )
                for msg in call:
                    out["messages"].append(msg.decode("utf-8", "replace"))
            else:
                call = channel.unary_unary("/t.Leak/" + method).future(
                    payload.encode(), metadata=metadata, timeout=10
                )
                out["messages"].append(call.result().decode("utf-8", "replace"))
            out["code"] = "OK"
            out["trailing"] = {k: v for k, v in (call.trailing_metadata() or [])}
        except grpc.RpcError as e:
            out["code"] = status_name(e.code())
            out["details"] = e.details()
            out["trailing"] = {k: v for k, v in (e.trailing_metadata() or [])}
    print(json.dumps(out))


def chat(target, authority, messages):
    """Sends each message once the one before came back: a call that waits for the whole
    request body before it goes upstream never answers."""
    import queue

    def field(text):
        b = text.encode()
        return bytes([0x0A, len(b)]) + b

    out = {"echoed": []}
    q = queue.Queue()

    def requests():
        while True:
            m = q.get()
            if m is None:
                return
            yield m

    compression = None
    if messages and messages[0] == "--gzip":
        compression = grpc.Compression.Gzip
        messages = messages[1:]
    options = [("grpc.default_authority", authority)]
    with grpc.insecure_channel(target, options=options) as channel:
        call = channel.stream_stream("/t.Leak/Talk")(
            requests(), timeout=10, compression=compression
        )
        try:
            for m in messages:
                q.put(field(m))
                echo = next(call)
                out["echoed"].append(echo[2:].decode("utf-8", "replace"))
            q.put(None)
            for _ in call:
                pass
            out["code"] = "OK"
        except grpc.RpcError as e:
            out["code"] = status_name(e.code())
            out["details"] = e.details()
        q.put(None)
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "chat":
        chat(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif sys.argv[1] == "leak":
        leak(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        call(sys.argv[2], sys.argv[3], sys.argv[4:])
