"""SQLite storage through sqlite-utils: schema, migrations and the functions the rest calls.
No SQL lives anywhere else."""
from storage.schema import web_visitor_id
from storage.store import AsyncStore, Store

__all__ = ["Store", "AsyncStore", "web_visitor_id"]
