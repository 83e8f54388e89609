"""A running server picks up FAQ edits without a restart; a broken edit keeps the last good
version serving and the problem is reported."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.app import WATCHER, create_app
from tests.conftest import send_text

pytestmark = pytest.mark.both_backends

KNOWLEDGE = Path(__file__).parent.parent / "knowledge"


@pytest.fixture
async def live(aiohttp_client, settings, tmp_path):
    kb_dir = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, kb_dir)
    client = await aiohttp_client(create_app(settings.with_overrides(knowledge_dir=str(kb_dir),
                                                                     knowledge_poll_seconds=0.05)))
    return client, kb_dir


async def wait_until(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_edit_is_served_without_restart(live):
    client, kb_dir = live
    path = kb_dir / "faq" / "pay.yaml"
    path.write_text(path.read_text("utf-8").replace("保存交钱的证据", "先把交钱的证据存好"), "utf-8")

    async def updated():
        return "先把交钱的证据存好" in await send_text(client, "押金不给退怎么办", openid=f"o{id(path)}")
    assert await wait_until(updated)
    assert client.app[WATCHER].reloads >= 1


async def test_broken_edit_keeps_last_good_version(live, caplog):
    client, kb_dir = live
    before = await send_text(client, "押金不给退怎么办", openid="o_before")
    path = kb_dir / "faq" / "pay.yaml"
    path.write_text(path.read_text("utf-8").replace("entries:", "entries: [oops", 1), "utf-8")
    watcher = client.app[WATCHER]

    async def noticed():
        return watcher.failures >= 1
    assert await wait_until(noticed)
    assert any(p.file == "faq/pay.yaml" for p in watcher.problems)
    assert any("still serving the last good version" in r.getMessage() for r in caplog.records)
    assert await send_text(client, "押金不给退怎么办", openid="o_after") == before
