"""The peer: a WeRoBot robot with a one-line text handler, as in WeRoBot's own Hello World.

Served the way WeRoBot's deployment docs recommend: gunicorn with `robot.wsgi` (one sync
worker, gunicorn's default), started by bench/run.py. Gunicorn since 20.1 no longer takes the
docs' dotted `robot:robot.wsgi`, hence the `application` name below. Everything else is
WeRoBot's defaults, which
include its SQLite session store (a read and a write per message, in the working folder);
BENCH_WEROBOT_SESSION=0 turns it off for the second, lighter row.
"""
import os

import werobot

robot = werobot.WeRoBot(token=os.environ["BENCH_TOKEN"])
if os.environ.get("BENCH_WEROBOT_SESSION") == "0":
    robot.config["SESSION_STORAGE"] = False


@robot.text
def hello(message):
    return "收到"


application = robot.wsgi
