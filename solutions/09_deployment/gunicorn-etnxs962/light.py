
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b'{"pid":%d}' % os.getpid()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})
