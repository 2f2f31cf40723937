from runtime.migration_env import run
from services.panel.adapters import directory, maintenance  # noqa: F401 (their tables belong to the metadata)
from services.panel.adapters.store import Base

run(Base.metadata)
