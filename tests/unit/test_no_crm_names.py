"""The engine knows no CRM by name: CRM facts live in connectors/, mappings/ and fakes/ (issue 15).

Every identifier and string of src/crmsync outside src/crmsync/fakes/ is searched for a CRM's name
(amocrm, kommo, bitrix, hubspot; any case). Comments and docstrings may name a CRM as an example of
why code is as it is, but their number only goes down: DOC_MENTIONS is a ceiling to lower, never raise.
The allowlist names files whose identifiers or strings still name a CRM, each with the reason; it
shrinks to nothing, and an entry whose file no longer needs it fails too, so it is removed.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "src" / "crmsync"
NAMES = re.compile(r"amocrm|kommo|bitrix|hubspot", re.IGNORECASE)

# file (relative to src/crmsync) -> why it still names a CRM in code. Shrinks to nothing.
ALLOWED: dict[str, str] = {
    "cli/fake_crm.py": "the fakes' command: per-fake options and help (belongs with fakes/)",
    "demo.py": "the demo drives the shipped fakes by name (belongs with fakes/)",
    "cli/init.py": "the scaffold's epilog names the shipped connectors (docs)",
}
DOC_MENTIONS = 31  # comments and docstrings that name a CRM: lower it as they go, never raise it


def _mentions(path: Path) -> tuple[list[str], list[str]]:
    """(code hits, comment/docstring hits) of one file, as "line: token"."""
    text = path.read_text(encoding="utf-8")
    docs = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                docs.add(first.lineno)
    code, prose = [], []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if not NAMES.search(tok.string):
            continue
        hit = f"{tok.start[0]}: {tok.string.strip()[:80]}"
        is_doc = tok.type == tokenize.STRING and tok.start[0] in docs
        (prose if tok.type == tokenize.COMMENT or is_doc else code).append(hit)
    return code, prose


def _engine_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "fakes" not in p.relative_to(ROOT).parts)


def test_engine_code_names_no_crm() -> None:
    found = {}
    for path in _engine_files():
        code, _ = _mentions(path)
        rel = path.relative_to(ROOT).as_posix()
        if code and rel not in ALLOWED:
            found[rel] = code
    assert not found, "engine code names a CRM (put the fact in connectors/, mappings/ or fakes/):\n" + "\n".join(
        f"  src/crmsync/{f}:{h}" for f, hits in found.items() for h in hits)


def test_the_allowlist_only_holds_files_that_still_need_it() -> None:
    stale = [rel for rel in ALLOWED if not (ROOT / rel).exists() or not _mentions(ROOT / rel)[0]]
    assert not stale, f"no longer naming a CRM in code, remove from ALLOWED: {stale}"


def test_comments_and_docstrings_naming_a_crm_only_get_fewer() -> None:
    prose = [f"src/crmsync/{p.relative_to(ROOT).as_posix()}:{h}" for p in _engine_files() for h in _mentions(p)[1]]
    assert len(prose) <= DOC_MENTIONS, (f"{len(prose)} comments/docstrings name a CRM, more than {DOC_MENTIONS}; "
                                        "say it without the name:\n" + "\n".join(prose))
