from runtime.migration_env import run
from services.configurator.adapters.store import Base

run(Base.metadata)
