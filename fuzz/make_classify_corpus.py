#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_classify_reply (fuzz/corpus/fuzz_classify_reply/).

Each seed is a real-looking SerpWow reply (or transport failure) in the
harness's input layout (see the header of fuzz_classify_reply.cc):
  2 bytes status selector, 1 byte flags, 1 byte Retry-After length + value,
  2 bytes marker position, then the body.
Re-run after changing the layout: python3 fuzz/make_classify_corpus.py
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_classify_reply")

SEEN = {"unknown": 0, "idle": 1, "queued": 2, "running": 3}
TRANSPORT = ["resolve", "connect", "tls", "connection_lost", "timeout", "body_too_large",
             "bad_reply", "cancelled", "other", "headers_too_large"]
MARKER_AT = "@M@"  # where the marker goes; removed from the body


def seed(name, status, body=b"", seen="unknown", callers_deadline=False, batch_id=0,
         retry_after=b"", transport=None):
    if isinstance(body, str):
        body = body.encode("utf-8")
    if transport is not None:
        selector = 500 + TRANSPORT.index(transport)
    else:
        assert 100 <= status <= 599
        selector = status - 100
    marker = body.find(MARKER_AT.encode())
    if marker >= 0:
        body = body.replace(MARKER_AT.encode(), b"", 1)
    flags = SEEN[seen] | (4 if callers_deadline else 0) | (batch_id << 3) | (0x20 if marker >= 0 else 0)
    data = struct.pack(">HBB", selector, flags, len(retry_after)) + retry_after
    data += struct.pack(">H", max(marker, 0)) + body
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def envelope(success, message=None, extra=""):
    msg = "" if message is None else ',"message":"%s"' % message
    return '{"request_info":{"success":%s%s}%s}' % ("true" if success else "false", msg, extra)


BATCH = ('"batch":{"id":"9E867FAA","name":"My Batch","enabled":true,"status":"%s",'
         '"searches_total_count":250,"searches_page_count":3,"schedule_type":"manual",'
         '"priority":"normal","notification_as_json":true,"last_run":"2024-03-01T10:00:00.000Z",'
         '"next_result_set_id":2,"results_count":1,"searches_type":"mixed"}')


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))

    # 2xx
    seed("stop_ok", 200, envelope(True, "Batch @M@stopped"), seen="queued")
    seed("stop_ok_refund_top", 200, envelope(True, "Batch stopped", ',"credits_refunded":true'),
         seen="running")
    seed("stop_ok_refund_nested", 200,
         '{"request_info":{"success":true,"message":"Batch stopped","refunded":250}}')
    seed("stop_ok_refund_string", 200, envelope(True, "ok", ',"credits_refunded":"yes","refunded":0'))
    seed("stop_ok_escapes", 200,
         envelope(True, "Batch\\u001b[31m stopped\\r\\n\\t\\u0000 done \\u00e9\\ud83d\\ude00 x"))
    seed("stop_ok_long", 200, envelope(True, "Batch stopped. " + "x" * 300 + "@M@"))
    seed("stop_ok_long_utf8", 200, envelope(True, "\u00e9" * 200 + "!"))
    seed("stop_ok_no_message", 200, '{"request_info":{"success":true,"credits_used":1}}')
    seed("stop_ok_message_number", 200, '{"request_info":{"success":true,"message":42}}')
    seed("stop_ok_url_in_message", 200,
         envelope(True, "see https://api.serpwow.com/live/batches?api_key=@M@ for details"))
    seed("stop_201_ok", 201, envelope(True, "Batch stopped"))
    seed("read_queued", 200, envelope(True, extra="," + BATCH % "queued"))
    seed("read_running", 200, envelope(True, extra="," + BATCH % "running"), batch_id=2)
    seed("read_idle", 200, envelope(True, extra="," + BATCH % "idle"))
    seed("read_upper", 200, envelope(True, extra="," + BATCH % "QUEUED"))
    seed("read_unknown_status", 200, envelope(True, extra="," + BATCH % "paused@M@"))
    seed("read_status_number", 200, envelope(True, extra=',"batch":{"status":1}'))
    seed("ok_204_empty", 204, "")
    seed("ok_200_empty", 200, "")
    seed("ok_200_html", 200, "<!DOCTYPE html><html><body>@M@Welcome to nginx!</body></html>")
    seed("ok_200_array", 200, "[1,2,3]")
    seed("ok_200_success_string", 200, '{"request_info":{"success":"true"}}')
    seed("ok_200_success_false_unknown", 200, envelope(False, "Something @M@happened"))
    seed("ok_200_request_info_array", 200, '{"request_info":[{"success":true}]}')

    # Refusals
    seed("idle_refusal_400", 400,
         envelope(False, "Batch is not currently queued or running, so it cannot be stopped"),
         seen="idle")
    seed("idle_refusal_200", 200,
         envelope(False, "Batch is not currently queued or running@M@"), seen="idle")
    seed("idle_refusal_409_unknown_words", 409, envelope(False, "Nope@M@"), seen="idle")
    seed("idle_refusal_422_seen_running", 422, envelope(False, "Unprocessable"), seen="running")
    seed("not_found_404", 404,
         envelope(False, "Batch with ID '9E867FAA' was not found"), seen="unknown")
    seed("not_found_200", 200, envelope(False, "No batch with that id @M@exists"))
    seed("not_found_400_does_not_exist", 400, envelope(False, "Batch does not exist"))
    seed("not_found_404_empty", 404, "")
    seed("route_404_html", 404,
         "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found@M@"
         "</h1></center><hr><center>nginx</center></body></html>\r\n")
    seed("route_404_text", 404, "Cannot GET /batches/9E867FAA/stop")
    seed("auth_401", 401, envelope(False, "Supplied api_key '@M@' is not valid"))
    seed("credits_402", 402, envelope(False, "Out of credits: https://app.serpwow.com/@M@"))
    seed("rate_429_header", 429, envelope(False, "Too many requests"), retry_after=b"120")
    seed("rate_429_date", 429, "", retry_after=b"Wed, 21 Oct 2015 07:28:00 GMT")
    seed("rate_429_future_date", 429, "", retry_after=b"Fri, 31 Dec 9999 23:59:59 GMT")
    seed("rate_429_body", 429, '{"retry_after": 12, "message":"slow down@M@"}')
    seed("rate_429_body_nested", 429, '{"request_info":{"success":false,"retry_after":"30"}}')
    seed("rate_429_body_huge", 429, '{"retry_after": 1.7976931348623157e308}')
    seed("rate_429_body_negative", 429, '{"retry_after": -5}', retry_after=b"-1")
    seed("forbidden_403", 403, envelope(False, "Forbidden @M@"))
    seed("gone_410", 410, "Gone")
    seed("unavailable_503_html", 503,
         "<html><body><h1>503 Service Temporarily Unavailable</h1>@M@</body></html>",
         retry_after=b"  3600 ")
    seed("unavailable_503_incident", 503, '{"message":"parsing incident","retry_after":3600}')
    seed("bad_gateway_502", 502, "<html>502 Bad Gateway</html>")
    seed("timeout_504", 504, "", retry_after=b"Sun, 06 Nov 1994 08:49:37 GMT")
    seed("server_500_json", 500, envelope(False, "Internal error@M@"))
    seed("http_505", 505, "HTTP Version Not Supported")
    seed("http_599", 599, "")
    seed("http_100", 100, "")
    seed("redirect_301", 301,
         '<html><a href="https://api.serpwow.com/live/batches/9E867FAA/stop?api_key=@M@">moved</a>')
    seed("redirect_302_not_found", 302, envelope(False, "not found"))

    # Malformed bodies
    seed("truncated_json", 200, '{"request_info":{"success":tr')
    seed("truncated_string", 400, '{"request_info":{"success":false,"message":"Batch is not curr')
    seed("deep_arrays", 200, "[" * 10000)
    seed("deep_objects", 400, '{"a":' * 3000 + "1" + "}" * 3000)
    seed("huge_numbers", 200,
         '{"request_info":{"success":true},"credits_refunded":1e308,'
         '"refunded":123456789012345678901234567890,"retry_after":-0.0}')
    seed("number_overflow", 429, '{"retry_after": 1e400}')
    seed("invalid_utf8_body", 200, b"\xff\xfe{\"request_info\":{\"success\":true}}")
    seed("invalid_utf8_message", 200, b"{\"request_info\":{\"success\":true,\"message\":\"\xc3\x28\"}}")
    seed("nul_in_body", 400, b"{\"request_info\":{\"success\":false,\"message\":\"a\x00b\"}}")
    seed("bom_json", 200, "\ufeff" + envelope(True, "Batch stopped"))
    seed("duplicate_keys", 200,
         '{"request_info":{"success":false,"success":true,"message":"dup"},"request_info":1}')

    # Transport failures
    for t in TRANSPORT:
        seed("transport_" + t, 0, "", transport=t, batch_id=1)
    seed("transport_timeout_callers_deadline", 0, "", transport="timeout", callers_deadline=True)


if __name__ == "__main__":
    main()
