"""OML Explorer: an indexer that follows the OML contracts into SQLite (indexer.py, db.py) and a web app
that shows models, hosts, slashes and provers from that database (web.py). See SPEC.md."""

from .db import ContractRow, EventRow, ExplorerDB

__all__ = ["ContractRow", "EventRow", "ExplorerDB"]
