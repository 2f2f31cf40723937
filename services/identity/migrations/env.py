from runtime.migration_env import run
from services.identity.adapters.store import Base

run(Base.metadata)
