from runtime.migration_env import run
from services.panel.adapters.store import Base

run(Base.metadata)
