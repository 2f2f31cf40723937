from runtime.migration_env import run
from services.orchestrator.adapters.store import Base

run(Base.metadata)
