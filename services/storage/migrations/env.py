from runtime.migration_env import run
from services.storage.adapters.store import Base

run(Base.metadata)
