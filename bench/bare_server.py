"""The floor for the webhook benchmark: an aiohttp app on the same kind of setup as gigdesk
(one process, web.run_app, no access log) whose handler reads the body and returns a fixed
passive-reply XML. Whatever gigdesk does per message (verify, parse, dedupe, store, classify,
reply) is the difference between the two.

    python bench/bare_server.py --port 8702
"""
from __future__ import annotations

import argparse

from aiohttp import web

REPLY = ("<xml><ToUserName><![CDATA[rider]]></ToUserName><FromUserName><![CDATA[gh_union]]></FromUserName>"
         "<CreateTime>0</CreateTime><MsgType><![CDATA[text]]></MsgType>"
         "<Content><![CDATA[收到]]></Content></xml>")


async def receive(request: web.Request) -> web.Response:
    await request.read()  # the body is read, as any real handler must
    return web.Response(text=REPLY, content_type="application/xml")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8702)
    args = p.parse_args()
    app = web.Application()
    app.router.add_post("/wechat", receive)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
