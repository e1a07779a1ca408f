"""The resource ledger: start a task only when some node has room for all it requests.

Pure core: :mod:`.quantity` (integer resource vectors), :mod:`.demand` (a pod's effective
requests and placement), :mod:`.node` and :mod:`.quota` (parsed API objects),
:mod:`.eligibility` (the scheduler's node filters) and :mod:`.admission` (the plan of one
pass). State: :mod:`.ledger` (the one locked cache) and :mod:`.snapshot` (its immutable
picture per pass). I/O: :mod:`.watch` (list+watch loops feeding the ledger).
See docs/resource-ledger.md.
"""

from kaapana_executor.ledger.admission import Plan, Policy, Waiting, plan
from kaapana_executor.ledger.demand import Demand, Placement
from kaapana_executor.ledger.ledger import Ledger
from kaapana_executor.ledger.snapshot import NodeState, QuotaState, Snapshot
from kaapana_executor.ledger.vector import ResourceVector
from kaapana_executor.ledger.watch import LedgerWatcher

__all__ = [
    "Demand",
    "Ledger",
    "LedgerWatcher",
    "NodeState",
    "Placement",
    "Plan",
    "Policy",
    "QuotaState",
    "ResourceVector",
    "Snapshot",
    "Waiting",
    "plan",
]
