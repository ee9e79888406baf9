"""A data folder in a database (issue 6, ADR-009 `BASIS_DATA_MODE=db`).

`load_folder(folder, url)` loads every file of a data folder (SQLite by default, PostgreSQL or
any SQLAlchemy URL); `DatabaseData(url)` reads the active load back as a data root, with the
same readers and so the same results as the folder.
"""

from basis_strategy.core.database import mask_url
from basis_strategy.data.db.load import LoadReport, load_folder
from basis_strategy.data.db.read import DatabaseData
from basis_strategy.defaults import DEFAULT_DATA_DB_URL

__all__ = ["DEFAULT_DATA_DB_URL", "DatabaseData", "LoadReport", "load_folder", "mask_url"]
