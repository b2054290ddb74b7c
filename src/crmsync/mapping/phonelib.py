"""``phonenumbers``, imported when a phone is first parsed rather than when the transforms register.

Importing phonenumbers costs about a tenth of a run that has nothing to do (issue 18), and every
run registers the transforms. Registering needs only the list of supported regions (the phone
transform's ``default_region`` enum); phonenumbers ships one metadata module per region
(``phonenumbers/data/region_XX.py``), so the list is read from those file names without importing
the package. Any other attribute imports phonenumbers and from then on is a plain attribute lookup.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

_MODULE = "phonenumbers"


def _regions_from_files() -> frozenset[str] | None:
    spec = importlib.util.find_spec(_MODULE)  # a top-level spec: finding it does not import the package
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        names = [p.name for p in (Path(folder) / "data").glob("region_*.py")]
        regions = frozenset(n[len("region_"):-len(".py")] for n in names)
        regions = frozenset(r for r in regions if r.isalpha())  # region_800.py etc. are non-geographic codes
        if regions:
            return regions
    return None


class _LazyPhonenumbers:
    """Stands in for the ``phonenumbers`` module; its attributes are the module's."""

    _loaded = False

    @property
    def SUPPORTED_REGIONS(self) -> frozenset[str] | set[str]:  # noqa: N802 (the module's own name)
        if self._loaded:
            return self.__dict__["SUPPORTED_REGIONS"]
        regions = _regions_from_files()
        return regions if regions is not None else self._load().SUPPORTED_REGIONS

    def _load(self) -> Any:
        module = importlib.import_module(_MODULE)
        # Copied once: later lookups hit the instance dict, as fast as the module's own attributes.
        self.__dict__.update({k: v for k, v in vars(module).items() if k != "SUPPORTED_REGIONS"})
        self.__dict__["SUPPORTED_REGIONS"] = module.SUPPORTED_REGIONS
        self._loaded = True
        return module

    def __getattr__(self, name: str) -> Any:  # called only for names not yet copied
        if self._loaded:
            raise AttributeError(f"module {_MODULE!r} has no attribute {name!r}")
        return getattr(self._load(), name)


phonenumbers: Any = _LazyPhonenumbers()
