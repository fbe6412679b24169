"""`docs/parity.md` is what `docs/gen_parity.py` writes from the code (`make parity` fixes it).

The generator is a script, not a package module, so it is loaded from its path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

GENERATOR = Path(__file__).resolve().parent.parent / "docs" / "gen_parity.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    loaded = sys.modules.get("gen_parity")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("gen_parity", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_parity_doc_is_what_the_generator_writes(generator, capsys):
    stale = generator.main(["--check"])
    assert stale == 0, "docs/parity.md is stale: run `make parity`\n" + capsys.readouterr().out


def test_check_shows_the_diff_of_a_stale_file_and_a_write_fixes_it(
    generator, tmp_path, monkeypatch, capsys
):
    current = generator.OUTPUT.read_text()
    output = tmp_path / "parity.md"
    output.write_text(current.replace("| FIX | codec:", "| FIX | kodek:"))
    monkeypatch.setattr(generator, "OUTPUT", output)

    assert generator.main(["--check"]) == 1
    captured = capsys.readouterr()
    assert "-| FIX | kodek:" in captured.out and "+| FIX | codec:" in captured.out
    assert "make parity" in captured.err

    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
    assert output.read_text() == current
