"""The contract's generated bindings (componentize-py names them `wit_world`).

Inside a component, componentize-py generates them while building. In CPython (tests,
editors) they come from `componentize-py -d wit -w call-policy bindings DIR` on
`sys.path`; those are stubs whose imports raise `NotImplementedError`, so tests replace
`wit_world.imports.log.log`.
"""

import wit_world
from componentize_py_types import Err
from wit_world.imports import log as host_log
from wit_world.imports import types

__all__ = ["Err", "host_log", "types", "wit_world"]
