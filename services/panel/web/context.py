"""Everything the routes need, built once by the composition root (real or fake adapters)."""

from dataclasses import dataclass, field

from contracts.documents import configuration_schema
from runtime.uow import UnitsOfWork

from ..adapters.audit import Auditor, LogAuditor
from ..adapters.bus import BusWatch, Directory, Fleet, NoBusWatch, NoDirectory, NoFleet, Planner, Trail, Vault
from ..domain.form import Group, groups
from ..live import Changes
from ..settings import Settings


@dataclass
class Context:
    units: UnitsOfWork
    settings: Settings
    planner: Planner
    vault: Vault
    trail: Trail
    changes: Changes = field(default_factory=Changes)
    form: tuple[Group, ...] = field(default_factory=lambda: groups(configuration_schema()))
    fleet: Fleet = field(default_factory=NoFleet)
    auditor: Auditor = field(default_factory=LogAuditor)
    watch: BusWatch = field(default_factory=NoBusWatch)
    directory: Directory = field(default_factory=NoDirectory)
